package combo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
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
	// (it may look something up remotely): it runs on a goroutine of its own, off the call's
	// actor, and ctx is cancelled when the call ends (deadline, cancel, or any finish), so it
	// should return soon after. An empty map fails the call with a [*NoPartitioningKeysError];
	// an error fails it with EREQUEST unless the error carries its own code.
	Partition func(ctx context.Context, req proto.Message) (map[int]proto.Message, error)
	// MergeResponses decides the call's result from the partitions' answers and failures, each
	// in ascending partition id: Finagle's (successes, failures) => Try[Response]. A partition
	// that no instance serves shows up as a failure with wire.ENODATA. It runs in the call's
	// actor and must not block. Its result replaces the caller's response; an error fails the
	// call (ERESPONSE unless it carries its own code). nil fails the call with the first
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
}

// logicalPartition is the instances serving one logical partition.
type logicalPartition struct {
	chans []actors.Channel // ascending shard id
	next  atomic.Uint64
}

// pick returns the instance for the next sub-call of the partition, round robin.
func (lp *logicalPartition) pick() actors.Channel {
	return lp.chans[(lp.next.Add(1)-1)%uint64(len(lp.chans))]
}

// customSchema is one partitioning schema: logical partition id -> its instances. It does not
// change once published.
type customSchema struct {
	parts     map[int]*logicalPartition
	instances int
}

func newCustomSchema(instances map[int]actors.Channel, logical func(shard int) []int) (*customSchema, error) {
	if len(instances) == 0 {
		return nil, errors.New("no instances")
	}
	shards := make([]int, 0, len(instances))
	for shard, ch := range instances {
		if ch == nil {
			return nil, fmt.Errorf("instance %d is nil", shard)
		}
		shards = append(shards, shard)
	}
	slices.Sort(shards)
	s := &customSchema{parts: map[int]*logicalPartition{}, instances: len(instances)}
	for _, shard := range shards {
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
			lp.chans = append(lp.chans, instances[shard])
		}
	}
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
// It satisfies [actors.Channel] and is safe for concurrent use.
type CustomPartitioner struct {
	sys     *actors.System
	methods map[string]CustomMethod
	opts    CustomOptions
	schema  atomic.Pointer[customSchema]
	closed  atomic.Bool

	calls, fanOut, subFailures, mergeFailures, reshards atomic.Int64
}

// NewCustomPartitioner returns a partitioner over instances (shard id -> a channel, plain,
// cluster or combo, to that instance), with the partitioning of each method it serves (by full
// method name, as given to Call). opts.Instances maps each shard id to the logical partitions it
// serves. It does not own the instances: Close leaves them open.
func NewCustomPartitioner(sys *actors.System, instances map[int]actors.Channel, methods map[string]CustomMethod, opts *CustomOptions) (*CustomPartitioner, error) {
	if sys == nil {
		return nil, errors.New("combo: NewCustomPartitioner: nil System")
	}
	for m, cm := range methods {
		if cm.Partition == nil {
			return nil, fmt.Errorf("combo: NewCustomPartitioner: method %q has no Partition", m)
		}
	}
	var o CustomOptions
	if opts != nil {
		o = *opts
	}
	s, err := newCustomSchema(instances, o.Instances)
	if err != nil {
		return nil, fmt.Errorf("combo: NewCustomPartitioner: %w", err)
	}
	p := &CustomPartitioner{sys: sys, methods: make(map[string]CustomMethod, len(methods)), opts: o}
	for m, cm := range methods {
		p.methods[m] = cm
	}
	p.schema.Store(s)
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
	s, err := newCustomSchema(instances, logical)
	if err != nil {
		return fmt.Errorf("combo: Reshard: %w", err)
	}
	p.schema.Store(s)
	p.reshards.Add(1)
	return nil
}

// Partitions returns the logical partition ids the current schema serves, ascending.
func (p *CustomPartitioner) Partitions() []int {
	s := p.schema.Load()
	out := make([]int, 0, len(s.parts))
	for id := range s.parts {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// Stats returns the partitioner's counters: "calls" (calls started), "fan_out" (sub-calls
// started or failed for want of an instance), "sub_call_failures", "merge_failures" (failed
// Partition and MergeResponses runs) and "reshards".
func (p *CustomPartitioner) Stats() map[string]int64 {
	return map[string]int64{
		"calls":             p.calls.Load(),
		"fan_out":           p.fanOut.Load(),
		"sub_call_failures": p.subFailures.Load(),
		"merge_failures":    p.mergeFailures.Load(),
		"reshards":          p.reshards.Load(),
	}
}

// Call makes a partitioned call and waits for it. See [actors.Channel].
func (p *CustomPartitioner) Call(ctx context.Context, method string, req, resp proto.Message, cntl *actors.Controller) error {
	return p.Go(ctx, method, req, resp, cntl, nil).Wait()
}

// Go starts a partitioned call. See [actors.Channel].
func (p *CustomPartitioner) Go(ctx context.Context, method string, req, resp proto.Message, cntl *actors.Controller, done func(*actors.Controller)) *actors.Call {
	return p.sys.StartCall(ctx, p.spec(method, req, resp, cntl, done, nil, 0))
}

// StartChild starts a partitioned call as a child of parent. See [actors.Channel].
func (p *CustomPartitioner) StartChild(parent *actors.Call, index int, method string, req, resp proto.Message, cntl *actors.Controller) *actors.Call {
	return p.sys.StartCall(context.Background(), p.spec(method, req, resp, cntl, nil, parent, index))
}

func (p *CustomPartitioner) spec(method string, req, resp proto.Message, cntl *actors.Controller, done func(*actors.Controller), parent *actors.Call, index int) *actors.CallSpec {
	return &actors.CallSpec{Method: method, Request: req, Response: resp, Controller: cntl, Done: done,
		Engine: &customCall{p: p}, Timeout: p.opts.Timeout, Target: "custom partitioner",
		Parent: parent, Index: index}
}

// Close makes later calls fail with ErrClosed; calls in flight finish normally. The instances
// are not closed: their owner closes them. Close is idempotent.
func (p *CustomPartitioner) Close() error {
	p.closed.Store(true)
	return nil
}
