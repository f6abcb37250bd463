package combo

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/internal/callrt"
	"github.com/troupe-rpc/troupe/naming"
)

// Partition is where a server's tag places it: partition Index of a scheme with
// NumPartitionKinds partitions.
type Partition struct {
	Index             int
	NumPartitionKinds int
}

// PartitionParser reads a server's partition from its naming-service tag (brpc's
// PartitionParser). It reports false for a tag that names no partition.
type PartitionParser interface {
	ParseFromTag(tag string) (Partition, bool)
}

// PartitionParserFunc is a function that is a PartitionParser.
type PartitionParserFunc func(tag string) (Partition, bool)

// ParseFromTag calls f.
func (f PartitionParserFunc) ParseFromTag(tag string) (Partition, bool) { return f(tag) }

// SlashParser reads tags of brpc's examples, "N/M": partition N of M.
type SlashParser struct{}

// ParseFromTag parses "N/M".
func (SlashParser) ParseFromTag(tag string) (Partition, bool) {
	n, m, ok := strings.Cut(strings.TrimSpace(tag), "/")
	if !ok {
		return Partition{}, false
	}
	i, err1 := strconv.Atoi(n)
	k, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil {
		return Partition{}, false
	}
	return Partition{Index: i, NumPartitionKinds: k}, true
}

// PartitionOptions configures a [PartitionChannel] or a [DynamicPartitionChannel].
type PartitionOptions struct {
	// Channel configures each partition's channel to its servers: load balancer ("rr" when
	// empty), connection, retries, health checking; its naming schemes and filter apply to the
	// naming service the servers come from. Its Balancer must be nil: a Balancer serves one
	// channel, and there is a channel per partition.
	Channel actors.ChannelOptions
	// Timeout bounds a whole call, every partition included (0: 500 ms; negative: none).
	Timeout time.Duration
	// FailLimit is the parallel call's over the partitions (0: all of them).
	FailLimit int
	// Strict fails a call that timed out or was cancelled even under the fail limit.
	Strict bool
	// CallMapper and ResponseMerger apply to every partition (nil: broadcast, proto.Merge).
	CallMapper     CallMapper
	ResponseMerger ResponseMerger
	// MaxRetry is how many more partition schemes a dynamic partition call may try after one
	// failed (0: 3; actors.NoRetry: none). A PartitionChannel has one scheme and ignores it.
	MaxRetry int
}

// scheme is one way of partitioning: n partitions, each a cluster channel fed by hand from the
// servers a naming service lists, all under a parallel channel.
type scheme struct {
	kinds    int
	manuals  []*naming.Manual
	pchan    *ParallelChannel
	capacity int // the smallest partition's total weight; 0 when a partition is empty
	servers  int
}

// newScheme builds the channels of an n-partition scheme.
func newScheme(sys *actors.System, n int, o *PartitionOptions) (*scheme, error) {
	p, err := NewParallelChannel(sys, &ParallelOptions{Timeout: o.Timeout, FailLimit: o.FailLimit, Strict: o.Strict})
	if err != nil {
		return nil, err
	}
	s := &scheme{kinds: n, pchan: p}
	for i := range n {
		m := naming.NewManual()
		s.manuals = append(s.manuals, m)
		co := o.Channel
		if co.LoadBalancer == "" {
			co.LoadBalancer = "rr"
		}
		co.NamingSchemes = map[string]naming.Builder{"partition": func(string, *naming.Options) (naming.Service, error) { return m, nil }}
		co.NamingFilter = nil
		ch, err := sys.NewChannel(fmt.Sprintf("partition://%d/%d", i, n), &co)
		if err != nil {
			p.Close()
			return nil, err
		}
		if err := p.AddChannel(ch, OwnsChannel, o.CallMapper, o.ResponseMerger); err != nil {
			ch.Close()
			p.Close()
			return nil, err
		}
	}
	return s, nil
}

// update gives each partition its servers and recomputes the scheme's capacity.
func (s *scheme) update(parts [][]naming.ServerNode) {
	s.capacity, s.servers = -1, 0
	for i, m := range s.manuals {
		m.Update(parts[i])
		w := 0
		for _, n := range parts[i] {
			w += max(n.Weight, 1)
		}
		s.servers += len(parts[i])
		if s.capacity < 0 || w < s.capacity {
			s.capacity = w
		}
	}
}

// PartitionChannel is brpc's PartitionChannel: the servers of one naming service are grouped
// into partitions by their tags, each partition is a cluster channel with its own load balancer,
// and a call goes to every partition at once as a parallel call does (with a [CallMapper] to split
// the request, a [ResponseMerger] to merge the answers). The partitioning follows the naming
// service as servers come, go and change tags. It satisfies [actors.Channel]. Make it with
// [NewPartitionChannel]: a zero PartitionChannel fails every call with EINVAL.
type PartitionChannel struct {
	nest

	rt     *callrt.Runtime
	parser PartitionParser
	sch    *scheme
	stop   func()
	log    func(msg string, args ...any)
	once   sync.Once
}

