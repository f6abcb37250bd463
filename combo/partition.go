package combo

import (
	"context"
	"fmt"
	"slices"
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
	// Interceptors run around every call of the channel, the first outermost (see
	// actors.Interceptor): around the whole partition call, Call and Go alike, and around the
	// sub-calls another combo channel makes on it. The sub-calls this channel makes happen
	// inside the last one's next, each through its sub-channel's own interceptors. None by
	// default; a nil element is an error.
	Interceptors []actors.Interceptor
}

// scheme is one way of partitioning: n partitions, each a cluster channel fed by hand from the
// servers a naming service lists, all under a parallel channel.
type scheme struct {
	kinds    int
	manuals  []*naming.Manual
	chans    []*actors.PlainChannel // the partitions' channels, by index
	pchan    *ParallelChannel
	capacity int // the smallest partition's total weight; 0 when a partition is empty
	servers  int

	mu     sync.Mutex // guards counts, which readers outside the naming goroutine take
	counts []int      // servers per partition, by index
}

// newScheme builds the channels of an n-partition scheme; ics are the interceptors of its
// parallel channel.
func newScheme(sys *actors.System, n int, o *PartitionOptions, ics []actors.Interceptor) (*scheme, error) {
	p, err := NewParallelChannel(sys, &ParallelOptions{Timeout: o.Timeout, FailLimit: o.FailLimit, Strict: o.Strict, Interceptors: ics})
	if err != nil {
		return nil, err
	}
	s := &scheme{kinds: n, pchan: p, counts: make([]int, n)}
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
		s.chans = append(s.chans, ch)
	}
	return s, nil
}

// waitChannels waits, until deadline at most, for every partition's channel to have taken its
// first server list, so that the scheme's Weight is right from the start.
func (s *scheme) waitChannels(deadline time.Time) {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	for _, ch := range s.chans {
		if ch.WaitForServers(ctx) != nil {
			return
		}
	}
}

// partitionServers returns the number of servers of each partition.
func (s *scheme) partitionServers() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.counts)
}

// inspect returns a node per partition with its servers, and the scheme's total.
func (s *scheme) inspect() (parts []*actors.Node, servers int64) {
	for i, k := range s.partitionServers() {
		parts = append(parts, &actors.Node{Kind: "partition", Name: fmt.Sprintf("%d/%d", i, s.kinds),
			Counters: map[string]int64{"servers": int64(k)}})
		servers += int64(k)
	}
	return parts, servers
}

// update gives each partition its servers and recomputes the scheme's capacity.
func (s *scheme) update(parts [][]naming.ServerNode) {
	s.capacity, s.servers = -1, 0
	s.mu.Lock()
	for i := range s.counts {
		s.counts[i] = len(parts[i])
	}
	s.mu.Unlock()
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
	target string
	parser PartitionParser
	sch    *scheme
	stop   func()
	unshow func()
	log    func(msg string, args ...any)
	once   sync.Once
}

// NewPartitionChannel makes a channel over numPartitions partitions of the servers target (a
// naming service URL) lists, placed by parser. Servers whose tag does not parse, names an index
// outside [0, numPartitions) or another number of partitions are skipped with a warning. Like
// brpc's Init, it waits for the naming service's first list and for every partition's channel
// to have taken it, at most FirstListWait in all: when it returns, Weight and PartitionServers
// show the servers listed, and calls need not wait for a list.
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
	sch, err := newScheme(sys, numPartitions, &o, o.Interceptors)
	if err != nil {
		return nil, err
	}
	pc := &PartitionChannel{rt: rt, target: target, parser: parser, sch: sch, log: rt.Logger().Warn}
	pc.nest = sch.pchan.nest
	first := firstList(pc.onServers)
	pc.stop = rt.WatchNaming(svc, first.update)
	deadline := time.Now().Add(FirstListWait)
	first.waitUntil(deadline)
	sch.waitChannels(deadline)
	pc.unshow = rt.Show(pc)
	return pc, nil
}

// FirstListWait bounds how long a partition channel's constructor (and NewShards) waits for the
// naming service's first list, and for its partitions' channels to take it. A naming service
// that has not answered by then leaves the channel without servers until it does; calls made
// meanwhile wait for them within their deadline, as a plain cluster channel's do.
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

func (f *firstLister) wait() { f.waitUntil(time.Now().Add(FirstListWait)) }

// waitUntil waits for the first update, until deadline at most.
func (f *firstLister) waitUntil(deadline time.Time) {
	t := time.NewTimer(time.Until(deadline))
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

// PartitionServers returns the number of servers in each partition (index i: partition i), as
// the naming service's latest list placed them; nil for a zero PartitionChannel.
func (pc *PartitionChannel) PartitionServers() []int {
	if pc.sch == nil {
		return nil
	}
	return pc.sch.partitionServers()
}

// Inspect returns the channel as [actors.System.Inspect] shows it: its partitions and servers,
// and a child per partition with its servers.
func (pc *PartitionChannel) Inspect() *actors.Node {
	if pc.sch == nil {
		return &actors.Node{Kind: "partition channel", State: "not initialized: make it with NewPartitionChannel"}
	}
	state := "open"
	if pc.sch.pchan.closed.Load() {
		state = "closed"
	}
	parts, servers := pc.sch.inspect()
	return &actors.Node{Kind: "partition channel", Name: pc.target,
		State:    fmt.Sprintf("%s, %d partitions", state, pc.sch.kinds),
		Counters: map[string]int64{"partitions": int64(pc.sch.kinds), "servers": servers, "weight": int64(pc.Weight())},
		Children: parts}
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
		return goCall(nil, "PartitionChannel", "NewPartitionChannel", nil, nil, ctx, method, req, resp, cntl, done)
	}
	return pc.sch.pchan.Go(ctx, method, req, resp, cntl, done)
}

// Close stops following the naming service and closes the channel as a [ParallelChannel]
// closes: later calls fail at once with ErrClosed, calls in flight complete normally, and the
// partitions' channels close when the last of them ended.
func (pc *PartitionChannel) Close() error {
	var err error
	pc.once.Do(func() {
		if pc.sch == nil {
			return
		}
		pc.stop()
		pc.unshow()
		err = pc.sch.pchan.Close()
	})
	return err
}
