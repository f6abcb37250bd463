package combo_test

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/actorstest"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/lb"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// keyedEcho partitions echo calls whose message is a comma-separated list of keys: one
// sub-request per key, merged per partition by joining keys, and the answers merged into
// "index:keys;index:keys" (successes in partition order), with "|failed=N" when some failed.
func keyedEcho() map[string]combo.PartitionedMethod {
	return map[string]combo.PartitionedMethod{echoservice.Method: {
		Split: func(req proto.Message) (map[string]proto.Message, error) {
			out := map[string]proto.Message{}
			for _, k := range strings.Split(req.(*echopb.EchoRequest).GetMessage(), ",") {
				if k != "" {
					out[k] = echoReq(k)
				}
			}
			return out, nil
		},
		MergeRequests: func(reqs []proto.Message) (proto.Message, error) {
			keys := make([]string, len(reqs))
			for i, r := range reqs {
				keys[i] = r.(*echopb.EchoRequest).GetMessage()
			}
			return echoReq(strings.Join(keys, ",")), nil
		},
		MergeResponses: func(succ []proto.Message, fails []error) (proto.Message, error) {
			if len(succ) == 0 {
				return nil, errors.Join(fails...)
			}
			parts := make([]string, len(succ))
			for i, s := range succ {
				r := s.(*echopb.EchoResponse)
				parts[i] = fmt.Sprintf("%d:%s", r.GetServerIndex(), r.GetMessage())
			}
			msg := strings.Join(parts, ";")
			if len(fails) > 0 {
				msg += fmt.Sprintf("|failed=%d", len(fails))
			}
			return &echopb.EchoResponse{Message: proto.String(msg)}, nil
		},
		NewResponse: func() proto.Message { return &echopb.EchoResponse{} },
	}}
}

// partitionCluster starts n echo servers (nil addrs entries become servers; dead ones are given)
// and returns their services and plain channels, closed when the test ends.
func partitionCluster(t *testing.T, sys *actors.System, addrs []string) ([]*echoservice.Service, []actors.Channel) {
	t.Helper()
	svcs := make([]*echoservice.Service, len(addrs))
	chans := make([]actors.Channel, len(addrs))
	for i, a := range addrs {
		if a == "" {
			svcs[i] = &echoservice.Service{Index: int32(i)}
			a = startEcho(t, svcs[i])
		}
		ch := plain(t, sys, a, &actors.ChannelOptions{MaxRetry: actors.NoRetry})
		t.Cleanup(func() { ch.Close() })
		chans[i] = ch
	}
	return svcs, chans
}

