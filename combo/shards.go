package combo

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/internal/callrt"
	"github.com/troupe-rpc/troupe/naming"
)

// ShardOptions configures [Shards].
type ShardOptions struct {
	// Channel configures each shard's channel to its servers: load balancer ("rr" when empty),
	// connection, retries, health checking; its naming schemes and filter apply to the naming
	// service the servers come from. Its Balancer must be nil: a Balancer serves one channel,
	// and there is a channel per shard.
	Channel actors.ChannelOptions
	// Parse reads a server's shard id from its tag. nil accepts "N" and brpc's "N/M" (shard N).
	// Servers whose tag it refuses are skipped with a warning.
	Parse func(tag string) (shard int, ok bool)
}

// Shards follows a naming service whose servers carry a shard id in their tag, and keeps one
// cluster channel per shard id to the servers of that shard. It is how the partitioners follow
// a cluster: [Shards.NewHashingPartitioner] and [Shards.NewCustomPartitioner] build partitioners
// that reshard whenever the set of shards with servers changes (Finagle's clusterResharding).
// Calls in flight finish on the shards they started with.
//
// A shard that loses its last server leaves the set and its channel closes once the
// partitioners no longer use it (its calls in flight finish); a shard whose servers come back
// gets a new channel.
type Shards struct {
	rt     *callrt.Runtime
	sys    *actors.System
	opts   ShardOptions
	mu     sync.Mutex // guards all below; subscribers run under it, in order
	shards map[int]*shardChannel
	live   map[int]actors.Channel
	subs   map[*func(map[int]actors.Channel)]struct{}
	closed bool
	stop   func()
	once   sync.Once
}

type shardChannel struct {
	servers *naming.Manual
	ch      *actors.PlainChannel
}

// NewShards follows target (a naming service URL). Like brpc's partition channels, it waits for
// the naming service's first list (at most [FirstListWait]) so that the partitioners built on it
// start with the shards.
func NewShards(sys *actors.System, target string, opts *ShardOptions) (*Shards, error) {
	rt, err := runtimeOf(sys, "NewShards")
	if err != nil {
		return nil, err
	}
	var o ShardOptions
	if opts != nil {
		o = *opts
	}
	if o.Parse == nil {
		o.Parse = parseShardTag
	}
	if o.Channel.LoadBalancer == "" {
		o.Channel.LoadBalancer = "rr"
	}
	svc, err := newNaming(rt, target, &PartitionOptions{Channel: o.Channel})
	if err != nil {
		return nil, err
	}
	s := &Shards{rt: rt, sys: sys, opts: o, shards: map[int]*shardChannel{}, live: map[int]actors.Channel{},
		subs: map[*func(map[int]actors.Channel)]struct{}{}}
	first := firstList(s.onServers)
	s.stop = rt.WatchNaming(svc, first.update)
	first.wait()
	return s, nil
}

// parseShardTag reads "N" or "N/M" as shard N.
func parseShardTag(tag string) (int, bool) {
	id, _, _ := strings.Cut(tag, "/")
	n, err := strconv.Atoi(id)
	return n, err == nil && n >= 0
}

// onServers gives each shard its servers and tells the subscribers when the set of shards with
// servers changed.
func (s *Shards) onServers(nodes []naming.ServerNode) {
	byShard := map[int][]naming.ServerNode{}
	for _, node := range nodes {
		id, ok := s.opts.Parse(node.Tag)
		if !ok || id < 0 {
			s.rt.Logger().Warn("combo: skipping a server whose tag names no shard", "addr", node.Addr, "tag", node.Tag)
			continue
		}
		byShard[id] = append(byShard[id], node)
	}
	s.mu.Lock()
	gone := s.update(byShard)
	s.mu.Unlock()
	for _, sc := range gone {
		sc.ch.Close() // its calls in flight finish; its sockets retire
	}
}

