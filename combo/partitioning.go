package combo

import (
	"context"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spaolacci/murmur3"
	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/lb"
	"github.com/troupe-rpc/troupe/naming"
	"github.com/troupe-rpc/troupe/wire"
)

// Defaults of [HashingOptions], Finagle's.
const (
	DefaultHashingReps      = 160
	DefaultFailureAccrual   = 5
	DefaultHashingRevive    = 10 * time.Second
	defaultHashingPartition = "partition-%d"
)

// ErrNoPartitioningKeys is what a [*NoPartitioningKeysError] matches with errors.Is: the
// partitioner has no way to split the call's request into keys.
var ErrNoPartitioningKeys = errors.New("combo: no partitioning keys")

// NoPartitioningKeysError is the cause of a partitioned call whose method has no
// [PartitionedMethod], or whose Split returned no key: Finagle's NoPartitioningKeys. The call
// fails with wire.EREQUEST.
type NoPartitioningKeysError struct {
	Method string
}

// Error names the method.
func (e *NoPartitioningKeysError) Error() string {
	return "combo: no partitioning keys for method " + e.Method
}

// Is reports whether target is [ErrNoPartitioningKeys].
func (e *NoPartitioningKeysError) Is(target error) bool { return target == ErrNoPartitioningKeys }

// PartitionedMethod tells a [HashingPartitioner] how to partition the calls of one method, as a
// Finagle ClientHashingStrategy's getHashingKeyAndRequest, requestMergers and responseMergers do.
// The functions run in the call's actor and must not block.
type PartitionedMethod struct {
	// Split turns a request into sub-requests keyed by their partitioning key. Every key is
	// hashed onto the ring; the sub-requests of keys that land on one partition are combined
	// with MergeRequests. An empty map fails the call with a [*NoPartitioningKeysError].
	Split func(req proto.Message) (map[string]proto.Message, error)
	// MergeRequests combines the sub-requests bound for one partition, in key order. nil
	// allows only one sub-request per partition: more fail the call with EREQUEST.
	MergeRequests func(reqs []proto.Message) (proto.Message, error)
	// MergeResponses decides the call's result from the partitions' answers (in partition
	// order) and their failures: Finagle's (successes, failures) => Try[Response]. Its result
	// replaces the caller's response; an error fails the call (ERESPONSE unless it carries its
	// own code). nil fails the call with the first failure, or merges the successes with
	// proto.Merge.
	MergeResponses func(successes []proto.Message, failures []error) (proto.Message, error)
	// NewResponse returns the message a partition's answer goes into; nil uses a new message of
	// the caller's response type.
	NewResponse func() proto.Message
}

// HashingOptions configures a [HashingPartitioner], after Finagle's partitioning params. The
// zero value of a field means its default.
type HashingOptions struct {
	// NumReps is how many points each partition gets on the hash ring; higher is more even.
	// 0 means 160, Finagle's default.
	NumReps int
	// Hasher places the ring's points and hashes the keys. The zero value is lb.Murmur3
	// (MurmurHash3_x86_32, seed 0), so the default is Murmur3. A key is hashed as a point
	// would be: Murmur3 of the key string, or for MD5 and Ketama the first 4 bytes of its MD5
	// read little-endian.
	Hasher lb.Hasher
	// EjectFailedHost takes a partition off the ring after FailureAccrual consecutive failed
	// sub-calls, so that its keys go to the next partitions on the ring, until Revive passed or
	// it answers a sub-call in flight. With every partition ejected, the full ring is used.
	// Off by default, as in Finagle.
	EjectFailedHost bool
	// FailureAccrual is the number of consecutive failures that ejects a partition; 0 means 5.
	FailureAccrual int
	// Revive is how long an ejected partition stays off the ring; 0 means 10 s. A partition
	// returns on the first call that starts after it.
	Revive time.Duration
	// Timeout bounds a whole partitioned call when its context has no deadline and its
	// Controller no timeout; 0 means actors.DefaultTimeout (500 ms), negative none.
	Timeout time.Duration
}

// hashRing is a ring over some partitions: ring node i is partition parts[i].
type hashRing struct {
	ring  *lb.Ring
	parts []int
}

// partitionHealth is one partition's failure accrual.
type partitionHealth struct {
	failures atomic.Int32
	ejected  bool      // guarded by HashingPartitioner.mu
	until    time.Time // guarded by HashingPartitioner.mu
}