func newPartitioner(t *testing.T, sys *actors.System, chans []actors.Channel, opts *combo.HashingOptions) *combo.HashingPartitioner {
	t.Helper()
	if opts == nil {
		opts = &combo.HashingOptions{}
	}
	if opts.Timeout == 0 {
		opts.Timeout = testTimeout
	}
	h, err := combo.NewHashingPartitioner(sys, chans, keyedEcho(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func callKeys(t *testing.T, h *combo.HashingPartitioner, keys ...string) (string, error) {
	t.Helper()
	var resp echopb.EchoResponse
	err := h.Call(context.Background(), echoservice.Method, echoReq(strings.Join(keys, ",")), &resp, nil)
	return resp.GetMessage(), err
}

func TestHashingPartitionerStableRouting(t *testing.T) {
	addrs := make([]string, 4)
	for i := range addrs {
		addrs[i] = startEcho(t, &echoservice.Service{Index: int32(i)})
	}
	// Two "processes": separate Systems, channels and partitioners over the same partition list.
	var hs [2]*combo.HashingPartitioner
	var systems [2]*actors.System
	for p := range hs {
		systems[p] = newSystem(t)
		_, chans := partitionCluster(t, systems[p], addrs)
		hs[p] = newPartitioner(t, systems[p], chans, nil)
	}
	seen := map[int]bool{}
	for i := range 40 {
		key := fmt.Sprintf("user-%d", i)
		var got [2]string
		for p, h := range hs {
			msg, err := callKeys(t, h, key)
			if err != nil {
				t.Fatalf("process %d, key %s: %v", p, key, err)
			}
			got[p] = msg
		}
		want := fmt.Sprintf("%d:%s", hs[0].PartitionOf(key), key)
		if got[0] != want || got[1] != want {
			t.Fatalf("key %s: process answers %q and %q, want %q", key, got[0], got[1], want)
		}
		seen[hs[0].PartitionOf(key)] = true
	}
	if len(seen) < 2 {
		t.Errorf("40 keys all routed to partitions %v", seen)
	}
	for p, h := range hs {
		if s := h.Stats(); s["calls"] != 40 || s["fan_out"] != 40 || s["sub_call_failures"] != 0 {
			t.Errorf("process %d: Stats = %v", p, s)
		}
		noCallsLeft(t, systems[p])
	}
}

func TestHashingPartitionerFanOut(t *testing.T) {
	sys := newSystem(t)
	svcs, chans := partitionCluster(t, sys, make([]string, 3))
	h := newPartitioner(t, sys, chans, nil)
	keys := make([]string, 30)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%02d", i)
	}
	msg, err := callKeys(t, h, keys...)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, part := range strings.Split(msg, ";") {
		var idx int
		var ks string
		if _, err := fmt.Sscanf(part, "%d:%s", &idx, &ks); err != nil {
			t.Fatalf("answer %q: %v", msg, err)
		}
		for _, k := range strings.Split(ks, ",") {
			if p := h.PartitionOf(k); p != idx {
				t.Errorf("key %s answered by server %d, routes to partition %d", k, idx, p)
			}
			got = append(got, k)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, keys) {
		t.Errorf("merged keys = %v, want %v", got, keys)
	}
	for i, s := range svcs {
		if n := s.Requests(); n != 1 {
			t.Errorf("partition %d got %d sub-calls, want 1", i, n)
		}
	}
	if s := h.Stats(); s["calls"] != 1 || s["fan_out"] != 3 {
		t.Errorf("Stats = %v", s)
	}
	noCallsLeft(t, sys)
}

func TestHashingPartitionerPartialFailure(t *testing.T) {
	sys := newSystem(t)
	_, chans := partitionCluster(t, sys, []string{"", "", actorstest.DeadAddr(t)})
	h := newPartitioner(t, sys, chans, nil)
	keys := make([]string, 30)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%02d", i)
	}
	msg, err := callKeys(t, h, keys...)
	if err != nil {
		t.Fatal(err)
	}
	succ, failed, ok := strings.Cut(msg, "|")
	if !ok || failed != "failed=1" {
		t.Fatalf("answer %q: want one failure", msg)
	}
	if n := len(strings.Split(succ, ";")); n != 2 {
		t.Errorf("answer %q: %d successes, want 2", msg, n)
	}
	if s := h.Stats(); s["sub_call_failures"] != 1 || s["ring_changes"] != 0 {
		t.Errorf("Stats = %v", s)
	}
	// Every partition failing: MergeResponses fails the call with the failures.
	var dead string
	for i := 0; ; i++ {
		if k := fmt.Sprintf("x%d", i); h.PartitionOf(k) == 2 {
			dead = k
			break
		}
	}
	if _, err := callKeys(t, h, dead); err == nil || wire.ErrnoOf(err) == 0 {
		t.Errorf("call to a dead partition: err = %v, want a coded error", err)
	}
	if s := h.Stats(); s["merge_failures"] != 1 {
		t.Errorf("Stats = %v", s)
	}
	noCallsLeft(t, sys)
}

func TestHashingPartitionerNoKeys(t *testing.T) {
	sys := newSystem(t)
	_, chans := partitionCluster(t, sys, make([]string, 2))
	h := newPartitioner(t, sys, chans, nil)
	var resp echopb.EchoResponse
	err := h.Call(context.Background(), "example.EchoService.Other", echoReq("a"), &resp, nil)
	var nk *combo.NoPartitioningKeysError
	if !errors.Is(err, combo.ErrNoPartitioningKeys) || !errors.As(err, &nk) || nk.Method != "example.EchoService.Other" {
		t.Fatalf("err = %v, want NoPartitioningKeysError", err)
	}
	if c := wire.ErrnoOf(err); c != wire.EREQUEST {
		t.Errorf("code = %v, want EREQUEST", c)
	}
	// No key at all is the same error.
	if _, err := callKeys(t, h); !errors.Is(err, combo.ErrNoPartitioningKeys) {
		t.Errorf("empty key list: err = %v", err)
	}
	noCallsLeft(t, sys)
}

func TestHashingPartitionerPanics(t *testing.T) {
	sys := newSystem(t)
	_, chans := partitionCluster(t, sys, make([]string, 2))
	for _, tc := range []struct {
		name string
		mod  func(*combo.PartitionedMethod)
		code wire.Errno
	}{
		{"Split", func(m *combo.PartitionedMethod) {
			m.Split = func(proto.Message) (map[string]proto.Message, error) { panic("boom") }
		}, wire.EREQUEST},
		{"MergeRequests", func(m *combo.PartitionedMethod) {
			m.MergeRequests = func([]proto.Message) (proto.Message, error) { panic("boom") }
		}, wire.EREQUEST},
		{"MergeResponses", func(m *combo.PartitionedMethod) {
			m.MergeResponses = func([]proto.Message, []error) (proto.Message, error) { panic("boom") }
		}, wire.ERESPONSE},
	} {
		t.Run(tc.name, func(t *testing.T) {
			methods := keyedEcho()
			m := methods[echoservice.Method]
			tc.mod(&m)
			methods[echoservice.Method] = m
			h, err := combo.NewHashingPartitioner(sys, chans, methods, &combo.HashingOptions{Timeout: testTimeout})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			keys := make([]string, 20)
			for i := range keys {
				keys[i] = fmt.Sprint(i)
			}
			_, err = callKeys(t, h, keys...)
			if wire.ErrnoOf(err) != tc.code || !strings.Contains(err.Error(), "panicked: boom") {
				t.Errorf("err = %v, want %v with the panic", err, tc.code)
			}
			if s := h.Stats(); s["merge_failures"] != 1 {
				t.Errorf("Stats = %v", s)
			}
		})
	}
	noCallsLeft(t, sys)
}

func TestHashingPartitionerEjectAndRevive(t *testing.T) {
	sys := newSystem(t)
	_, chans := partitionCluster(t, sys, []string{"", "", actorstest.DeadAddr(t)})
	const revive = 500 * time.Millisecond
	h := newPartitioner(t, sys, chans, &combo.HashingOptions{EjectFailedHost: true, FailureAccrual: 2, Revive: revive})
	var key string
	for i := 0; ; i++ {
		if k := fmt.Sprintf("x%d", i); h.PartitionOf(k) == 2 {
			key = k
			break
		}
	}
	// The ejection happens during these calls: it holds at least until Revive after this.
	beforeEjection := time.Now()
	for i := range 2 {
		if _, err := callKeys(t, h, key); err == nil {
			t.Fatalf("call %d to the dead partition succeeded", i)
		}
	}
	if got := h.Ejected(); !slices.Equal(got, []int{2}) {
		t.Fatalf("Ejected = %v, want [2]", got)
	}
	p := h.PartitionOf(key)
	msg, err := callKeys(t, h, key)
	if time.Since(beforeEjection) < revive { // else the partition may be back already
		if p == 2 {
			t.Fatalf("key %s still routes to the ejected partition", key)
		}
		if err != nil || msg != fmt.Sprintf("%d:%s", p, key) {
			t.Fatalf("after ejection: %q, %v; want partition %d", msg, err, p)
		}
	}
	if s := h.Stats(); s["ring_changes"] < 1 {
		t.Errorf("Stats = %v", s)
	}
	waitFor(t, "the ejected partition to revive", func() bool { return h.PartitionOf(key) == 2 })
	if d := time.Since(beforeEjection); d < revive {
		t.Errorf("partition 2 revived %v after the calls that ejected it began, before Revive (%v) passed", d, revive)
	}
	if got := h.Ejected(); len(got) != 0 {
		t.Errorf("after Revive Ejected = %v", got)
	}
	if s := h.Stats(); s["ring_changes"] != 2 {
		t.Errorf("Stats = %v, want 2 ring changes", s)
	}
	noCallsLeft(t, sys)
}

func TestHashingPartitionerAllEjected(t *testing.T) {
	sys := newSystem(t)
	_, chans := partitionCluster(t, sys, []string{actorstest.DeadAddr(t), actorstest.DeadAddr(t)})
	h := newPartitioner(t, sys, chans, &combo.HashingOptions{EjectFailedHost: true, FailureAccrual: 1, Revive: time.Hour})
	before := h.PartitionOf("k")
	keys := make([]string, 20)
	for i := range keys {
		keys[i] = fmt.Sprint(i)
	}
	if _, err := callKeys(t, h, keys...); err == nil {
		t.Fatal("call to dead partitions succeeded")
	}
	if got := h.Ejected(); len(got) != 2 {
		t.Fatalf("Ejected = %v, want both", got)
	}
	if after := h.PartitionOf("k"); after != before {
		t.Errorf("with every partition ejected, k routes to %d, want %d (the full ring)", after, before)
	}
	noCallsLeft(t, sys)
}

func TestHashingPartitionerTimeout(t *testing.T) {
	sys := newSystem(t)
	// The slow server holds its requests for a minute (or until it shuts down): a call that
	// waited for its sub-calls would take that long.
	slow := &echoservice.Service{Index: 1, Sleep: time.Minute}
	addrs := []string{"", startEcho(t, slow)}
	_, chans := partitionCluster(t, sys, addrs)
	h := newPartitioner(t, sys, chans, &combo.HashingOptions{Timeout: 100 * time.Millisecond, EjectFailedHost: true, FailureAccrual: 1})
	keys := make([]string, 20)
	for i := range keys {
		keys[i] = fmt.Sprint(i)
	}
	start := time.Now()
	_, err := callKeys(t, h, keys...)
	if wire.ErrnoOf(err) != wire.ERPCTIMEDOUT {
		t.Fatalf("err = %v, want ERPCTIMEDOUT", err)
	}
	if d := time.Since(start); d > testTimeout/2 {
		t.Errorf("the call took %v, want about its 100ms timeout: its sub-calls were not stopped", d)
	}
	// A sub-call stopped by its parent is no failure of its partition.
	if got := h.Ejected(); len(got) != 0 {
		t.Errorf("Ejected = %v after a timeout", got)
	}
	noCallsLeft(t, sys)
}

func TestHashingPartitionerNested(t *testing.T) {
	sys := newSystem(t)
	_, chans := partitionCluster(t, sys, make([]string, 3))
	h := newPartitioner(t, sys, chans, nil)
	p, err := combo.NewParallelChannel(sys, &combo.ParallelOptions{Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.AddChannel(h, combo.DoesntOwnChannel, nil, nil); err != nil {
		t.Fatal(err)
	}
	var resp echopb.EchoResponse
	if err := p.Call(context.Background(), echoservice.Method, echoReq("a,b,c,d,e,f"), &resp, nil); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(resp.GetMessage(), ":"); n < 1 || strings.Count(resp.GetMessage(), ",")+strings.Count(resp.GetMessage(), ";") != 5 {
		t.Errorf("nested answer %q", resp.GetMessage())
	}
	noCallsLeft(t, sys)
}

// ringBalance returns max/mean of the keys per partition of a ring over n partitions.
func ringBalance(n int, h lb.Hasher) float64 {
	ring := lb.NewRing(combo.PartitionNodes(n), combo.DefaultHashingReps, h)
	rnd := rand.New(rand.NewPCG(1, 2))
	counts := make([]int, n)
	const keys = 100_000
	for range keys {
		counts[ring.Lookup(combo.HashKey(h, fmt.Sprintf("key-%d", rnd.Uint64())))]++
	}
	return float64(slices.Max(counts)) / (float64(keys) / float64(n))
}

func TestHashingRingBalance(t *testing.T) {
	for _, tc := range []struct {
		n     int
		limit float64
	}{{10, 1.15}, {100, 1.25}} {
		for _, h := range []lb.Hasher{lb.Murmur3, lb.MD5, lb.Ketama} {
			r := ringBalance(tc.n, h)
			t.Logf("%d partitions, %v: max/mean = %.3f", tc.n, h, r)
			if h == lb.Murmur3 && r > tc.limit {
				t.Errorf("%d partitions, %v: max/mean = %.3f, want <= %.2f", tc.n, h, r, tc.limit)
			}
		}
	}
}

func BenchmarkHashingRing(b *testing.B) {
	b.Run("build10", func(b *testing.B) {
		nodes := combo.PartitionNodes(10)
		b.ReportAllocs()
		for b.Loop() {
			lb.NewRing(nodes, combo.DefaultHashingReps, lb.Murmur3)
		}
	})
	b.Run("lookup10", func(b *testing.B) {
		ring := lb.NewRing(combo.PartitionNodes(10), combo.DefaultHashingReps, lb.Murmur3)
		keys := make([]string, 1024)
		for i := range keys {
			keys[i] = fmt.Sprintf("key-%d", i)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			ring.Lookup(combo.HashKey(lb.Murmur3, keys[i&1023]))
			i++
		}
	})
}

// Reshard moves keys only to a new partition, keeps the calls in flight on theirs, refuses bad
// partition sets, and Inspect shows the partitioner until it closes.
func TestHashingPartitionerReshard(t *testing.T) {
	sys := newSystem(t)
	slow := &echoservice.Service{Index: 1, Sleep: 200 * time.Millisecond}
	addrs := []string{"", startEcho(t, slow), "", ""}
	_, chans := partitionCluster(t, sys, addrs)
	h := newPartitioner(t, sys, chans[:3], nil)
	var slowKey string
	for i := 0; slowKey == ""; i++ {
		if k := fmt.Sprintf("s%d", i); h.PartitionOf(k) == 1 {
			slowKey = k
		}
	}
	var inflight echopb.EchoResponse
	call := h.Go(context.Background(), echoservice.Method, echoReq(slowKey), &inflight, nil, nil)
	before := map[string]int{}
	for i := range 100 {
		k := fmt.Sprintf("k%d", i)
		before[k] = h.PartitionOf(k)
	}
	// Partition 1 leaves, partition 3 comes: the call in flight still answers from 1.
	if err := h.Reshard(map[int]actors.Channel{0: chans[0], 2: chans[2], 3: chans[3]}); err != nil {
		t.Fatal(err)
	}
	if got := h.Partitions(); !slices.Equal(got, []int{0, 2, 3}) {
		t.Fatalf("Partitions = %v", got)
	}
	for k, p := range before {
		now := h.PartitionOf(k)
		if p != 1 && now != p && now != 3 {
			t.Errorf("key %s moved from %d to %d, want it to stay or go to 3", k, p, now)
		}
		msg, err := callKeys(t, h, k)
		if err != nil || msg != fmt.Sprintf("%d:%s", now, k) {
			t.Fatalf("key %s: %q, %v; want partition %d", k, msg, err, now)
		}
	}
	if err := call.Wait(); err != nil || inflight.GetMessage() != "1:"+slowKey {
		t.Errorf("call in flight across Reshard: %v, %v; want the answer of partition 1", err, &inflight)
	}
	for _, bad := range []map[int]actors.Channel{nil, {0: nil}, {-1: chans[0]}} {
		if err := h.Reshard(bad); err == nil {
			t.Errorf("Reshard(%v) succeeded", bad)
		}
	}
	if got := h.Partitions(); !slices.Equal(got, []int{0, 2, 3}) {
		t.Errorf("after refused reshards Partitions = %v", got)
	}

	node := sys.Inspect().Find(func(n *actors.Node) bool { return n.Kind == "partitioner" })
	if node == nil {
		t.Fatalf("no partitioner in Inspect:\n%s", sys.Inspect())
	}
	if node.Counters["partitions"] != 3 || node.Counters["reshards"] != 1 || node.Counters["calls"] != 101 || len(node.Children) != 3 {
		t.Errorf("Inspect shows %+v with %d children", node.Counters, len(node.Children))
	}
	if s := node.String(); !strings.Contains(s, "partition-3") {
		t.Errorf("Inspect does not name partition-3:\n%s", s)
	}
	h.Close()
	if n := sys.Inspect().Find(func(n *actors.Node) bool { return n.Kind == "partitioner" }); n != nil {
		t.Errorf("a closed partitioner still shows in Inspect: %s", n)
	}
	noCallsLeft(t, sys)
}

// routingHelperEnv makes the test binary a second client process for
// TestHashingRoutingAcrossProcesses: it calls the servers listed in the variable and prints
// "key=server" per key.
const routingHelperEnv = "TROUPE_ROUTING_HELPER_SERVERS"

func TestHashingRoutingHelperProcess(t *testing.T) {
	servers := os.Getenv(routingHelperEnv)
	if servers == "" {
		t.Skip("runs as the second process of TestHashingRoutingAcrossProcesses")
	}
	sys := newSystem(t)
	_, chans := partitionCluster(t, sys, strings.Split(servers, ","))
	h := newPartitioner(t, sys, chans, nil)
	for i := range 60 {
		key := fmt.Sprintf("user-%d", i)
		msg, err := callKeys(t, h, key)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("route %s=%s\n", key, msg)
	}
}

// Two client processes route every key to the same partition: the test binary runs itself as
// the second process against the same servers, and both print who answered each key.
func TestHashingRoutingAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a second process")
	}
	addrs := make([]string, 5)
	for i := range addrs {
		addrs[i] = startEcho(t, &echoservice.Service{Index: int32(i)})
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHashingRoutingHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), routingHelperEnv+"="+strings.Join(addrs, ","))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("second process: %v\n%s", err, out)
	}
	theirs := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if kv, ok := strings.CutPrefix(line, "route "); ok {
			k, v, _ := strings.Cut(kv, "=")
			theirs[k] = v
		}
	}
	if len(theirs) != 60 {
		t.Fatalf("second process routed %d keys, want 60:\n%s", len(theirs), out)
	}
	sys := newSystem(t)
	_, chans := partitionCluster(t, sys, addrs)
	h := newPartitioner(t, sys, chans, nil)
	used := map[string]bool{}
	for k, want := range theirs {
		msg, err := callKeys(t, h, k)
		if err != nil {
			t.Fatal(err)
		}
		if msg != want {
			t.Errorf("key %s: this process got %q, the other %q", k, msg, want)
		}
		server, _, _ := strings.Cut(msg, ":")
		used[server] = true
	}
	if len(used) < 3 {
		t.Errorf("60 keys used only servers %v", used)
	}
}

