package combo

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/internal/callrt"
	"github.com/troupe-rpc/troupe/lb"
	"github.com/troupe-rpc/troupe/naming"
	"github.com/troupe-rpc/troupe/wire"
)

// DynamicPartitionChannel is brpc's DynamicPartitionChannel: the servers of one naming service
// may belong to several partitioning schemes at once — tags "0/3" … "2/3" and "0/4" … "3/4" —
// and each call goes to one scheme, picked with a probability proportional to the scheme's
// capacity, then to every partition of that scheme. A scheme's capacity is its smallest
// partition's total weight, so a scheme with an empty partition gets no traffic while another
// can serve. Schemes appear and disappear with the servers that carry their tags, which lets a
// service move from 3 partitions to 4 while calls keep flowing. It satisfies [actors.Channel];
// a call's Sub(0) is the chosen scheme's call, whose Sub(i) are its partitions. Make it with
// [NewDynamicPartitionChannel]: a zero DynamicPartitionChannel fails every call with EINVAL.
type DynamicPartitionChannel struct {
	nest

	rt      *callrt.Runtime
	sys     *actors.System
	parser  PartitionParser
	opts    PartitionOptions
	sel     *SelectiveChannel
	mu      sync.Mutex // guards schemes against Close
	schemes map[int]*dynScheme
	target  string
	stop    func()
	unshow  func()
	once    sync.Once
}

type dynScheme struct {
	*scheme
	handle ChannelHandle
}

// NewDynamicPartitionChannel makes a channel over the partitioning schemes of the servers target
// (a naming service URL) lists, placed by parser. Like brpc's Init, it waits for the naming
// service's first list and for the partitions' channels of its schemes to take it, at most
// FirstListWait in all, so that the first calls find the schemes and their servers.
func NewDynamicPartitionChannel(sys *actors.System, parser PartitionParser, target string, opts *PartitionOptions) (*DynamicPartitionChannel, error) {
	if parser == nil {
		return nil, fmt.Errorf("combo: NewDynamicPartitionChannel: nil PartitionParser")
	}
	rt, err := runtimeOf(sys, "NewDynamicPartitionChannel")
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
	sel, err := NewSelectiveChannel(sys, &SelectiveOptions{Timeout: o.Timeout, MaxRetry: o.MaxRetry, Interceptors: o.Interceptors})
	if err != nil {
		return nil, err
	}
	sel.mu.Lock()
	sel.build = capacityPicker
	sel.publishLocked()
	sel.mu.Unlock()
	d := &DynamicPartitionChannel{rt: rt, sys: sys, parser: parser, opts: o, sel: sel, schemes: map[int]*dynScheme{}, target: target}
	d.nest = sel.nest
	first := firstList(d.onServers)
	d.stop = rt.WatchNaming(svc, first.update)
	deadline := time.Now().Add(FirstListWait)
	first.waitUntil(deadline)
	d.mu.Lock()
	schemes := make([]*dynScheme, 0, len(d.schemes))
	for _, s := range d.schemes {
		schemes = append(schemes, s)
	}
	d.mu.Unlock()
	for _, s := range schemes {
		s.waitChannels(deadline)
	}
	d.unshow = rt.Show(d)
	return d, nil
}

// onServers regroups the servers by scheme and partition, creating schemes that appeared and
// removing schemes left without a server.
func (d *DynamicPartitionChannel) onServers(nodes []naming.ServerNode) {
	byKinds := map[int][][]naming.ServerNode{}
	for _, node := range nodes {
		p, ok := d.parser.ParseFromTag(node.Tag)
		if !ok || p.NumPartitionKinds <= 0 || p.Index < 0 || p.Index >= p.NumPartitionKinds {
			d.rt.Logger().Warn("combo: skipping a server whose tag names no partition", "addr", node.Addr, "tag", node.Tag)
			continue
		}
		parts := byKinds[p.NumPartitionKinds]
		if parts == nil {
			parts = make([][]naming.ServerNode, p.NumPartitionKinds)
			byKinds[p.NumPartitionKinds] = parts
		}
		parts[p.Index] = append(parts[p.Index], node)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for kinds, parts := range byKinds {
		d.updateScheme(kinds, parts)
	}
	for kinds, s := range d.schemes {
		if _, ok := byKinds[kinds]; !ok {
			d.removeScheme(kinds, s)
		}
	}
}

func (d *DynamicPartitionChannel) updateScheme(kinds int, parts [][]naming.ServerNode) {
	s := d.schemes[kinds]
	if s == nil {
		sch, err := newScheme(d.sys, kinds, &d.opts, nil)
		if err != nil {
			d.rt.Logger().Error("combo: cannot build a partition scheme", "partitions", kinds, "err", err)
			return
		}
		h, err := d.sel.AddChannel(sch.pchan, OwnsChannel)
		if err != nil {
			sch.pchan.Close()
			return
		}
		s = &dynScheme{scheme: sch, handle: h}
		d.schemes[kinds] = s
	}
	s.update(parts)
	d.sel.setWeight(s.handle, s.capacity)
}

func (d *DynamicPartitionChannel) removeScheme(kinds int, s *dynScheme) {
	delete(d.schemes, kinds)
	if err := d.sel.RemoveAndDestroyChannel(s.handle); err != nil {
		d.rt.Logger().Warn("combo: removing a partition scheme", "partitions", kinds, "err", err)
	}
}

// Schemes returns the partition counts of the schemes the channel currently has, with their
// capacities.
func (d *DynamicPartitionChannel) Schemes() map[int]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[int]int, len(d.schemes))
	for k, s := range d.schemes {
		out[k] = s.capacity
	}
	return out
}

