package combo

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/internal/callrt"
	"github.com/troupe-rpc/troupe/wire"
)

// ErrPartitioningStrategy is what a [*PartitioningStrategyError] matches with errors.Is: the
// partitioner has no strategy for the call's method.
var ErrPartitioningStrategy = errors.New("combo: no partitioning strategy")

// PartitioningStrategyError is the cause of a custom-partitioned call whose method has no
// [CustomMethod]: Finagle's PartitioningStrategyException. The call fails with wire.EREQUEST.
type PartitioningStrategyError struct {
	Method string
}

// Error names the method.
func (e *PartitioningStrategyError) Error() string {
	return "combo: no partitioning strategy for method " + e.Method
}

// Is reports whether target is [ErrPartitioningStrategy].
func (e *PartitioningStrategyError) Is(target error) bool { return target == ErrPartitioningStrategy }

// CustomMethod tells a [CustomPartitioner] how to partition the calls of one method, as a
// Finagle ClientCustomStrategy's ToPartitionedMap and response merger do.
type CustomMethod struct {
	// Partition maps a request to its sub-requests by logical partition id. It may be slow
	// (it may look something up remotely): it runs off the call's actor on a goroutine the
	// System owns (Inspect counts it, Shutdown waits for it), and ctx is cancelled when the call
	// ends (deadline, cancel, shutdown, or any finish), so it must return soon after. ctx also
	// carries the schema the call started with: see [SchemaFromContext]. An empty map fails the call with a [*NoPartitioningKeysError];
	// an error fails it with EREQUEST unless the error carries its own code.
	Partition func(ctx context.Context, req proto.Message) (map[int]proto.Message, error)
	// MergeResponses decides the call's result from the partitions' answers and failures, each
	// in ascending partition id: Finagle's (successes, failures) => Try[Response]. A partition
	// that no instance serves shows up as a failure with wire.ENODATA. It runs in the call's
	// actor and must not block. Its result replaces the caller's response; an error fails the
	// call (ERESPONSE unless it carries its own code; one of the failures it was given,
	// returned as is, fails the call unchanged). nil fails the call with the first
	// failure, or merges the successes with proto.Merge.
	MergeResponses func(successes []proto.Message, failures []error) (proto.Message, error)
	// NewResponse returns the message a partition's answer goes into; nil uses a new message of
	// the caller's response type.
	NewResponse func() proto.Message
}

// CustomOptions configures a [CustomPartitioner].
type CustomOptions struct {
	// Instances returns the logical partitions that the instance with shard id shard serves:
	// Finagle's getLogicalPartition. Several instances may serve one partition (their
	// sub-calls are shared round robin) and one instance may serve several partitions. nil
	// means every instance serves the one partition of its own shard id.
	Instances func(shard int) []int
	// Timeout bounds a whole partitioned call, Partition included, when its context has no
	// deadline and its Controller no timeout; 0 means actors.DefaultTimeout (500 ms), negative
	// none.
	Timeout time.Duration
	// EjectFailedInstance skips an instance after FailureAccrual consecutive failed sub-calls
	// when its partitions pick an instance, until Revive passed; then one more failure skips it
	// again and a success clears it (Finagle's failure accrual). A partition whose instances
	// are all skipped uses them all. Off by default.
	EjectFailedInstance bool
	// FailureAccrual is the number of consecutive failures that ejects an instance; 0 means 5.
	FailureAccrual int
	// Revive is how long an ejected instance is skipped; 0 means 10 s.
	Revive time.Duration
	// Interceptors run around every call of the channel, the first outermost (see
	// actors.Interceptor): around the whole partitioned call, Call and Go alike, and around the
	// sub-calls another combo channel makes on it. The sub-calls this channel makes happen
	// inside the last one's next, each through its sub-channel's own interceptors. None by
	// default; a nil element is an error.
	Interceptors []actors.Interceptor
}

// customInstance is one instance of a schema: a shard id and the channel to it.
type customInstance struct {
	shard  int
	ch     actors.Channel
	health *instanceHealth
}

// instanceHealth is an instance's failure accrual; it follows the instance across reshards.
type instanceHealth struct {
	failures     atomic.Int32
	ejectedUntil atomic.Int64 // Unix nanoseconds; 0 when not ejected
}

// available reports whether the instance may be picked at now (Unix nanoseconds).
func (ih *instanceHealth) available(now int64) bool {
	until := ih.ejectedUntil.Load()
	return until == 0 || now >= until
}

// logicalPartition is the instances serving one logical partition.
type logicalPartition struct {
	insts []*customInstance // ascending shard id
	next  atomic.Uint64
}

