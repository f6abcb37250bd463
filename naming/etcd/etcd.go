package etcd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/troupe-rpc/troupe/naming"
	"github.com/troupe-rpc/troupe/wire"
)

// DefaultDialTimeout is the default of [Options.DialTimeout].
const DefaultDialTimeout = 2 * time.Second

// Options configures how the etcd:// scheme made by [Scheme], and [Register], reach etcd. The
// zero value (or nil) gives the defaults: plain TCP, no authentication.
type Options struct {
	// DialTimeout bounds each attempt to reach etcd and read the list. 0: DefaultDialTimeout (2s).
	DialTimeout time.Duration
	// Logger receives etcd outages, skipped entries and the etcd client's own messages. nil: the
	// Logger of the [naming.Options] the scheme's Builder receives (a channel's System logger when
	// the scheme is one of actors.ChannelOptions.NamingSchemes); for Register, nothing.
	Logger *slog.Logger
	// TLS, when set, makes the client speak TLS to etcd (etcd serving https client URLs): its
	// RootCAs verify etcd's certificate, and its Certificates are presented when etcd asks for a
	// client's (--client-cert-auth). nil: plain TCP.
	TLS *tls.Config
	// Username and Password authenticate to an etcd with authentication enabled. A Password
	// without a Username is an error.
	Username, Password string
}

// dial is what a client needs to reach etcd, from Options.
type dial struct {
	timeout            time.Duration
	tls                *tls.Config
	username, password string
}

// dial checks o and returns how to reach etcd; what names its defect when it has one.
func (o *Options) dial(what string) (dial, error) {
	if o.DialTimeout < 0 {
		return dial{}, fmt.Errorf("naming/etcd: %s Options.DialTimeout = %v, want > 0 (or 0 for %v)",
			what, o.DialTimeout, DefaultDialTimeout)
	}
	if o.Password != "" && o.Username == "" {
		return dial{}, fmt.Errorf("naming/etcd: %s Options.Password is set without a Username", what)
	}
	d := dial{timeout: o.DialTimeout, tls: o.TLS, username: o.Username, password: o.Password}
	if d.timeout == 0 {
		d.timeout = DefaultDialTimeout
	}
	return d, nil
}

// Scheme returns the [naming.Builder] of etcd://host:port[,host:port…]/prefix, to be passed to
// naming under the scheme name "etcd":
//
//	naming.New(url, &naming.Options{Schemes: map[string]naming.Builder{"etcd": etcd.Scheme(nil)}})
//
// The Builder checks opts (a negative DialTimeout is an error naming it), the endpoints and the
// prefix; it neither connects nor reads anything: [naming.Service.Watch] does. Each Builder is a
// value of its own: Scheme keeps no state between calls.
func Scheme(opts *Options) naming.Builder {
	var o Options
	if opts != nil {
		o = *opts
	}
	return func(target string, nopts *naming.Options) (naming.Service, error) {
		d, err := o.dial("etcd://" + target)
		if err != nil {
			return nil, err
		}
		log := o.Logger
		if log == nil && nopts != nil {
			log = nopts.Logger
		}
		return newService(target, d, orDiscard(log))
	}
}

// Backoff between attempts of etcd:// to reach etcd again.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// service is etcd://host:port[,host:port…]/prefix: the entries stored as the values of the keys
// under "/prefix/", pushed by an etcd watch.
type service struct {
	endpoints []string
	prefix    string // "/prefix/"
	dial      dial
	log       *slog.Logger
}

func newService(target string, d dial, log *slog.Logger) (*service, error) {
	hosts, prefix, _ := strings.Cut(target, "/")
	endpoints, err := parseEndpoints(strings.Split(hosts, ","))
	if err != nil {
		return nil, fmt.Errorf("naming/etcd: etcd://%s: %w", target, err)
	}
	if strings.Trim(prefix, "/") == "" {
		return nil, fmt.Errorf("naming/etcd: etcd://%s has no key prefix (want etcd://host:port/prefix)", target)
	}
	return &service{endpoints: endpoints, prefix: keyPrefix(prefix) + "/", dial: d, log: log}, nil
}

