package actors

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/troupe-rpc/troupe/lb"
	"github.com/troupe-rpc/troupe/mailbox"
	"github.com/troupe-rpc/troupe/naming"
	"github.com/troupe-rpc/troupe/wire"
)

// A channel to a cluster (brpc's Channel::Init with a naming service and a load balancer) is a
// channel actor with a naming watcher: the watcher reports each new server list, the actor keeps
// the list and the health of each server, and publishes an immutable snapshot — servers, their
// sockets and a picker — that calls read without a lock or a message.

// DefaultHealthCheckInterval is how often an isolated server is reconnected, brpc's
// -health_check_interval.
const DefaultHealthCheckInterval = 3 * time.Second

// snapshot is what a call needs to choose a server: built by the channel actor, never changed.
type snapshot struct {
	servers []lb.Server
	socks   []*socket
	picker  lb.Picker
}

// cluster is the part of a channel that balances over a naming service's servers.
type cluster struct {
	svc  naming.Service
	bal  lb.Balancer
	snap atomic.Pointer[snapshot]

	listed chan struct{} // closed when the first server list is published

	mu     sync.Mutex // guards closed against the watcher's posts
	closed bool
	cancel context.CancelFunc
	pid    *actor.PID
}

// Messages of the cluster actor.
type (
	serversUpdated struct{ nodes []naming.ServerNode }
	// awaitList asks the channel actor to wake a call once the first server list is known.
	awaitList struct{ call *mailbox.Light }
	// listReady wakes a call that waited for the first server list.
	listReady struct{}
)

func (*serversUpdated) IgnoreDeadLetterLogging() {}
func (*awaitList) IgnoreDeadLetterLogging()      {}

var msgListReady = &listReady{}

// post sends msg to the channel actor unless the channel is closing.
func (cl *cluster) post(sys *System, msg any) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if !cl.closed {
		sys.as.Root.Send(cl.pid, msg)
	}
}

// newCluster builds the naming service and the balancer a cluster channel needs (the user's
// Balancer, guarded, or the one LoadBalancer names); both errors name what is wrong.
func newCluster(sys *System, target string, o *ChannelOptions) (*cluster, error) {
	bal := o.Balancer
	if bal != nil {
		bal = lb.Guard(bal)
	} else {
		var err error
		if bal, err = lb.New(o.LoadBalancer); err != nil {
			return nil, fmt.Errorf("troupe: ChannelOptions.LoadBalancer: %w", err)
		}
	}
	svc, err := naming.New(target, &naming.Options{Logger: sys.log, Schemes: o.NamingSchemes})
	if err != nil {
		return nil, fmt.Errorf("troupe: NewChannel(%q): %w", target, err)
	}
	if o.NamingFilter != nil {
		svc = naming.Filtered(svc, o.NamingFilter)
	}
	return &cluster{svc: svc, bal: bal, listed: make(chan struct{})}, nil
}

// clusterActor is the channel actor of a cluster channel.
type clusterActor struct {
	ch      *PlainChannel
	cl      *cluster
	self    *actor.PID
	nodes   []naming.ServerNode
	socks   map[string]*socket // by address
	down    map[string]bool    // isolated servers, by address
	known   bool               // a first list arrived
	waiting []*mailbox.Light
	built   string // what the balancer last found wrong in the list (lb.BuildError), "" for nothing
}

func (a *clusterActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *serversUpdated:
		a.onServers(m.nodes)
	case *serverHealth:
		a.onHealth(m)
	case *awaitList:
		a.onAwait(m)
	case *actor.Started:
		a.self = c.Self()
		a.startWatcher()
	case *actor.Stopping:
		a.onStopping()
	}
}

// startWatcher runs the naming service's Watch on a goroutine the System owns.
func (a *clusterActor) startWatcher() {
	ctx, cancel := context.WithCancel(context.Background())
	a.cl.cancel = cancel
	sys, cl := a.ch.sys, a.cl
	sys.goroutine(func() {
		err := cl.svc.Watch(ctx, func(nodes []naming.ServerNode) { cl.post(sys, &serversUpdated{nodes: nodes}) })
		if err != nil && ctx.Err() == nil {
			sys.log.Error("troupe: naming service stopped", "channel", a.ch.target, "err", err)
		}
	})
}