// pick returns the instance for the next sub-call of the partition: round robin over the
// instances not ejected, or over all of them when every one is.
func (lp *logicalPartition) pick(now int64) *customInstance {
	n := uint64(len(lp.insts))
	start := lp.next.Add(1) - 1
	for k := range n {
		if in := lp.insts[(start+k)%n]; in.health.available(now) {
			return in
		}
	}
	return lp.insts[start%n]
}

// customSchema is one partitioning schema: logical partition id -> its instances. It does not
// change once published.
type customSchema struct {
	parts     map[int]*logicalPartition
	instances []*customInstance // ascending shard id
	view      Schema
}

// Schema is a custom partitioner's schema as its Partition functions see it, through
// [SchemaFromContext]. Its slices are shared: do not modify them.
type Schema struct {
	Partitions []int // the logical partition ids some instance serves, ascending
	Shards     []int // the instances' shard ids, ascending
}

type schemaKey struct{}

// SchemaFromContext returns the schema of the custom-partitioned call whose [CustomMethod]
// Partition function got ctx: the schema the call started with and will send its sub-calls on.
// A Partition function that decides partitions from it never names a partition the call cannot
// reach, even while Reshard runs (Finagle's resharding keeps the partition function and the
// schema of one state together the same way).
func SchemaFromContext(ctx context.Context) (Schema, bool) {
	s, ok := ctx.Value(schemaKey{}).(*customSchema)
	if !ok {
		return Schema{}, false
	}
	return s.view, true
}

// newCustomSchema builds a schema, keeping the failure accrual of the instances of old that
// stay (same shard id, same channel).
func newCustomSchema(instances map[int]actors.Channel, logical func(shard int) []int, old *customSchema) (*customSchema, error) {
	shards := make([]int, 0, len(instances))
	for shard, ch := range instances {
		if ch == nil {
			return nil, fmt.Errorf("instance %d is nil", shard)
		}
		shards = append(shards, shard)
	}
	slices.Sort(shards)
	s := &customSchema{parts: map[int]*logicalPartition{}}
	for _, shard := range shards {
		in := &customInstance{shard: shard, ch: instances[shard], health: &instanceHealth{}}
		if old != nil {
			for _, o := range old.instances {
				if o.shard == shard && o.ch == in.ch {
					in.health = o.health
				}
			}
		}
		s.instances = append(s.instances, in)
		parts := []int{shard}
		if logical != nil {
			parts = logical(shard)
		}
		seen := map[int]bool{}
		for _, p := range parts {
			if seen[p] {
				continue
			}
			seen[p] = true
			lp := s.parts[p]
			if lp == nil {
				lp = &logicalPartition{}
				s.parts[p] = lp
			}
			lp.insts = append(lp.insts, in)
		}
	}
	s.view.Shards = shards
	s.view.Partitions = slices.Sorted(maps.Keys(s.parts))
	return s, nil
}

// CustomPartitioner is Finagle's CustomPartitioningStrategy on troupe: each call's request is
// mapped by its method's [CustomMethod].Partition to sub-requests by logical partition id (off
// the call's actor, since that may be slow), each sub-request goes to one of the instances
// serving its partition, the sub-calls run at once, and their answers are merged into the
// caller's response.
//
// The schema (which instances serve which logical partitions) is replaced with [Reshard]. That
// covers Finagle's three flavours: noResharding is never calling Reshard; resharding and
// clusterResharding are calling Reshard whenever the user's partitioning state or the cluster
// (its instances) changes, e.g. from a naming watch. A call keeps the schema it started with.
//
// It satisfies [actors.Channel] and is safe for concurrent use. A call's Controller has a Sub(i)
// per partition its request mapped to, in ascending partition id (nil for a partition no
// instance serves), whose RemoteSide names the instance that answered.
type CustomPartitioner struct {
	nest

	rt      *callrt.Runtime
	sys     *actors.System
	methods map[string]CustomMethod
	opts    CustomOptions
	icpt    *interception // the Interceptors; nil for none
	name    string
	schema  atomic.Pointer[customSchema]
	closed  atomic.Bool
	unshow  func()
	unwatch func()     // stops following a Shards, if built by one
	mu      sync.Mutex // serializes reshards

	calls, fanOut, subFailures, mergeFailures, reshards, ejections atomic.Int64
}

