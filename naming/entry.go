package naming

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/troupe-rpc/troupe/wire"
)

// ParseEntries parses text as brpc's server list, one entry per line:
//
//	<addr> [<tag>] [# comment]
//
// Leading blanks are skipped; blank lines and lines starting with '#' are ignored. The address
// runs up to the first blank and must be accepted by [wire.ParseEndpoint]; the tag is the rest of
// the line up to '#', with blanks trimmed at both ends (it may contain inner spaces). An entry
// with an invalid address is skipped and a warning naming src and the line ("servers.txt:3") goes
// to log (nil: nowhere). Duplicate (address, tag) entries are dropped, the first one kept in place.
// Addr is the canonical form ("[::1]:80"); a tag that is a positive integer is also the Weight.
func ParseEntries(src, text string, log *slog.Logger) []ServerNode {
	p := entryParser{log: orDiscard(log), seen: map[ServerNode]bool{}, nodes: []ServerNode{}}
	for i, line := range strings.Split(text, "\n") {
		p.add(fmt.Sprintf("%s:%d", src, i+1), line)
	}
	return p.nodes
}

// parseList parses the target of list://: entries separated by commas.
func parseList(target string, log *slog.Logger) []ServerNode {
	p := entryParser{log: orDiscard(log), seen: map[ServerNode]bool{}, nodes: []ServerNode{}}
	for i, entry := range strings.Split(target, ",") {
		p.add(fmt.Sprintf("list://%s (entry %d)", target, i+1), entry)
	}
	return p.nodes
}

// entryParser accumulates entries in order of first appearance, without duplicates.
type entryParser struct {
	log   *slog.Logger
	seen  map[ServerNode]bool
	nodes []ServerNode
}

// add parses one entry found at loc and appends it unless it is blank, a comment, invalid or a
// duplicate.
func (p *entryParser) add(loc, entry string) {
	addr, tag, ok := splitEntry(entry)
	if !ok {
		return
	}
	ep, err := wire.ParseEndpoint(addr)
	if err != nil {
		p.log.Warn("naming: skipped a server with an invalid address", "at", loc, "entry",
			strings.TrimSpace(entry), "err", err)
		return
	}
	node := ServerNode{Addr: ep.String(), Tag: tag, Weight: tagWeight(tag)}
	if p.seen[node] {
		return
	}
	p.seen[node] = true
	p.nodes = append(p.nodes, node)
}

// splitEntry splits "<addr> [<tag>] [# comment]" into its address and tag; ok is false for a
// blank or comment-only entry.
func splitEntry(entry string) (addr, tag string, ok bool) {
	entry = strings.TrimLeft(entry, blanks)
	if entry == "" || entry[0] == '#' {
		return "", "", false
	}
	addr, rest := entry, ""
	if i := strings.IndexAny(entry, blanks); i >= 0 {
		addr, rest = entry[:i], entry[i+1:]
	}
	rest, _, _ = strings.Cut(rest, "#")
	return addr, strings.Trim(rest, blanks), true
}

// blanks are the characters that separate an address from its tag (isspace in brpc).
const blanks = " \t\r\v\f"

// tagWeight returns the tag as a weight when it is a positive decimal integer, else 0.
func tagWeight(tag string) int {
	if tag == "" || strings.TrimLeft(tag, "0123456789") != "" {
		return 0
	}
	w, err := strconv.Atoi(tag)
	if err != nil || w <= 0 {
		return 0
	}
	return w
}

// orDiscard returns log, or a logger that drops everything when log is nil.
func orDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}
