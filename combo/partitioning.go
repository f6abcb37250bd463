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
	"github.com/troupe-rpc/troupe/internal/callrt"
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
	// own code; one of the failures it was given, returned as is, fails the call unchanged).
	// nil fails the call with the first failure, or merges the successes with proto.Merge.
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
	// KeyHasher, when set, replaces Hasher with a hash function of the user's (Finagle's
	// pluggable KeyHasher): partition i's point j is at KeyHasher("partition-i-j") and a key
	// at KeyHasher(key). Every client of the same partitions must use the same function.
	KeyHasher func(key []byte) uint32
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
	// Interceptors run around every call of the channel, the first outermost (see
	// actors.Interceptor): around the whole partitioned call, Call and Go alike, and around the
	// sub-calls another combo channel makes on it. The sub-calls this channel makes happen
	// inside the last one's next, each through its sub-channel's own interceptors. None by
	// default; a nil element is an error.
	Interceptors []actors.Interceptor
}

// hashRing is a ring over some partitions: ring node i is the partition at position parts[i] of
// its hashState.
type hashRing struct {
	ring  *lb.Ring
	parts []int
}

// partitionHealth is one partition's failure accrual. It follows the partition id across
// reshards.
type partitionHealth struct {
	failures atomic.Int32
	ejected  bool      // guarded by HashingPartitioner.mu
	until    time.Time // guarded by HashingPartitioner.mu
}

// hashState is one set of partitions: ids ascending, chans[i] serving ids[i]. A call keeps the
// state it started with; Reshard publishes a new one.
type hashState struct {
	ids    []int
	chans  []actors.Channel
	health []*partitionHealth
	full   *hashRing                // every partition
	ring   atomic.Pointer[hashRing] // the partitions not ejected
}

// HashingPartitioner is Finagle's HashingPartitioningStrategy on troupe: each call's request is
// split into keyed sub-requests ([PartitionedMethod]), each key is hashed onto a consistent-hashing
// ring of the partitions, the sub-requests of one partition are merged into one sub-call, the
// sub-calls run at once, and their answers are merged into the caller's response. Partition id i
// is the ring node "partition-i", so the same partitions route the same keys to the same
// partitions in every process. [HashingPartitioner.Reshard] replaces the partitions (calls in
// flight finish on theirs); [Shards] does it as a naming service's servers change. It satisfies
// [actors.Channel], shows in [actors.System.Inspect] with its counters and partitions, and is
// safe for concurrent use. A call's Controller has a Sub(i) per partition it touched, in
// ascending partition id, whose RemoteSide names the server that answered.
type HashingPartitioner struct {
	nest

	rt      *callrt.Runtime
	sys     *actors.System
	methods map[string]PartitionedMethod
	opts    HashingOptions
	icpt    *interception // the Interceptors; nil for none
	name    string
	state   atomic.Pointer[hashState]
	closed  atomic.Bool
	unshow  func()
	unwatch func() // stops following a Shards, if built by one

	mu sync.Mutex // guards ejections and reshards

	calls, fanOut, subFailures, mergeFailures, ringChanges, reshards atomic.Int64
}

// partitionerIDs numbers the partitioners for Inspect.
var partitionerIDs atomic.Int64

// NewHashingPartitioner returns a partitioner over partitions, partition i being partitions[i]
// (a plain, cluster or combo channel), with the partitioning of each method it serves (by full
// method name, as given to Call). It does not own the partitions: Close leaves them open.
func NewHashingPartitioner(sys *actors.System, partitions []actors.Channel, methods map[string]PartitionedMethod, opts *HashingOptions) (*HashingPartitioner, error) {
	if len(partitions) == 0 {
		return nil, errors.New("combo: NewHashingPartitioner: no partitions")
	}
	byID := make(map[int]actors.Channel, len(partitions))
	for i, ch := range partitions {
		if ch == nil {
			return nil, fmt.Errorf("combo: NewHashingPartitioner: partition %d is nil", i)
		}
		byID[i] = ch
	}
	return newHashingPartitioner(sys, byID, methods, opts)
}