// NewPartitionChannel makes a channel over numPartitions partitions of the servers target (a
// naming service URL) lists, placed by parser. Servers whose tag does not parse, names an index
// outside [0, numPartitions) or another number of partitions are skipped with a warning. Like
// brpc's Init, it waits for the naming service's first list (at most FirstListWait).
func NewPartitionChannel(sys *actors.System, numPartitions int, parser PartitionParser, target string, opts *PartitionOptions) (*PartitionChannel, error) {
	if numPartitions <= 0 {
		return nil, fmt.Errorf("combo: NewPartitionChannel: numPartitions = %d, want > 0", numPartitions)
	}
	if parser == nil {
		return nil, fmt.Errorf("combo: NewPartitionChannel: nil PartitionParser")
	}
	rt, err := runtimeOf(sys, "NewPartitionChannel")
	if err != nil {
		return nil, err
	}
	var o PartitionOptions
	if opts != nil {
		o = *opts
	}
	svc, err := newNaming(rt, target, &o)
	if err != nil {
		return nil, err
	}
	sch, err := newScheme(sys, numPartitions, &o)
	if err != nil {
		return nil, err
	}
	pc := &PartitionChannel{rt: rt, parser: parser, sch: sch, log: rt.Logger().Warn}
	pc.nest = sch.pchan.nest
	first := firstList(pc.onServers)
	pc.stop = rt.WatchNaming(svc, first.update)
	first.wait()
	return pc, nil
}

// FirstListWait bounds how long a partition channel's constructor waits for the naming
// service's first list.
const FirstListWait = 2 * time.Second

// firstLister passes updates on and lets a constructor wait for the first one.
type firstLister struct {
	next  func([]naming.ServerNode)
	ready chan struct{}
	once  sync.Once
}

func firstList(next func([]naming.ServerNode)) *firstLister {
	return &firstLister{next: next, ready: make(chan struct{})}
}

func (f *firstLister) update(nodes []naming.ServerNode) {
	f.next(nodes)
	f.once.Do(func() { close(f.ready) })
}

func (f *firstLister) wait() {
	t := time.NewTimer(FirstListWait)
	defer t.Stop()
	select {
	case <-f.ready:
	case <-t.C:
	}
}

// newNaming builds the naming service a partition channel watches. It refuses a Balancer in the
// channel options, which every partition's channel would share.
func newNaming(rt *callrt.Runtime, target string, o *PartitionOptions) (naming.Service, error) {
	if o.Channel.Balancer != nil {
		return nil, fmt.Errorf("combo: Channel.Balancer = %T is set, but a Balancer serves one channel and "+
			"each partition has a channel of its own: use Channel.LoadBalancer", o.Channel.Balancer)
	}
	svc, err := naming.New(target, &naming.Options{Logger: rt.Logger(), Schemes: o.Channel.NamingSchemes})
	if err != nil {
		return nil, fmt.Errorf("combo: %w", err)
	}
	if o.Channel.NamingFilter != nil {
		svc = naming.Filtered(svc, o.Channel.NamingFilter)
	}
	return svc, nil
}

// onServers regroups the naming service's servers into the partitions.
func (pc *PartitionChannel) onServers(nodes []naming.ServerNode) {
	n := pc.sch.kinds
	parts := make([][]naming.ServerNode, n)
	for _, node := range nodes {
		p, ok := pc.parser.ParseFromTag(node.Tag)
		switch {
		case !ok:
			pc.log("combo: skipping a server whose tag names no partition", "addr", node.Addr, "tag", node.Tag)
		case p.NumPartitionKinds != n:
			// a server of another partitioning scheme: not ours
		case p.Index < 0 || p.Index >= n:
			pc.log("combo: skipping a server with a partition index out of range", "addr", node.Addr, "tag", node.Tag, "partitions", n)
		default:
			parts[p.Index] = append(parts[p.Index], node)
		}
	}
	pc.sch.update(parts)
}

// PartitionCount returns the number of partitions.
func (pc *PartitionChannel) PartitionCount() int {
	if pc.sch == nil {
		return 0
	}
	return pc.sch.kinds
}

// Weight returns the channel's capacity: its smallest partition's total weight.
func (pc *PartitionChannel) Weight() int {
	if pc.sch == nil {
		return 0
	}
	return pc.sch.pchan.Weight()
}

// Call makes a call to every partition and waits for it. See [actors.Channel].
func (pc *PartitionChannel) Call(ctx context.Context, method string, req, resp proto.Message, cntl *actors.Controller) error {
	return pc.Go(ctx, method, req, resp, cntl, nil).Wait()
}

// Go starts a call to every partition. See [actors.Channel].
func (pc *PartitionChannel) Go(ctx context.Context, method string, req, resp proto.Message, cntl *actors.Controller, done func(*actors.Controller)) *actors.Call {
	if pc.sch == nil {
		return goCall(nil, "PartitionChannel", "NewPartitionChannel", nil, ctx, method, req, resp, cntl, done)
	}
	return pc.sch.pchan.Go(ctx, method, req, resp, cntl, done)
}

// Close stops following the naming service and closes the partitions' channels.
func (pc *PartitionChannel) Close() error {
	var err error
	pc.once.Do(func() {
		if pc.sch == nil {
			return
		}
		pc.stop()
		err = pc.sch.pchan.Close()
	})
	return err
}
