package naming

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/troupe-rpc/troupe/wire"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Backoff between attempts of etcd:// to reach etcd again.
const (
	etcdMinBackoff = 100 * time.Millisecond
	etcdMaxBackoff = 2 * time.Second
)

// etcdService is etcd://host:port[,host:port…]/prefix: the entries stored as the values of the
// keys under "/prefix/", pushed by an etcd watch.
type etcdService struct {
	endpoints []string
	prefix    string // "/prefix/"
	timeout   time.Duration
	log       *slog.Logger
}

func newEtcd(target string, opts *Options) (Service, error) {
	hosts, prefix, _ := strings.Cut(target, "/")
	endpoints, err := etcdEndpoints(strings.Split(hosts, ","))
	if err != nil {
		return nil, fmt.Errorf("naming: etcd://%s: %w", target, err)
	}
	if strings.Trim(prefix, "/") == "" {
		return nil, fmt.Errorf("naming: etcd://%s has no key prefix (want etcd://host:port/prefix)", target)
	}
	return &etcdService{endpoints: endpoints, prefix: etcdPrefix(prefix) + "/",
		timeout: opts.EtcdDialTimeout, log: opts.Logger}, nil
}

// etcdEndpoints checks the "host:port" of each etcd server and returns them canonical.
func etcdEndpoints(hosts []string) ([]string, error) {
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

// etcdPrefix returns prefix with one leading '/' and no trailing one: "a/b/" ⇒ "/a/b".
func etcdPrefix(prefix string) string {
	return "/" + strings.Trim(prefix, "/")
}

// newEtcdClient returns a client of endpoints that logs to log. It does not wait for a
// connection: the first request does.
func newEtcdClient(endpoints []string, timeout time.Duration, log *slog.Logger) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: timeout,
		Logger:      zapToSlog(log),
	})
}

// Watch reads the keys under the prefix, reports their list, and then reports the full list
// after each batch of changes etcd pushes. When etcd cannot be reached or the watch breaks, it
// keeps the last list (the first failure reports an empty one, so that whoever waits for a first
// list is not kept waiting) and tries again after a backoff growing from 100ms to 2s.
func (s *etcdService) Watch(ctx context.Context, update func([]ServerNode)) error {
	cli, err := newEtcdClient(s.endpoints, s.timeout, s.log)
	if err != nil {
		return fmt.Errorf("naming: etcd client for %v: %w", s.endpoints, err)
	}
	defer cli.Close()
	w := etcdWatch{etcdService: s, cli: cli, r: reporter{update: update}}
	backoff, failing := etcdMinBackoff, false
	for {
		err := w.session(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if w.progressed {
			backoff, failing = etcdMinBackoff, false
		}
		if !failing {
			s.log.Warn("naming: etcd unreachable or watch broken, keeping the last list",
				"endpoints", s.endpoints, "prefix", s.prefix, "err", err)
			failing = true
		}
		if !w.r.sent {
			w.r.report(nil)
		}
		if !sleep(ctx, backoff) {
			return ctx.Err()
		}
		backoff = min(2*backoff, etcdMaxBackoff)
	}
}

// etcdWatch is the state of one Watch of an etcd prefix.
type etcdWatch struct {
	*etcdService
	cli        *clientv3.Client
	r          reporter
	progressed bool // the last session read the list before it failed
}

// session reads the list, reports it, and follows the changes until the watch fails.
func (w *etcdWatch) session(ctx context.Context) error {
	w.progressed = false
	gctx, cancel := context.WithTimeout(ctx, w.timeout)
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
	w.r.report(w.parse(values))
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
		w.r.report(w.parse(values))
	}
	return errors.New("etcd watch channel closed")
}

// parse returns the entries of the values in key order, without duplicates.
func (w *etcdWatch) parse(values map[string]string) []ServerNode {
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	p := entryParser{log: w.log, seen: map[ServerNode]bool{}, nodes: []ServerNode{}}
	for _, k := range keys {
		for i, line := range strings.Split(values[k], "\n") {
			p.add(fmt.Sprintf("etcd key %s:%d", k, i+1), line)
		}
	}
	return p.nodes
}