// newHashingPartitioner builds a partitioner over partitions by id; none is allowed (calls then
// fail with ENODATA until Reshard).
func newHashingPartitioner(sys *actors.System, partitions map[int]actors.Channel, methods map[string]PartitionedMethod, opts *HashingOptions) (*HashingPartitioner, error) {
	rt, err := runtimeOf(sys, "NewHashingPartitioner")
	if err != nil {
		return nil, err
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
	if err := checkPartitions(partitions); err != nil {
		return nil, fmt.Errorf("combo: NewHashingPartitioner: %w", err)
	}
	ic, err := newInterception("HashingOptions", o.Interceptors, o.Timeout, "hashing partitioner")
	if err != nil {
		return nil, err
	}
	h := &HashingPartitioner{rt: rt, sys: sys, methods: make(map[string]PartitionedMethod, len(methods)), opts: o,
		name: fmt.Sprintf("hashing-partitioner-%d", partitionerIDs.Add(1))}
	for m, pm := range methods {
		h.methods[m] = pm
	}
	h.state.Store(h.newState(partitions, nil))
	h.unshow = rt.Show(h)
	h.icpt = ic
	h.nest = nestOf(h.spec, h.icpt)
	return h, nil
}

// checkPartitions refuses nil channels and negative ids.
func checkPartitions(partitions map[int]actors.Channel) error {
	for id, ch := range partitions {
		if id < 0 {
			return fmt.Errorf("partition id %d is negative", id)
		}
		if ch == nil {
			return fmt.Errorf("partition %d is nil", id)
		}
	}
	return nil
}

// newState builds the state of partitions, keeping the failure accrual of the ids old has too.
func (h *HashingPartitioner) newState(partitions map[int]actors.Channel, old *hashState) *hashState {
	st := &hashState{}
	for id := range partitions {
		st.ids = append(st.ids, id)
	}
	slices.Sort(st.ids)
	for _, id := range st.ids {
		st.chans = append(st.chans, partitions[id])
		var hp *partitionHealth
		if old != nil {
			if i, ok := slices.BinarySearch(old.ids, id); ok {
				hp = old.health[i]
			}
		}
		if hp == nil {
			hp = &partitionHealth{}
		}
		st.health = append(st.health, hp)
	}
	all := make([]int, len(st.ids))
	for i := range all {
		all[i] = i
	}
	st.full = h.buildRing(st, all)
	h.publishRing(st)
	return st
}

// PartitionNodes returns the ring nodes of partitions 0 … n-1: "partition-0", "partition-1", ….
func PartitionNodes(n int) []naming.ServerNode {
	nodes := make([]naming.ServerNode, n)
	for i := range nodes {
		nodes[i] = partitionNode(i)
	}
	return nodes
}

func partitionNode(id int) naming.ServerNode {
	return naming.ServerNode{Addr: fmt.Sprintf(defaultHashingPartition, id)}
}

func (h *HashingPartitioner) buildRing(st *hashState, parts []int) *hashRing {
	if len(parts) == 0 {
		return &hashRing{}
	}
	nodes := make([]naming.ServerNode, len(parts))
	for i, p := range parts {
		nodes[i] = partitionNode(st.ids[p])
	}
	if h.opts.KeyHasher != nil {
		return &hashRing{ring: lb.NewRingFunc(nodes, h.opts.NumReps, h.opts.KeyHasher), parts: parts}
	}
	return &hashRing{ring: lb.NewRing(nodes, h.opts.NumReps, h.opts.Hasher), parts: parts}
}

// hashKey hashes a key as the ring's points are hashed.
func (h *HashingPartitioner) hashKey(key string) uint32 {
	if h.opts.KeyHasher != nil {
		return h.opts.KeyHasher([]byte(key))
	}
	return HashKey(h.opts.Hasher, key)
}

// hasherName names the hash function in Inspect.
func (h *HashingPartitioner) hasherName() string {
	if h.opts.KeyHasher != nil {
		return "custom"
	}
	return h.opts.Hasher.String()
}

// publishRing sets st's ring to its partitions that are not ejected, or to all of them when
// none or all are; h.mu is held (or st is not published yet).
func (h *HashingPartitioner) publishRing(st *hashState) {
	live := make([]int, 0, len(st.ids))
	for i, hp := range st.health {
		if !hp.ejected {
			live = append(live, i)
		}
	}
	if len(live) == 0 || len(live) == len(st.ids) {
		st.ring.Store(st.full)
		return
	}
	st.ring.Store(h.buildRing(st, live))
}

// Reshard replaces the partitions with partitions (partition id -> channel): keys are hashed
// onto the ring of the new ids from the next call on, while calls in flight finish on the
// partitions they started with. Failure accrual follows the ids that stay. The partitioner does
// not own the channels: closing the old ones is up to the caller, once the calls using them
// ended. It fails, leaving the partitions alone, when partitions is empty, holds a nil channel
// or a negative id.
func (h *HashingPartitioner) Reshard(partitions map[int]actors.Channel) error {
	if h.rt == nil {
		return errNotInitialized("HashingPartitioner")
	}
	if len(partitions) == 0 {
		return errors.New("combo: Reshard: no partitions")
	}
	if err := checkPartitions(partitions); err != nil {
		return fmt.Errorf("combo: Reshard: %w", err)
	}
	h.reshard(partitions)
	return nil
}

// reshard publishes the state of partitions unless they are the current ones.
func (h *HashingPartitioner) reshard(partitions map[int]actors.Channel) {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := h.state.Load()
	if len(old.ids) == len(partitions) {
		same := true
		for i, id := range old.ids {
			if partitions[id] != old.chans[i] {
				same = false
				break
			}
		}
		if same {
			return
		}
	}
	h.state.Store(h.newState(partitions, old))
	h.reshards.Add(1)
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

// PartitionOf returns the id of the partition that key routes to now (ejected partitions
// excluded), or -1 when there is no partition.
func (h *HashingPartitioner) PartitionOf(key string) int {
	if h.rt == nil {
		return -1
	}
	h.revive(time.Now())
	st := h.state.Load()
	pos, ok := h.lookup(st.ring.Load(), key)
	if !ok {
		return -1
	}
	return st.ids[pos]
}

// lookup returns the position of the partition key routes to on r.
func (h *HashingPartitioner) lookup(r *hashRing, key string) (int, bool) {
	if r.ring == nil {
		return 0, false
	}
	return r.parts[r.ring.Lookup(h.hashKey(key))], true
}

// Partitions returns the partition ids, ascending.
func (h *HashingPartitioner) Partitions() []int {
	if h.rt == nil {
		return nil
	}
	return slices.Clone(h.state.Load().ids)
}

// Ejected returns the ids of the partitions now off the ring, ascending.
func (h *HashingPartitioner) Ejected() []int {
	if h.rt == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	st := h.state.Load()
	var out []int
	for i, hp := range st.health {
		if hp.ejected {
			out = append(out, st.ids[i])
		}
	}
	return out
}

// Stats returns the partitioner's counters: "calls" (calls started), "fan_out" (sub-calls
// started), "sub_call_failures", "merge_failures" (failed splits and merges), "ring_changes"
// (ejections and returns) and "reshards". [actors.System.Inspect] shows them too.
func (h *HashingPartitioner) Stats() map[string]int64 {
	return map[string]int64{
		"calls":             h.calls.Load(),
		"fan_out":           h.fanOut.Load(),
		"sub_call_failures": h.subFailures.Load(),
		"merge_failures":    h.mergeFailures.Load(),
		"ring_changes":      h.ringChanges.Load(),
		"reshards":          h.reshards.Load(),
	}
}

// Inspect returns the partitioner as [actors.System.Inspect] shows it: its counters, and a child
// per partition with its failure accrual.
func (h *HashingPartitioner) Inspect() *actors.Node {
	if h.rt == nil {
		return &actors.Node{Kind: "partitioner", State: "not initialized: make it with NewHashingPartitioner"}
	}
	state := "open"
	if h.closed.Load() {
		state = "closed"
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	st := h.state.Load()
	n := &actors.Node{Kind: "partitioner", Name: h.name, Counters: h.Stats(),
		State: fmt.Sprintf("%s, %d partitions on a %s ring of %d reps", state, len(st.ids), h.hasherName(), h.opts.NumReps)}
	ejected := 0
	for i, hp := range st.health {
		pn := &actors.Node{Kind: "partition", Name: partitionNode(st.ids[i]).Addr, State: "on the ring",
			Counters: map[string]int64{"consecutive_failures": int64(hp.failures.Load())}}
		if hp.ejected {
			ejected++
			pn.State = "ejected until " + hp.until.Format(time.RFC3339Nano)
		}
		n.Children = append(n.Children, pn)
	}
	n.Counters["partitions"] = int64(len(st.ids))
	n.Counters["ejected"] = int64(ejected)
	return n
}

// subResult records a partition's sub-call result for failure accrual.
func (h *HashingPartitioner) subResult(hp *partitionHealth, err error) {
	if err == nil {
		hp.failures.Store(0)
		if h.opts.EjectFailedHost {
			h.mu.Lock()
			if hp.ejected {
				h.setEjected(hp, false, time.Time{})
			}
			h.mu.Unlock()
		}
		return
	}
	h.subFailures.Add(1)
	if e := wire.ErrnoOf(err); e == wire.ECANCELED || e == wire.EPCHANFINISH {
		return // stopped by its parent, not the partition's fault
	}
	n := hp.failures.Add(1)
	if !h.opts.EjectFailedHost || int(n) < h.opts.FailureAccrual {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !hp.ejected {
		h.setEjected(hp, true, time.Now().Add(h.opts.Revive))
	}
}

// setEjected ejects or returns a partition and publishes the new ring; h.mu is held.
func (h *HashingPartitioner) setEjected(hp *partitionHealth, ejected bool, until time.Time) {
	hp.ejected, hp.until = ejected, until
	if !ejected {
		hp.failures.Store(0)
	}
	h.ringChanges.Add(1)
	h.publishRing(h.state.Load())
}

// revive returns the ejected partitions whose Revive has passed.
func (h *HashingPartitioner) revive(now time.Time) {
	if !h.opts.EjectFailedHost {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, hp := range h.state.Load().health {
		if hp.ejected && !now.Before(hp.until) {
			h.setEjected(hp, false, time.Time{})
		}
	}
}

// Call makes a partitioned call and waits for it. See [actors.Channel].
func (h *HashingPartitioner) Call(ctx context.Context, method string, req, resp proto.Message, cntl *actors.Controller) error {
	return h.Go(ctx, method, req, resp, cntl, nil).Wait()
}

// Go starts a partitioned call. See [actors.Channel].
func (h *HashingPartitioner) Go(ctx context.Context, method string, req, resp proto.Message, cntl *actors.Controller, done func(*actors.Controller)) *actors.Call {
	return goCall(h.rt, "HashingPartitioner", "NewHashingPartitioner", h.spec, h.icpt, ctx, method, req, resp, cntl, done)
}

func (h *HashingPartitioner) spec(method string, req, resp proto.Message, cntl *callrt.Controller) *callrt.Spec {
	return &callrt.Spec{Method: method, Request: req, Response: resp, Controller: cntl,
		Engine: &hashingCall{h: h}, Timeout: h.opts.Timeout, Target: "hashing partitioner"}
}

// Close makes later calls fail with ErrClosed; calls in flight finish normally. The partitions
// are not closed: their owner closes them (the [Shards] that built the partitioner, if one did).
// Close is idempotent.
func (h *HashingPartitioner) Close() error {
	if !h.closed.Swap(true) && h.rt != nil {
		h.unshow()
		if h.unwatch != nil {
			h.unwatch()
		}
	}
	return nil
}