// A key hasher of the user's places both the ring's points and the keys.
func TestHashingPartitionerKeyHasher(t *testing.T) {
	sys := newSystem(t)
	_, chans := partitionCluster(t, sys, []string{"", "", ""})
	fnv1a := func(key []byte) uint32 {
		h := fnv.New32a()
		h.Write(key)
		return h.Sum32()
	}
	h := newPartitioner(t, sys, chans, &combo.HashingOptions{KeyHasher: fnv1a, NumReps: 40})
	ring := lb.NewRingFunc(combo.PartitionNodes(3), 40, fnv1a)
	seen := map[int]bool{}
	for i := range 30 {
		key := fmt.Sprintf("k%d", i)
		want := ring.Lookup(fnv1a([]byte(key)))
		if got := h.PartitionOf(key); got != want {
			t.Fatalf("PartitionOf(%s) = %d, want %d from the ring of the user's hash", key, got, want)
		}
		if msg, err := callKeys(t, h, key); err != nil || msg != fmt.Sprintf("%d:%s", want, key) {
			t.Fatalf("key %s: %q, %v; want partition %d", key, msg, err, want)
		}
		seen[want] = true
	}
	if len(seen) < 2 {
		t.Errorf("30 keys all went to %v", seen)
	}
	if s := sys.Inspect().String(); !strings.Contains(s, "custom ring") {
		t.Errorf("Inspect does not name the custom hash:\n%s", s)
	}
}