// update applies a new list under s.mu and returns the shards that lost their last server: the
// subscribers no longer use them, so the caller closes them.
func (s *Shards) update(byShard map[int][]naming.ServerNode) (gone []*shardChannel) {
	if s.closed {
		return nil
	}
	for id, servers := range byShard {
		sc := s.shards[id]
		if sc == nil {
			var err error
			if sc, err = s.newShard(id); err != nil {
				s.rt.Logger().Error("combo: cannot make a shard's channel", "shard", id, "err", err)
				continue
			}
			s.shards[id] = sc
		}
		sc.servers.Update(servers)
	}
	live := map[int]actors.Channel{}
	for id, sc := range s.shards {
		if _, ok := byShard[id]; ok {
			live[id] = sc.ch
			continue
		}
		delete(s.shards, id)
		gone = append(gone, sc)
	}
	if maps.Equal(live, s.live) {
		return gone
	}
	s.live = live
	for fn := range s.subs {
		(*fn)(maps.Clone(live))
	}
	return gone
}

func (s *Shards) newShard(id int) (*shardChannel, error) {
	m := naming.NewManual()
	co := s.opts.Channel
	co.NamingSchemes = map[string]naming.Builder{"shard": func(string, *naming.Options) (naming.Service, error) { return m, nil }}
	co.NamingFilter = nil
	ch, err := s.sys.NewChannel(fmt.Sprintf("shard://%d", id), &co)
	if err != nil {
		return nil, err
	}
	return &shardChannel{servers: m, ch: ch}, nil
}

// Channels returns the shards that have servers now: shard id -> the channel to its servers.
func (s *Shards) Channels() map[int]actors.Channel {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.live)
}

// IDs returns the ids of the shards that have servers now, ascending.
func (s *Shards) IDs() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.live))
}

// Subscribe calls fn with the shards that have servers now, then again each time that set
// changes, until cancel is called or the Shards closes. Calls are made one at a time, on the
// naming service's goroutine (the first one on the caller's); fn must not block for long nor call
// the Shards. cancel is idempotent.
func (s *Shards) Subscribe(fn func(shards map[int]actors.Channel)) (cancel func()) {
	key := &fn
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.rt == nil {
		return func() {}
	}
	s.subs[key] = struct{}{}
	fn(maps.Clone(s.live))
	return func() {
		s.mu.Lock()
		delete(s.subs, key)
		s.mu.Unlock()
	}
}

// NewHashingPartitioner returns a [HashingPartitioner] whose partitions are the shards (partition
// id = shard id), resharded as shards come and go: keys of a shard that left move to the next
// partitions on the ring, and a new shard takes its share of the keys from the next call on.
// With no shard, calls fail with ENODATA. Close the partitioner before the Shards.
func (s *Shards) NewHashingPartitioner(methods map[string]PartitionedMethod, opts *HashingOptions) (*HashingPartitioner, error) {
	if s.rt == nil {
		return nil, errNotInitialized("Shards")
	}
	h, err := newHashingPartitioner(s.sys, s.Channels(), methods, opts)
	if err != nil {
		return nil, err
	}
	h.unwatch = s.Subscribe(h.reshard)
	return h, nil
}

// NewCustomPartitioner returns a [CustomPartitioner] whose instances are the shards (instance
// shard id = shard id, serving the logical partitions opts.Instances gives), resharded as shards
// come and go. Close the partitioner before the Shards.
func (s *Shards) NewCustomPartitioner(methods map[string]CustomMethod, opts *CustomOptions) (*CustomPartitioner, error) {
	if s.rt == nil {
		return nil, errNotInitialized("Shards")
	}
	p, err := newCustomPartitioner(s.sys, s.Channels(), methods, opts)
	if err != nil {
		return nil, err
	}
	p.unwatch = s.Subscribe(func(m map[int]actors.Channel) {
		if err := p.reshard(m, p.opts.Instances, true); err != nil {
			s.rt.Logger().Error("combo: cannot reshard", "partitioner", p.name, "err", err)
		}
	})
	return p, nil
}

// Close stops following the naming service and closes every shard's channel: later calls on them
// fail with ErrClosed, and calls in flight complete normally, each channel releasing its servers
// once its last call ended. Close is idempotent.
func (s *Shards) Close() error {
	s.once.Do(func() {
		if s.rt == nil {
			return
		}
		s.stop()
		s.mu.Lock()
		s.closed = true
		shards := s.shards
		s.shards, s.live = map[int]*shardChannel{}, map[int]actors.Channel{}
		clear(s.subs)
		s.mu.Unlock()
		for _, sc := range shards {
			sc.ch.Close()
		}
	})
	return nil
}