// onServers takes a new server list: sockets for new servers, health watching for them, none for
// servers that left (whose sockets retire unless another channel uses them), a new snapshot, and
// the calls that waited for a first list woken.
func (a *clusterActor) onServers(nodes []naming.ServerNode) {
	keep := make(map[string]*socket, len(nodes))
	valid := nodes[:0:0]
	for _, n := range nodes {
		if keep[n.Addr] != nil { // listed again (with another tag): one socket per address
			valid = append(valid, n)
			continue
		}
		sk, err := a.socketFor(n.Addr)
		if err != nil {
			a.ch.sys.log.Warn("troupe: skipping server", "channel", a.ch.target, "addr", n.Addr, "err", err)
			continue
		}
		keep[n.Addr] = sk
		valid = append(valid, n)
	}
	var left []*socket
	for addr, sk := range a.socks {
		if keep[addr] == nil {
			a.ch.sys.as.Root.Send(sk.pid, &unsubscribe{pid: a.self})
			left = append(left, sk)
			delete(a.down, addr)
		}
	}
	first := !a.known
	a.socks, a.nodes, a.known = keep, valid, true
	a.publish()
	if first {
		close(a.cl.listed)
	}
	for _, sk := range left { // after the snapshot without them: new picks cannot find them
		a.ch.sys.releaseSocket(sk)
	}
	for _, l := range a.waiting {
		l.Send(msgListReady)
	}
	a.waiting = nil
}

// socketFor returns the socket for a server, subscribing to its health the first time.
func (a *clusterActor) socketFor(addr string) (*socket, error) {
	if sk := a.socks[addr]; sk != nil {
		return sk, nil
	}
	ep, err := wire.ParseEndpoint(addr)
	if err != nil {
		return nil, err
	}
	sk, err := a.ch.sys.socketFor(ep, &a.ch.opts)
	if err != nil {
		return nil, err
	}
	a.ch.sys.as.Root.Send(sk.pid, &subscribe{pid: a.self, interval: a.ch.opts.HealthCheckInterval,
		connectTimeout: a.ch.opts.ConnectTimeout})
	if sk.down.Load() {
		a.down[addr] = true
	}
	return sk, nil
}

func (a *clusterActor) onHealth(m *serverHealth) {
	if _, listed := a.socks[m.addr]; !listed || a.down[m.addr] == !m.up {
		return
	}
	if m.up {
		delete(a.down, m.addr)
	} else {
		a.down[m.addr] = true
	}
	a.publish()
}

// publish builds and stores the snapshot calls pick from.
func (a *clusterActor) publish() {
	snap := &snapshot{servers: make([]lb.Server, len(a.nodes)), socks: make([]*socket, len(a.nodes))}
	for i, n := range a.nodes {
		snap.servers[i] = lb.Server{ServerNode: n, Down: a.down[n.Addr]}
		snap.socks[i] = a.socks[n.Addr]
	}
	snap.picker = a.cl.bal.Build(snap.servers)
	a.cl.snap.Store(snap)
	a.reportBuild(snap.picker)
}

// reportBuild logs what the balancer found wrong in the list it was given (servers wrr leaves out
// for an invalid weight tag, as brpc logs "Invalid weight"), once per change of it: a snapshot is
// also built on every health change.
func (a *clusterActor) reportBuild(p lb.Picker) {
	text := ""
	if err := lb.BuildError(p); err != nil {
		text = err.Error()
	}
	if text != "" && text != a.built {
		a.ch.sys.log.Warn("troupe: the load balancer left servers out", "channel", a.ch.target, "err", text)
	}
	a.built = text
}

func (a *clusterActor) onAwait(m *awaitList) {
	if a.known {
		m.call.Send(msgListReady)
		return
	}
	a.waiting = append(a.waiting, m.call)
}

func (a *clusterActor) onStopping() {
	a.cl.mu.Lock()
	a.cl.closed = true
	a.cl.mu.Unlock()
	if a.cl.cancel != nil {
		a.cl.cancel()
	}
	for _, sk := range a.socks {
		a.ch.sys.as.Root.Send(sk.pid, &unsubscribe{pid: a.self})
		a.ch.sys.releaseSocket(sk)
	}
	a.socks = nil
	for _, l := range a.waiting {
		l.Send(msgListReady) // the call finds the channel closed
	}
	a.waiting = nil
}

// Weight returns the channel's capacity, as brpc's combo channels count it: the sum of its
// servers' weights (1 for a server without one) for a cluster channel, 1 for a single server.
// Isolated servers count too: capacity describes the partitioning, not the moment's health.
func (ch *PlainChannel) Weight() int {
	if ch.cluster == nil {
		return 1
	}
	snap := ch.cluster.snap.Load()
	if snap == nil {
		return 0
	}
	w := 0
	for _, s := range snap.servers {
		w += max(s.Weight, 1)
	}
	return w
}

// WaitForServers waits until the channel knows its servers — at once for a channel to one
// server, once the naming service's first list was taken for a cluster channel (an empty list
// counts) — or until ctx ends, and then returns ctx's error. Calls need not wait for it: a call
// made before the first list waits for it within its own deadline. It lets a program (or a combo
// channel's constructor) see the channel's Weight and servers from the start.
func (ch *PlainChannel) WaitForServers(ctx context.Context) error {
	switch {
	case ch.sys == nil:
		return uninitialized("PlainChannel", "System.NewChannel")
	case ch.cluster == nil:
		return nil
	}
	select {
	case <-ch.cluster.listed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