// parseEndpoints checks the "host:port" of each etcd server and returns them canonical.
func parseEndpoints(hosts []string) ([]string, error) {
	var out []string
	for _, h := range hosts {
		ep, err := wire.ParseEndpoint(h)
		if err != nil {
			return nil, err
		}
		out = append(out, ep.String())
	}
	if len(out) == 0 {
		return nil, errors.New("no etcd endpoint")
	}
	return out, nil
}

// keyPrefix returns prefix with one leading '/' and no trailing one: "a/b/" ⇒ "/a/b".
func keyPrefix(prefix string) string {
	return "/" + strings.Trim(prefix, "/")
}

// newClient returns a client of endpoints that logs to log. It does not wait for a connection:
// the first request does (with a Username, the first request authenticates).
func newClient(endpoints []string, d dial, log *slog.Logger) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: d.timeout,
		TLS:         d.tls,
		Username:    d.username,
		Password:    d.password,
		Logger:      zapToSlog(log),
	})
}

// orDiscard returns log, or a logger that drops everything when log is nil.
func orDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}

// Watch reads the keys under the prefix, reports their list, and then reports the full list
// after each batch of changes etcd pushes. When etcd cannot be reached or the watch breaks, it
// keeps the last list (the first failure reports an empty one, so that whoever waits for a first
// list is not kept waiting) and tries again after a backoff growing from 100ms to 2s.
func (s *service) Watch(ctx context.Context, update func([]naming.ServerNode)) error {
	cli, err := newClient(s.endpoints, s.dial, s.log)
	if err != nil {
		return fmt.Errorf("naming/etcd: etcd client for %v: %w", s.endpoints, err)
	}
	defer cli.Close()
	w := watch{service: s, cli: cli, report: naming.OnChange(update)}
	backoff, failing := minBackoff, false
	for {
		err := w.session(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if w.progressed {
			backoff, failing = minBackoff, false
		}
		if !failing {
			s.log.Warn("naming: etcd unreachable or watch broken, keeping the last list",
				"endpoints", s.endpoints, "prefix", s.prefix, "err", err)
			failing = true
		}
		if !w.reported {
			w.publish(nil) // a first, empty list, so that a channel does not wait through the outage
		}
		if !sleep(ctx, backoff) {
			return ctx.Err()
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// watch is the state of one Watch of an etcd prefix.
type watch struct {
	*service
	cli        *clientv3.Client
	report     func([]naming.ServerNode) // passes on the lists that changed
	progressed bool                      // the last session read the list before it failed
	reported   bool                      // a list was published
}

// publish reports list if it differs from the last one.
func (w *watch) publish(list []naming.ServerNode) {
	w.reported = true
	w.report(list)
}

// session reads the list, reports it, and follows the changes until the watch fails.
func (w *watch) session(ctx context.Context) error {
	w.progressed = false
	gctx, cancel := context.WithTimeout(ctx, w.dial.timeout)
	resp, err := w.cli.Get(gctx, w.prefix, clientv3.WithPrefix())
	cancel()
	if err != nil {
		return err
	}
	w.progressed = true
	values := make(map[string]string, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		values[string(kv.Key)] = string(kv.Value)
	}
	w.publish(w.parse(values))
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for wr := range w.cli.Watch(wctx, w.prefix, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1)) {
		if err := wr.Err(); err != nil {
			return err
		}
		for _, ev := range wr.Events {
			if ev.Type == clientv3.EventTypeDelete {
				delete(values, string(ev.Kv.Key))
			} else {
				values[string(ev.Kv.Key)] = string(ev.Kv.Value)
			}
		}
		w.publish(w.parse(values))
	}
	return errors.New("etcd watch channel closed")
}

// parse returns the entries of the values in key order, without duplicates. A skipped entry is
// logged with its key and line ("etcd key /prefix/a:1").
func (w *watch) parse(values map[string]string) []naming.ServerNode {
	seen := map[naming.ServerNode]bool{}
	nodes := []naming.ServerNode{}
	for _, k := range slices.Sorted(maps.Keys(values)) {
		for _, n := range naming.ParseEntries("etcd key "+k, values[k], w.log) {
			if !seen[n] {
				seen[n] = true
				nodes = append(nodes, n)
			}
		}
	}
	return nodes
}

// sleep waits for d or until ctx ends, and reports whether the whole of d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