// HashingPartitioner is Finagle's HashingPartitioningStrategy on troupe: each call's request is
// split into keyed sub-requests ([PartitionedMethod]), each key is hashed onto a consistent-hashing
// ring of the partitions, the sub-requests of one partition are merged into one sub-call, the
// sub-calls run at once, and their answers are merged into the caller's response. Partition i
// is the ring node "partition-i", so the same partition list routes the same keys to the same
// partitions in every process. It satisfies [actors.Channel] and is safe for concurrent use.
type HashingPartitioner struct {
	sys     *actors.System
	parts   []actors.Channel
	methods map[string]PartitionedMethod
	opts    HashingOptions
	nodes   []naming.ServerNode
	full    *hashRing
	ring    atomic.Pointer[hashRing]
	health  []partitionHealth
	closed  atomic.Bool

	mu       sync.Mutex // guards ejections
	nejected int

	calls, fanOut, subFailures, mergeFailures, ringChanges atomic.Int64
}

// NewHashingPartitioner returns a partitioner over partitions, each a channel (plain, cluster or
// combo) to one partition, with the partitioning of each method it serves (by full method name,
// as given to Call). It does not own the partitions: Close leaves them open.
func NewHashingPartitioner(sys *actors.System, partitions []actors.Channel, methods map[string]PartitionedMethod, opts *HashingOptions) (*HashingPartitioner, error) {
	if sys == nil {
		return nil, errors.New("combo: NewHashingPartitioner: nil System")
	}
	if len(partitions) == 0 {
		return nil, errors.New("combo: NewHashingPartitioner: no partitions")
	}
	for i, ch := range partitions {
		if ch == nil {
			return nil, fmt.Errorf("combo: NewHashingPartitioner: partition %d is nil", i)
		}
	}
	for m, pm := range methods {
		if pm.Split == nil {
			return nil, fmt.Errorf("combo: NewHashingPartitioner: method %q has no Split", m)
		}
	}
	var o HashingOptions
	if opts != nil {
		o = *opts
	}
	if o.NumReps < 0 || o.FailureAccrual < 0 || o.Revive < 0 {
		return nil, fmt.Errorf("combo: HashingOptions NumReps = %d, FailureAccrual = %d, Revive = %v: want >= 0",
			o.NumReps, o.FailureAccrual, o.Revive)
	}
	switch o.Hasher {
	case lb.Murmur3, lb.MD5, lb.Ketama:
	default:
		return nil, fmt.Errorf("combo: HashingOptions.Hasher = %v: unknown", o.Hasher)
	}
	if o.NumReps == 0 {
		o.NumReps = DefaultHashingReps
	}
	if o.FailureAccrual == 0 {
		o.FailureAccrual = DefaultFailureAccrual
	}
	if o.Revive == 0 {
		o.Revive = DefaultHashingRevive
	}
	h := &HashingPartitioner{sys: sys, parts: slices.Clone(partitions), methods: make(map[string]PartitionedMethod, len(methods)),
		opts: o, nodes: PartitionNodes(len(partitions)), health: make([]partitionHealth, len(partitions))}
	for m, pm := range methods {
		h.methods[m] = pm
	}
	all := make([]int, len(partitions))
	for i := range all {
		all[i] = i
	}
	h.full = h.buildRing(all)
	h.ring.Store(h.full)
	return h, nil
}

// PartitionNodes returns the ring nodes of n partitions: "partition-0", "partition-1", ….
func PartitionNodes(n int) []naming.ServerNode {
	nodes := make([]naming.ServerNode, n)
	for i := range nodes {
		nodes[i] = naming.ServerNode{Addr: fmt.Sprintf(defaultHashingPartition, i)}
	}
	return nodes
}

func (h *HashingPartitioner) buildRing(parts []int) *hashRing {
	nodes := make([]naming.ServerNode, len(parts))
	for i, p := range parts {
		nodes[i] = h.nodes[p]
	}
	return &hashRing{ring: lb.NewRing(nodes, h.opts.NumReps, h.opts.Hasher), parts: parts}
}

// HashKey hashes a partitioning key as hasher places ring points: Murmur3 of the key, or for MD5
// and Ketama the first 4 bytes of its MD5 read little-endian.
func HashKey(hasher lb.Hasher, key string) uint32 {
	if hasher == lb.Murmur3 {
		// murmur3.Sum32 trips the race detector's checkptr (spaolacci/murmur3#34); the
		// streaming hasher computes the same sum safely.
		m := murmur3.New32()
		m.Write([]byte(key))
		return m.Sum32()
	}
	sum := md5.Sum([]byte(key))
	return binary.LittleEndian.Uint32(sum[:4])
}

// PartitionOf returns the partition that key routes to now (ejected partitions excluded).
func (h *HashingPartitioner) PartitionOf(key string) int {
	h.revive(time.Now())
	return h.lookup(h.ring.Load(), key)
}