// NewCustomPartitioner returns a partitioner over instances (shard id -> a channel, plain,
// cluster or combo, to that instance), with the partitioning of each method it serves (by full
// method name, as given to Call). opts.Instances maps each shard id to the logical partitions it
// serves. It does not own the instances: Close leaves them open.
func NewCustomPartitioner(sys *actors.System, instances map[int]actors.Channel, methods map[string]CustomMethod, opts *CustomOptions) (*CustomPartitioner, error) {
	if _, err := runtimeOf(sys, "NewCustomPartitioner"); err != nil {
		return nil, err
	}
	for m, cm := range methods {
		if cm.Partition == nil {
			return nil, fmt.Errorf("combo: NewCustomPartitioner: method %q has no Partition", m)
		}
	}
	if len(instances) == 0 {
		return nil, errors.New("combo: NewCustomPartitioner: no instances")
	}
	return newCustomPartitioner(sys, instances, methods, opts)
}

// newCustomPartitioner builds a partitioner over instances; none is allowed (every partition
// then fails with ENODATA until Reshard).
func newCustomPartitioner(sys *actors.System, instances map[int]actors.Channel, methods map[string]CustomMethod, opts *CustomOptions) (*CustomPartitioner, error) {
	rt, err := runtimeOf(sys, "NewCustomPartitioner")
	if err != nil {
		return nil, err
	}
	var o CustomOptions
	if opts != nil {
		o = *opts
	}
	if o.FailureAccrual < 0 || o.Revive < 0 {
		return nil, fmt.Errorf("combo: CustomOptions FailureAccrual = %d, Revive = %v: want >= 0", o.FailureAccrual, o.Revive)
	}
	if o.FailureAccrual == 0 {
		o.FailureAccrual = DefaultFailureAccrual
	}
	if o.Revive == 0 {
		o.Revive = DefaultHashingRevive
	}
	s, err := newCustomSchema(instances, o.Instances, nil)
	if err != nil {
		return nil, fmt.Errorf("combo: NewCustomPartitioner: %w", err)
	}
	ic, err := newInterception("CustomOptions", o.Interceptors, o.Timeout, "custom partitioner")
	if err != nil {
		return nil, err
	}
	p := &CustomPartitioner{rt: rt, sys: sys, methods: make(map[string]CustomMethod, len(methods)), opts: o,
		name: fmt.Sprintf("custom-partitioner-%d", partitionerIDs.Add(1))}
	for m, cm := range methods {
		p.methods[m] = cm
	}
	p.schema.Store(s)
	p.unshow = rt.Show(p)
	p.icpt = ic
	p.nest = nestOf(p.spec, p.icpt)
	return p, nil
}

// Reshard atomically replaces the schema with instances (shard id -> channel), each serving the
// logical partitions logical returns for it (nil: its own shard id). Calls that start later use
// the new schema; calls in flight finish on the one they started with. The partitioner does not
// own the channels: closing the old ones is up to the caller, once the calls using them ended.
// It fails, leaving the schema alone, when instances is empty or holds a nil channel.
//
// A call takes the schema when it starts, before Partition runs. When Partition reads state
// that changes with the schema, a call that started just before Reshard may map a request onto
// a partition only the new schema serves; that sub-call fails with ENODATA. Requests whose
// partitions are decided before the call starts (as in Finagle, where the state and the schema
// change together per request) are not affected.
func (p *CustomPartitioner) Reshard(instances map[int]actors.Channel, logical func(shard int) []int) error {
	if p.rt == nil {
		return errNotInitialized("CustomPartitioner")
	}
	if len(instances) == 0 {
		return errors.New("combo: Reshard: no instances")
	}
	return p.reshard(instances, logical, false)
}

// reshard publishes the schema of instances; with skipSame, not when the instances are the
// current schema's (the logical partitions being the same function).
func (p *CustomPartitioner) reshard(instances map[int]actors.Channel, logical func(shard int) []int, skipSame bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.schema.Load()
	if skipSame && sameInstances(old, instances) {
		return nil
	}
	s, err := newCustomSchema(instances, logical, old)
	if err != nil {
		return fmt.Errorf("combo: Reshard: %w", err)
	}
	p.schema.Store(s)
	p.reshards.Add(1)
	return nil
}

// sameInstances reports whether s has exactly instances.
func sameInstances(s *customSchema, instances map[int]actors.Channel) bool {
	if len(s.instances) != len(instances) {
		return false
	}
	for _, in := range s.instances {
		if instances[in.shard] != in.ch {
			return false
		}
	}
	return true
}

