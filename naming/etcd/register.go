package etcd

import (
	"context"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/troupe-rpc/troupe/naming"
	"github.com/troupe-rpc/troupe/wire"
)

// Registration is a server registered in etcd by [Register]. Its key lives as long as the
// lease the etcd client keeps alive: until Close, or until the process dies and the lease expires.
type Registration struct {
	key     string
	cli     *clientv3.Client
	session *concurrency.Session
}

// registerTimeout bounds Register when ctx has no deadline.
const registerTimeout = 5 * time.Second

// Register puts node under prefix in the etcd cluster at endpoints ("127.0.0.1:2379"), where
// an "etcd://host:port/prefix" naming service finds it. The key is "/prefix/<addr>" or
// "/prefix/<addr> <tag>" and its value the entry "<addr>[ <tag>]"; it is bound to a lease of ttl
// (rounded up to whole seconds; etcd may raise a very short one to its minimum) that the etcd
// client renews until [Registration.Close]. ctx bounds the registration itself (5s when it has
// no deadline), not the life of the key. opts says how to reach etcd (TLS, a user and password,
// the dial timeout, a logger for the etcd client); nil: plain TCP, no authentication, and no log.
func Register(ctx context.Context, endpoints []string, prefix string, node naming.ServerNode,
	ttl time.Duration, opts *Options) (*Registration, error) {
	entry, err := registryEntry(node)
	if err != nil {
		return nil, err
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("naming/etcd: Register ttl = %v, want > 0", ttl)
	}
	if opts == nil {
		opts = &Options{}
	}
	d, err := opts.dial("Register")
	if err != nil {
		return nil, err
	}
	eps, err := parseEndpoints(endpoints)
	if err != nil {
		return nil, fmt.Errorf("naming/etcd: Register endpoints %v: %w", endpoints, err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, registerTimeout)
		defer cancel()
	}
	cli, err := newClient(eps, d, orDiscard(opts.Logger))
	if err != nil {
		return nil, fmt.Errorf("naming/etcd: etcd client for %v: %w", eps, err)
	}
	reg := &Registration{key: keyPrefix(prefix) + "/" + entry, cli: cli}
	if err := reg.start(ctx, entry, ttl); err != nil {
		cli.Close()
		return nil, fmt.Errorf("naming/etcd: register %q in etcd %v: %w", reg.key, eps, err)
	}
	return reg, nil
}

// registryEntry returns the entry of node, "<addr>[ <tag>]", with a canonical address.
func registryEntry(node naming.ServerNode) (string, error) {
	ep, err := wire.ParseEndpoint(node.Addr)
	if err != nil {
		return "", fmt.Errorf("naming/etcd: Register node.Addr: %w", err)
	}
	if node.Tag == "" {
		return ep.String(), nil
	}
	return ep.String() + " " + node.Tag, nil
}

// start grants the lease, starts keeping it alive, and puts the key.
func (r *Registration) start(ctx context.Context, entry string, ttl time.Duration) error {
	secs := int64((ttl + time.Second - 1) / time.Second)
	lease, err := r.cli.Grant(ctx, secs)
	if err != nil {
		return err
	}
	r.session, err = concurrency.NewSession(r.cli, concurrency.WithLease(lease.ID),
		concurrency.WithTTL(int(secs)))
	if err != nil {
		return err
	}
	_, err = r.cli.Put(ctx, r.key, entry, clientv3.WithLease(lease.ID))
	return err
}

// Key returns the etcd key of the registration.
func (r *Registration) Key() string { return r.key }

// Done is closed when the lease is no longer kept alive: after Close, or when etcd let it expire
// (etcd unreachable for longer than the ttl), in which case the key is gone and the server must
// register again.
func (r *Registration) Done() <-chan struct{} { return r.session.Done() }

// Close revokes the lease, which deletes the key at once, and closes the etcd client. It waits
// at most the ttl for etcd to answer; the lease expires by itself anyway.
func (r *Registration) Close() error {
	err := r.session.Close()
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("naming/etcd: revoke the lease of %q: %w (it expires by itself)", r.key, err)
	}
	return errors.Join(err, r.cli.Close())
}