// PartitionServers returns, for each scheme the channel has (by its number of partitions), the
// number of servers in each of its partitions (index i: partition i).
func (d *DynamicPartitionChannel) PartitionServers() map[int][]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[int][]int, len(d.schemes))
	for k, s := range d.schemes {
		out[k] = s.partitionServers()
	}
	return out
}

// Inspect returns the channel as [actors.System.Inspect] shows it: its schemes and servers, and
// a child per scheme with its capacity and a child per partition with its servers.
func (d *DynamicPartitionChannel) Inspect() *actors.Node {
	if d.sel == nil {
		return &actors.Node{Kind: "dynamic partition channel", State: "not initialized: make it with NewDynamicPartitionChannel"}
	}
	state := "open"
	if d.sel.closed.Load() {
		state = "closed"
	}
	n := &actors.Node{Kind: "dynamic partition channel", Name: d.target, Counters: map[string]int64{}}
	d.mu.Lock()
	kinds := slices.Sorted(maps.Keys(d.schemes))
	var total int64
	for _, k := range kinds {
		s := d.schemes[k]
		parts, servers := s.inspect()
		total += servers
		n.Children = append(n.Children, &actors.Node{Kind: "partition scheme", Name: fmt.Sprintf("%d partitions", k),
			Counters: map[string]int64{"partitions": int64(k), "servers": servers, "capacity": int64(s.capacity)},
			Children: parts})
	}
	d.mu.Unlock()
	n.State = fmt.Sprintf("%s, %d schemes", state, len(kinds))
	n.Counters["schemes"] = int64(len(kinds))
	n.Counters["servers"] = total
	return n
}

// Weight returns the channel's capacity: the sum of its schemes'.
func (d *DynamicPartitionChannel) Weight() int {
	w := 0
	for _, c := range d.Schemes() {
		w += c
	}
	return w
}

// Call makes a call on one scheme and waits for it. See [actors.Channel].
func (d *DynamicPartitionChannel) Call(ctx context.Context, method string, req, resp proto.Message, cntl *actors.Controller) error {
	return d.Go(ctx, method, req, resp, cntl, nil).Wait()
}

// Go starts a call on one scheme. See [actors.Channel].
func (d *DynamicPartitionChannel) Go(ctx context.Context, method string, req, resp proto.Message, cntl *actors.Controller, done func(*actors.Controller)) *actors.Call {
	if d.sel == nil {
		return goCall(nil, "DynamicPartitionChannel", "NewDynamicPartitionChannel", nil, nil, ctx, method, req, resp, cntl, done)
	}
	return d.sel.Go(ctx, method, req, resp, cntl, done)
}

// Close stops following the naming service and closes the channel as a [SelectiveChannel]
// closes: later calls fail at once with ErrClosed, calls in flight complete normally, and every
// scheme's channels close when the last of them ended.
func (d *DynamicPartitionChannel) Close() error {
	var err error
	d.once.Do(func() {
		if d.sel == nil {
			return
		}
		d.stop()
		d.unshow()
		err = d.sel.Close()
	})
	return err
}

// capacityPicker picks schemes as brpc's _dynpart balancer: with one scheme, that one; with
// several, at random in proportion to their capacity, never one of capacity 0.
func capacityPicker(servers []lb.Server) lb.Picker { return capacityPick{servers} }

type capacityPick struct{ servers []lb.Server }

func (p capacityPick) Pick(r *lb.Request) (int, error) {
	switch len(p.servers) {
	case 0:
		return 0, wire.Errorf(wire.ENODATA, "no partition scheme")
	case 1:
		if p.servers[0].Down {
			return 0, wire.Errorf(wire.EHOSTDOWN, "the only partition scheme is down")
		}
		return 0, nil
	}
	if i, ok := p.weighted(r, true); ok {
		return i, nil
	}
	if i, ok := p.weighted(r, false); ok {
		return i, nil
	}
	return 0, wire.Errorf(wire.EHOSTDOWN, "no partition scheme has capacity")
}

// weighted draws a usable scheme with capacity, skipping excluded ones when exclude is set.
func (p capacityPick) weighted(r *lb.Request, exclude bool) (int, bool) {
	total := 0
	ok := func(s lb.Server) bool {
		return !s.Down && s.Weight > 0 && !(exclude && excluded(r, s.ServerNode))
	}
	for _, s := range p.servers {
		if ok(s) {
			total += s.Weight
		}
	}
	if total == 0 {
		return 0, false
	}
	n := rand.IntN(total)
	for i, s := range p.servers {
		if !ok(s) {
			continue
		}
		if n < s.Weight {
			return i, true
		}
		n -= s.Weight
	}
	return 0, false
}

func excluded(r *lb.Request, n naming.ServerNode) bool {
	for _, e := range r.Excluded {
		if e.Addr == n.Addr {
			return true
		}
	}
	return false
}