// subResult records an instance's sub-call result for failure accrual.
func (p *CustomPartitioner) subResult(in *customInstance, err error) {
	ih := in.health
	if err == nil {
		ih.failures.Store(0)
		ih.ejectedUntil.Store(0)
		return
	}
	p.subFailures.Add(1)
	if e := wire.ErrnoOf(err); e == wire.ECANCELED || e == wire.EPCHANFINISH {
		return // stopped by its parent, not the instance's fault
	}
	n := ih.failures.Add(1)
	if !p.opts.EjectFailedInstance || int(n) < p.opts.FailureAccrual {
		return
	}
	now := time.Now()
	if until := ih.ejectedUntil.Load(); until == 0 || now.UnixNano() >= until {
		if ih.ejectedUntil.CompareAndSwap(until, now.Add(p.opts.Revive).UnixNano()) {
			p.ejections.Add(1)
		}
	}
}

// Ejected returns the shard ids of the instances now skipped by failure accrual, ascending.
func (p *CustomPartitioner) Ejected() []int {
	if p.rt == nil {
		return nil
	}
	now := time.Now().UnixNano()
	var out []int
	for _, in := range p.schema.Load().instances {
		if !in.health.available(now) {
			out = append(out, in.shard)
		}
	}
	return out
}

// Partitions returns the logical partition ids the current schema serves, ascending.
func (p *CustomPartitioner) Partitions() []int {
	if p.rt == nil {
		return nil
	}
	return slices.Clone(p.schema.Load().view.Partitions)
}

// Stats returns the partitioner's counters: "calls" (calls started), "fan_out" (sub-calls
// started or failed for want of an instance), "sub_call_failures", "merge_failures" (failed
// Partition and MergeResponses runs), "reshards" and "ejections" (instances ejected by failure
// accrual). [actors.System.Inspect] shows them too.
func (p *CustomPartitioner) Stats() map[string]int64 {
	return map[string]int64{
		"calls":             p.calls.Load(),
		"fan_out":           p.fanOut.Load(),
		"sub_call_failures": p.subFailures.Load(),
		"merge_failures":    p.mergeFailures.Load(),
		"reshards":          p.reshards.Load(),
		"ejections":         p.ejections.Load(),
	}
}

// Inspect returns the partitioner as [actors.System.Inspect] shows it: its counters, and a child
// per logical partition with the instances serving it.
func (p *CustomPartitioner) Inspect() *actors.Node {
	if p.rt == nil {
		return &actors.Node{Kind: "partitioner", State: "not initialized: make it with NewCustomPartitioner"}
	}
	state := "open"
	if p.closed.Load() {
		state = "closed"
	}
	s := p.schema.Load()
	n := &actors.Node{Kind: "partitioner", Name: p.name, Counters: p.Stats(),
		State: fmt.Sprintf("%s, %d logical partitions over %d instances", state, len(s.parts), len(s.instances))}
	now := time.Now().UnixNano()
	for _, id := range s.view.Partitions {
		lp := s.parts[id]
		shards := make([]string, len(lp.insts))
		ejected := 0
		for i, in := range lp.insts {
			shards[i] = strconv.Itoa(in.shard)
			if !in.health.available(now) {
				ejected++
				shards[i] += " (ejected)"
			}
		}
		n.Children = append(n.Children, &actors.Node{Kind: "partition", Name: fmt.Sprintf("logical-partition-%d", id),
			State:    "served by shards " + strings.Join(shards, ", "),
			Counters: map[string]int64{"instances": int64(len(lp.insts)), "ejected": int64(ejected)}})
	}
	n.Counters["partitions"] = int64(len(s.parts))
	n.Counters["instances"] = int64(len(s.instances))
	return n
}

// Call makes a partitioned call and waits for it. See [actors.Channel].
func (p *CustomPartitioner) Call(ctx context.Context, method string, req, resp proto.Message, cntl *actors.Controller) error {
	return p.Go(ctx, method, req, resp, cntl, nil).Wait()
}

// Go starts a partitioned call. See [actors.Channel].
func (p *CustomPartitioner) Go(ctx context.Context, method string, req, resp proto.Message, cntl *actors.Controller, done func(*actors.Controller)) *actors.Call {
	return goCall(p.rt, "CustomPartitioner", "NewCustomPartitioner", p.spec, p.icpt, ctx, method, req, resp, cntl, done)
}

func (p *CustomPartitioner) spec(method string, req, resp proto.Message, cntl *callrt.Controller) *callrt.Spec {
	return &callrt.Spec{Method: method, Request: req, Response: resp, Controller: cntl,
		Engine: &customCall{p: p}, Timeout: p.opts.Timeout, Target: "custom partitioner"}
}

// Close makes later calls fail with ErrClosed; calls in flight finish normally. The instances
// are not closed: their owner closes them. Close is idempotent.
func (p *CustomPartitioner) Close() error {
	if !p.closed.Swap(true) && p.rt != nil {
		p.unshow()
		if p.unwatch != nil {
			p.unwatch()
		}
	}
	return nil
}