func (h *HashingPartitioner) lookup(r *hashRing, key string) int {
	return r.parts[r.ring.Lookup(HashKey(h.opts.Hasher, key))]
}

// Ejected returns the partitions now off the ring, ascending.
func (h *HashingPartitioner) Ejected() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []int
	for i := range h.health {
		if h.health[i].ejected {
			out = append(out, i)
		}
	}
	return out
}

// Stats returns the partitioner's counters: "calls" (calls started), "fan_out" (sub-calls
// started), "sub_call_failures", "merge_failures" (failed splits and merges) and
// "ring_changes" (ejections and returns).
func (h *HashingPartitioner) Stats() map[string]int64 {
	return map[string]int64{
		"calls":             h.calls.Load(),
		"fan_out":           h.fanOut.Load(),
		"sub_call_failures": h.subFailures.Load(),
		"merge_failures":    h.mergeFailures.Load(),
		"ring_changes":      h.ringChanges.Load(),
	}
}

// subResult records a partition's sub-call result for failure accrual.
func (h *HashingPartitioner) subResult(part int, err error) {
	if err == nil {
		h.health[part].failures.Store(0)
		if h.opts.EjectFailedHost {
			h.mu.Lock()
			if h.health[part].ejected {
				h.setEjected(part, false, time.Time{})
			}
			h.mu.Unlock()
		}
		return
	}
	h.subFailures.Add(1)
	if e := wire.ErrnoOf(err); e == wire.ECANCELED || e == wire.EPCHANFINISH {
		return // stopped by its parent, not the partition's fault
	}
	n := h.health[part].failures.Add(1)
	if !h.opts.EjectFailedHost || int(n) < h.opts.FailureAccrual {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.health[part].ejected {
		h.setEjected(part, true, time.Now().Add(h.opts.Revive))
	}
}

// setEjected ejects or returns a partition and publishes the new ring; h.mu is held.
func (h *HashingPartitioner) setEjected(part int, ejected bool, until time.Time) {
	hp := &h.health[part]
	hp.ejected, hp.until = ejected, until
	if ejected {
		h.nejected++
	} else {
		h.nejected--
		hp.failures.Store(0)
	}
	h.ringChanges.Add(1)
	if h.nejected == 0 || h.nejected == len(h.parts) {
		h.ring.Store(h.full)
		return
	}
	live := make([]int, 0, len(h.parts)-h.nejected)
	for i := range h.health {
		if !h.health[i].ejected {
			live = append(live, i)
		}
	}
	h.ring.Store(h.buildRing(live))
}

// revive returns the ejected partitions whose Revive has passed.
func (h *HashingPartitioner) revive(now time.Time) {
	if !h.opts.EjectFailedHost {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.nejected == 0 {
		return
	}
	for i := range h.health {
		if hp := &h.health[i]; hp.ejected && !now.Before(hp.until) {
			h.setEjected(i, false, time.Time{})
		}
	}
}

// Call makes a partitioned call and waits for it. See [actors.Channel].
func (h *HashingPartitioner) Call(ctx context.Context, method string, req, resp proto.Message, cntl *actors.Controller) error {
	return h.Go(ctx, method, req, resp, cntl, nil).Wait()
}

// Go starts a partitioned call. See [actors.Channel].
func (h *HashingPartitioner) Go(ctx context.Context, method string, req, resp proto.Message, cntl *actors.Controller, done func(*actors.Controller)) *actors.Call {
	return h.sys.StartCall(ctx, h.spec(method, req, resp, cntl, done, nil, 0))
}

// StartChild starts a partitioned call as a child of parent. See [actors.Channel].
func (h *HashingPartitioner) StartChild(parent *actors.Call, index int, method string, req, resp proto.Message, cntl *actors.Controller) *actors.Call {
	return h.sys.StartCall(context.Background(), h.spec(method, req, resp, cntl, nil, parent, index))
}

func (h *HashingPartitioner) spec(method string, req, resp proto.Message, cntl *actors.Controller, done func(*actors.Controller), parent *actors.Call, index int) *actors.CallSpec {
	return &actors.CallSpec{Method: method, Request: req, Response: resp, Controller: cntl, Done: done,
		Engine: &hashingCall{h: h}, Timeout: h.opts.Timeout, Target: "hashing partitioner",
		Parent: parent, Index: index}
}

// Close makes later calls fail with ErrClosed; calls in flight finish normally. The partitions
// are not closed: their owner closes them. Close is idempotent.
func (h *HashingPartitioner) Close() error {
	h.closed.Store(true)
	return nil
}
