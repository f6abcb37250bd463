package naming

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/troupe-rpc/troupe/wire"
)

// dnsService is http://host[:port][/path] and https://…: every address of host, resolved again
// every interval.
type dnsService struct {
	ep       wire.Endpoint // the host as written, and the port (default 80 or 443)
	interval time.Duration
	resolver *net.Resolver
	log      *slog.Logger
}

func newHTTP(target string, opts *Options) (Service, error)  { return newDNS(target, "80", opts) }
func newHTTPS(target string, opts *Options) (Service, error) { return newDNS(target, "443", opts) }

// newDNS parses "host[:port][/path]"; the path is ignored and the port defaults to defPort.
func newDNS(target, defPort string, opts *Options) (Service, error) {
	hostport, _, _ := strings.Cut(target, "/")
	ep, err := wire.ParseEndpoint(hostport)
	if err != nil {
		ep, err = wire.ParseEndpoint(hostport + ":" + defPort)
	}
	if err != nil {
		return nil, fmt.Errorf("naming: bad host in %q: %w", target, err)
	}
	return &dnsService{ep: ep, interval: opts.DNSInterval, resolver: opts.Resolver, log: opts.Logger}, nil
}

// Watch resolves the host, reports its addresses sorted, and resolves again every interval. A
// failed lookup keeps the last list, except the first, which reports an empty list so that
// whoever waits for a first list is not kept waiting.
func (s *dnsService) Watch(ctx context.Context, update func([]ServerNode)) error {
	r := reporter{update: update}
	for {
		nodes, err := s.resolve(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			s.log.Warn("naming: cannot resolve the host, keeping the last list", "host", s.ep.Host, "err", err)
			if !r.sent {
				r.report(nil)
			}
		} else {
			r.report(nodes)
		}
		if !sleep(ctx, s.interval) {
			return ctx.Err()
		}
	}
}

// resolve returns one server per address of the host, sorted.
func (s *dnsService) resolve(ctx context.Context) ([]ServerNode, error) {
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(s.ep.Host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		ctx, cancel := context.WithTimeout(ctx, max(s.interval, time.Second))
		defer cancel()
		if addrs, err = s.resolver.LookupNetIP(ctx, "ip", s.ep.Host); err != nil {
			return nil, err
		}
	}
	for i, a := range addrs {
		addrs[i] = a.Unmap()
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	addrs = slices.Compact(addrs)
	nodes := make([]ServerNode, len(addrs))
	for i, a := range addrs {
		nodes[i] = ServerNode{Addr: wire.Endpoint{Host: a.String(), Port: s.ep.Port}.String()}
	}
	return nodes, nil
}