// A partitioned call's Controller shows each partition's sub-call, with the server that answered.
func TestPartitionersShowTheirSubCalls(t *testing.T) {
	sys := newSystem(t)
	addrs := make([]string, 3)
	chans := make([]actors.Channel, 3)
	byShard := map[int]actors.Channel{}
	for i := range addrs {
		addrs[i] = startEcho(t, &echoservice.Service{Index: int32(i)})
		ch := plain(t, sys, addrs[i], nil)
		t.Cleanup(func() { ch.Close() })
		chans[i], byShard[i] = ch, ch
	}
	h := newPartitioner(t, sys, chans, nil)
	keys := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	var cntl actors.Controller
	if err := h.Call(context.Background(), echoservice.Method, echoReq(strings.Join(keys, ",")), &echopb.EchoResponse{}, &cntl); err != nil {
		t.Fatal(err)
	}
	parts := map[int]bool{}
	for _, k := range keys {
		parts[h.PartitionOf(k)] = true
	}
	ids := slices.Sorted(maps.Keys(parts))
	if cntl.SubCount() != len(ids) {
		t.Fatalf("SubCount = %d, want %d (partitions %v)", cntl.SubCount(), len(ids), ids)
	}
	for i, id := range ids {
		if got := cntl.Sub(i).RemoteSide(); got != addrs[id] {
			t.Errorf("Sub(%d).RemoteSide = %s, want partition %d's %s", i, got, id, addrs[id])
		}
	}

	p := newCustom(t, sys, byShard, nil, nil)
	cntl.Reset()
	var resp echopb.EchoResponse
	if err := p.Call(context.Background(), echoservice.Method, echoReq("2:x,0:y,7:z"), &resp, &cntl); err != nil {
		t.Fatal(err)
	}
	if cntl.SubCount() != 3 || cntl.Sub(0).RemoteSide() != addrs[0] || cntl.Sub(1).RemoteSide() != addrs[2] || cntl.Sub(2) != nil {
		t.Errorf("custom call's subs: %d, want 3: partition 0 at %s, 2 at %s, and nil for the unserved 7", cntl.SubCount(), addrs[0], addrs[2])
	}
}
