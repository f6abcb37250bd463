package naming_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/troupe-rpc/troupe/naming"
)

func TestParseEntries(t *testing.T) {
	tests := []struct {
		name, text string
		want       []naming.ServerNode
		warn       string // "" or a text the log must contain
	}{
		{"empty", "", nodes(), ""},
		{"blank and comment lines", "\n   \n# a comment\n\t# another\n", nodes(), ""},
		{"one per line", "127.0.0.1:8000\n127.0.0.1:8001\n", nodes("127.0.0.1:8000", "127.0.0.1:8001"), ""},
		{"leading blanks", "  \t127.0.0.1:8000", nodes("127.0.0.1:8000"), ""},
		{"tag", "127.0.0.1:8000 tag1", nodes("127.0.0.1:8000 tag1"), ""},
		{"tag with inner spaces", "127.0.0.1:8000   a b  c  ", nodes("127.0.0.1:8000 a b  c"), ""},
		{"comment after tag", "127.0.0.1:8000 tag1  # a comment", nodes("127.0.0.1:8000 tag1"), ""},
		{"comment without tag", "127.0.0.1:8000 # a comment", nodes("127.0.0.1:8000"), ""},
		{"tab before tag", "127.0.0.1:8000\ttag1", nodes("127.0.0.1:8000 tag1"), ""},
		{"CRLF", "127.0.0.1:8000 t\r\n127.0.0.1:8001\r\n", nodes("127.0.0.1:8000 t", "127.0.0.1:8001"), ""},
		{"IPv6", "[::1]:80 tag", nodes("[::1]:80 tag"), ""},
		{"host name", "localhost:9000", nodes("localhost:9000"), ""},
		{"same address, other tags", "127.0.0.1:8000 tag1\n127.0.0.1:8000 tag2",
			nodes("127.0.0.1:8000 tag1", "127.0.0.1:8000 tag2"), ""},
		{"duplicates dropped, first kept", "127.0.0.1:2\n127.0.0.1:1\n127.0.0.1:2\n127.0.0.1:1 x\n127.0.0.1:1",
			nodes("127.0.0.1:2", "127.0.0.1:1", "127.0.0.1:1 x"), ""},
		{"weight from numeric tag", "127.0.0.1:1 50\n127.0.0.1:2 0\n127.0.0.1:3 -5\n127.0.0.1:4 5x",
			[]naming.ServerNode{{Addr: "127.0.0.1:1", Tag: "50", Weight: 50}, {Addr: "127.0.0.1:2", Tag: "0"},
				{Addr: "127.0.0.1:3", Tag: "-5"}, {Addr: "127.0.0.1:4", Tag: "5x"}}, ""},
		{"invalid address skipped", "127.0.0.1:8000\n# ok\n10.39.2.300:8000 tag\n127.0.0.1:8001",
			nodes("127.0.0.1:8000", "127.0.0.1:8001"), "file.txt:3"},
		{"junk after port", "127.0.0.1:80:x", nodes(), "file.txt:1"},
		{"no port", "127.0.0.1", nodes(), "file.txt:1"},
		{"comment glued to address", "127.0.0.1:80#c", nodes(), "file.txt:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log, buf := newLog()
			got := naming.ParseEntries("file.txt", tt.text, log)
			if !slices.Equal(got, tt.want) {
				t.Errorf("ParseEntries(%q) = %v, want %v", tt.text, got, tt.want)
			}
			logs := buf.String()
			if tt.warn == "" && logs != "" {
				t.Errorf("ParseEntries(%q) logged %q, want nothing", tt.text, logs)
			}
			if tt.warn != "" && (!strings.Contains(logs, tt.warn) || !strings.Contains(logs, "level=WARN")) {
				t.Errorf("ParseEntries(%q) logged %q, want a warning containing %q", tt.text, logs, tt.warn)
			}
		})
	}
}

func TestParseEntriesNilLogger(t *testing.T) {
	got := naming.ParseEntries("x", "bad\n127.0.0.1:1", nil)
	if want := nodes("127.0.0.1:1"); !slices.Equal(got, want) {
		t.Errorf("ParseEntries(nil logger) = %v, want %v", got, want)
	}
}

func TestParseEntriesThousand(t *testing.T) {
	var b strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&b, "10.0.%d.%d:%d tag%d\n", i/250, i%250, 8000+i, i%7)
	}
	got := naming.ParseEntries("big", b.String(), nil)
	if len(got) != 1000 || got[999].Addr != "10.0.3.249:8999" {
		t.Errorf("ParseEntries(1000 lines) = %d servers, last %v, want 1000, last 10.0.3.249:8999", len(got), got[len(got)-1])
	}
}
