package combo_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/actorstest"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// customEcho partitions echo calls whose message is "pid:key,pid:key,…": the keys of one
// partition id are joined with "+" into its sub-request. hook, if not nil, runs first in
// Partition (on its goroutine) and may fail it. The answers merge into
// "server:keys;server:keys" (partition order), with "|ERRNO,ERRNO" for the failures.
func customEcho(hook func(ctx context.Context) error) map[string]combo.CustomMethod {
	return map[string]combo.CustomMethod{echoservice.Method: combo.TypedCustomMethod[*echopb.EchoRequest, *echopb.EchoResponse]{
		Partition: func(ctx context.Context, req *echopb.EchoRequest) (map[int]*echopb.EchoRequest, error) {
			if hook != nil {
				if err := hook(ctx); err != nil {
					return nil, err
				}
			}
			keys := map[int][]string{}
			for _, pk := range strings.Split(req.GetMessage(), ",") {
				id, key, ok := strings.Cut(pk, ":")
				n, err := strconv.Atoi(id)
				if !ok || err != nil {
					return nil, fmt.Errorf("bad key %q", pk)
				}
				keys[n] = append(keys[n], key)
			}
			out := map[int]*echopb.EchoRequest{}
			for id, ks := range keys {
				out[id] = echoReq(strings.Join(ks, "+"))
			}
			return out, nil
		},
		MergeResponses: func(succ []*echopb.EchoResponse, fails []error) (*echopb.EchoResponse, error) {
			parts := make([]string, len(succ))
			for i, r := range succ {
				parts[i] = fmt.Sprintf("%d:%s", r.GetServerIndex(), r.GetMessage())
			}
			msg := strings.Join(parts, ";")
			if len(fails) > 0 {
				codes := make([]string, len(fails))
				for i, f := range fails {
					codes[i] = wire.ErrnoOf(f).String()
				}
				msg += "|" + strings.Join(codes, ",")
			}
			return &echopb.EchoResponse{Message: proto.String(msg)}, nil
		},
		NewResponse: func() *echopb.EchoResponse { return &echopb.EchoResponse{} },
	}.Method()}
}

// customInstances starts n echo servers (Index = shard id) and returns channels to them by
// shard id, closed when the test ends.
func customInstances(t *testing.T, sys *actors.System, n int) map[int]actors.Channel {
	t.Helper()
	out := make(map[int]actors.Channel, n)
	for i := range n {
		ch := plain(t, sys, startEcho(t, &echoservice.Service{Index: int32(i)}), &actors.ChannelOptions{MaxRetry: actors.NoRetry})
		t.Cleanup(func() { ch.Close() })
		out[i] = ch
	}
	return out
}

func newCustom(t *testing.T, sys *actors.System, inst map[int]actors.Channel, hook func(context.Context) error, opts *combo.CustomOptions) *combo.CustomPartitioner {
	t.Helper()
	if opts == nil {
		opts = &combo.CustomOptions{}
	}
	if opts.Timeout == 0 {
		opts.Timeout = testTimeout
	}
	p, err := combo.NewCustomPartitioner(sys, inst, customEcho(hook), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func customCall(p actors.Channel, msg string) (string, error) {
	var resp echopb.EchoResponse
	err := p.Call(context.Background(), echoservice.Method, echoReq(msg), &resp, nil)
	return resp.GetMessage(), err
}

// A slow Partition runs off the call's actor: five calls all sit in Partition at once (each
// waits until all five entered it, then sleeps 20 ms), and all answer.
func TestCustomPartitionerSlowPartitionConcurrent(t *testing.T) {
	sys := newSystem(t)
	const n = 5
	var entered atomic.Int32
	all := make(chan struct{})
	p := newCustom(t, sys, customInstances(t, sys, 2), func(ctx context.Context) error {
		if entered.Add(1) == n {
			close(all)
		}
		select {
		case <-all:
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case <-time.After(20 * time.Millisecond):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}, nil)
	calls := make([]*actors.Call, n)
	resps := make([]*echopb.EchoResponse, n)
	for i := range calls {
		resps[i] = &echopb.EchoResponse{}
		calls[i] = p.Go(context.Background(), echoservice.Method, echoReq(fmt.Sprintf("0:a%d,1:b%d", i, i)), resps[i], nil, nil)
	}
	actors.Join(calls...)
	for i, c := range calls {
		if err := c.Err(); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if got, want := resps[i].GetMessage(), fmt.Sprintf("0:a%d;1:b%d", i, i); got != want {
			t.Errorf("call %d = %q, want %q", i, got, want)
		}
	}
	if s := p.Stats(); s["calls"] != n || s["fan_out"] != 2*n || s["sub_call_failures"] != 0 {
		t.Errorf("Stats = %v", s)
	}
	noCallsLeft(t, sys)
}

// Instance 0 serves logical partitions 0 and 1, instance 1 serves 2; nobody serves 3, whose
// failure reaches MergeResponses as ENODATA.
func TestCustomPartitionerLogicalPartitions(t *testing.T) {
	sys := newSystem(t)
	p := newCustom(t, sys, customInstances(t, sys, 2), nil, &combo.CustomOptions{
		Instances: func(shard int) []int {
			if shard == 0 {
				return []int{0, 1}
			}
			return []int{2}
		},
	})
	if got := fmt.Sprint(p.Partitions()); got != "[0 1 2]" {
		t.Errorf("Partitions = %s", got)
	}
	got, err := customCall(p, "2:c,0:a,1:b,0:z,3:d")
	if err != nil {
		t.Fatal(err)
	}
	if want := "0:a+z;0:b;1:c|ENODATA"; got != want {
		t.Errorf("answer %q, want %q", got, want)
	}
	if s := p.Stats(); s["fan_out"] != 4 || s["sub_call_failures"] != 1 {
		t.Errorf("Stats = %v", s)
	}
	// Only unserved partitions: every sub-call fails without a child.
	if got, err := customCall(p, "7:x"); err != nil || got != "|ENODATA" {
		t.Errorf("unserved only: %q, %v", got, err)
	}
	noCallsLeft(t, sys)
}

// Three instances serving one logical partition share its sub-calls round robin.
func TestCustomPartitionerSharedPartition(t *testing.T) {
	sys := newSystem(t)
	p := newCustom(t, sys, customInstances(t, sys, 3), nil, &combo.CustomOptions{
		Instances: func(int) []int { return []int{0} },
	})
	counts := map[string]int{}
	for i := range 9 {
		got, err := customCall(p, fmt.Sprintf("0:k%d", i))
		if err != nil {
			t.Fatal(err)
		}
		server, _, _ := strings.Cut(got, ":")
		counts[server]++
	}
	if counts["0"] != 3 || counts["1"] != 3 || counts["2"] != 3 {
		t.Errorf("sub-calls per instance = %v, want 3 each", counts)
	}
	noCallsLeft(t, sys)
}

// Resharding from 3 to 4 partitions while 8 goroutines make calls: the new schema goes in
// first, then the user's state that maps keys onto 4 partitions; no call fails.
func TestCustomPartitionerReshard(t *testing.T) {
	sys := newSystem(t)
	inst := customInstances(t, sys, 4)
	three := map[int]actors.Channel{0: inst[0], 1: inst[1], 2: inst[2]}
	var nparts atomic.Int32
	nparts.Store(3)
	p := newCustom(t, sys, three, nil, nil)
	var wg sync.WaitGroup
	var failed atomic.Int32
	var sawFour atomic.Bool
	stop := make(chan struct{})
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				n := int(nparts.Load())
				keys := make([]string, n)
				for k := range keys {
					keys[k] = fmt.Sprintf("%d:g%d", k, g)
				}
				got, err := customCall(p, strings.Join(keys, ","))
				if err != nil || strings.Contains(got, "|") {
					t.Errorf("goroutine %d call %d: %q, %v", g, i, got, err)
					failed.Add(1)
					return
				}
				if n == 4 && strings.Contains(got, fmt.Sprintf("3:g%d", g)) {
					sawFour.Store(true)
				}
			}
		}()
	}
	waitFor(t, "calls on the three partitions", func() bool { return p.Stats()["calls"] >= 50 || failed.Load() > 0 })
	if err := p.Reshard(inst, nil); err != nil {
		t.Fatal(err)
	}
	nparts.Store(4)
	before := p.Stats()["calls"]
	waitFor(t, "calls on four partitions", func() bool {
		return (sawFour.Load() && p.Stats()["calls"] >= before+50) || failed.Load() > 0
	})
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.FailNow()
	}
	if !sawFour.Load() {
		t.Error("no call reached partition 3 after resharding")
	}
	if got := fmt.Sprint(p.Partitions()); got != "[0 1 2 3]" {
		t.Errorf("Partitions = %s", got)
	}
	if s := p.Stats(); s["reshards"] != 1 || s["sub_call_failures"] != 0 {
		t.Errorf("Stats = %v", s)
	}
	if err := p.Reshard(nil, nil); err == nil {
		t.Error("Reshard with no instances succeeded")
	}
	noCallsLeft(t, sys)
}

func TestCustomPartitionerUnknownMethod(t *testing.T) {
	sys := newSystem(t)
	p := newCustom(t, sys, customInstances(t, sys, 1), nil, nil)
	var resp echopb.EchoResponse
	err := p.Call(context.Background(), "example.EchoService.Nope", echoReq("0:a"), &resp, nil)
	var pse *combo.PartitioningStrategyError
	if !errors.Is(err, combo.ErrPartitioningStrategy) || !errors.As(err, &pse) || pse.Method != "example.EchoService.Nope" || wire.ErrnoOf(err) != wire.EREQUEST {
		t.Errorf("err = %v (%v)", err, wire.ErrnoOf(err))
	}
	if _, err := customCall(p, "garbage"); wire.ErrnoOf(err) != wire.EREQUEST {
		t.Errorf("failing Partition: err = %v", err)
	}
	p.Close()
	if _, err := customCall(p, "0:a"); !errors.Is(err, actors.ErrClosed) {
		t.Errorf("after Close: err = %v", err)
	}
	noCallsLeft(t, sys)
}

// A call that ends while Partition still runs ends at once, and Partition's context is cancelled.
func TestCustomPartitionerEndDuringPartition(t *testing.T) {
	for _, tc := range []struct {
		name string
		code wire.Errno
	}{{"cancel", wire.ECANCELED}, {"timeout", wire.ERPCTIMEDOUT}} {
		t.Run(tc.name, func(t *testing.T) {
			sys := newSystem(t)
			entered := make(chan struct{})
			stopped := make(chan struct{})
			opts := &combo.CustomOptions{}
			if tc.code == wire.ERPCTIMEDOUT {
				opts.Timeout = 50 * time.Millisecond
			}
			p := newCustom(t, sys, customInstances(t, sys, 1), func(ctx context.Context) error {
				close(entered)
				<-ctx.Done()
				close(stopped)
				return ctx.Err()
			}, opts)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var resp echopb.EchoResponse
			call := p.Go(ctx, echoservice.Method, echoReq("0:a"), &resp, nil, nil)
			<-entered
			if tc.code == wire.ECANCELED {
				cancel()
			}
			if err := call.Wait(); wire.ErrnoOf(err) != tc.code {
				t.Errorf("err = %v, want %v", err, tc.code)
			}
			select {
			case <-stopped:
			case <-time.After(testTimeout):
				t.Fatal("Partition's context was not cancelled")
			}
			noCallsLeft(t, sys)
		})
	}
}

// With EjectFailedInstance, an instance that failed FailureAccrual sub-calls in a row is
// skipped by its partition until Revive passed; then one failed probe skips it again.
func TestCustomPartitionerFailureAccrual(t *testing.T) {
	sys := newSystem(t)
	inst := customInstances(t, sys, 1)
	dead := plain(t, sys, actorstest.DeadAddr(t), &actors.ChannelOptions{MaxRetry: actors.NoRetry})
	t.Cleanup(func() { dead.Close() })
	inst[1] = dead
	const revive = 500 * time.Millisecond
	p := newCustom(t, sys, inst, nil, &combo.CustomOptions{
		Instances:           func(int) []int { return []int{0} },
		EjectFailedInstance: true, FailureAccrual: 2, Revive: revive,
	})
	failures := 0
	// The ejection happens during these calls: it holds at least until Revive after this.
	beforeEjection := time.Now()
	// Round robin: instance 0, 1, 0, 1 — the second failure ejects 1.
	for i := range 4 {
		got, err := customCall(p, fmt.Sprintf("0:k%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(got, "|") {
			failures++
		}
	}
	if failures != 2 {
		t.Fatalf("%d of the first 4 calls failed, want 2 (the dead instance's turns)", failures)
	}
	if got := p.Ejected(); !slices.Equal(got, []int{1}) {
		t.Fatalf("Ejected = %v, want [1]", got)
	}
	node := sys.Inspect().Find(func(n *actors.Node) bool { return n.Kind == "partitioner" })
	if node == nil || node.Counters["ejections"] != 1 || !strings.Contains(node.String(), "1 (ejected)") {
		t.Errorf("Inspect shows:\n%s", node)
	}
	// While instance 1 is surely ejected (until half of Revive has passed, on a slow machine
	// perhaps no call at all), every call goes to instance 0 and succeeds.
	for i := range 6 {
		if time.Since(beforeEjection) > revive/2 {
			break
		}
		if got, err := customCall(p, fmt.Sprintf("0:e%d", i)); err != nil || got != fmt.Sprintf("0:e%d", i) {
			t.Fatalf("call %d with instance 1 ejected: %q, %v", i, got, err)
		}
	}
	waitFor(t, "the ejected instance to revive", func() bool { return len(p.Ejected()) == 0 })
	if d := time.Since(beforeEjection); d < revive {
		t.Fatalf("instance 1 revived %v after the calls that ejected it began, before Revive (%v) passed", d, revive)
	}
	// The revived instance gets its turn again; one failure ejects it at once.
	for i := range 2 {
		if _, err := customCall(p, fmt.Sprintf("0:r%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := p.Ejected(); !slices.Equal(got, []int{1}) {
		t.Errorf("after a failed probe Ejected = %v, want [1]", got)
	}
	if s := p.Stats(); s["ejections"] != 2 {
		t.Errorf("Stats = %v, want 2 ejections", s)
	}
	noCallsLeft(t, sys)
}

// A Partition still running at Shutdown runs on a System goroutine: Inspect counts it, the call
// fails with ELOGOFF, and Shutdown returns only after Partition did.
func TestCustomPartitionerShutdownDuringPartition(t *testing.T) {
	sys := newSystem(t)
	entered, stopped, release := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var returned atomic.Bool
	p := newCustom(t, sys, customInstances(t, sys, 1), func(ctx context.Context) error {
		close(entered)
		<-ctx.Done() // Shutdown has begun
		close(stopped)
		<-release
		returned.Store(true)
		return ctx.Err()
	}, &combo.CustomOptions{Timeout: -1})
	call := p.Go(context.Background(), echoservice.Method, echoReq("0:a"), &echopb.EchoResponse{}, nil, nil)
	<-entered
	if n := sys.Inspect().Counters["goroutines"]; n != 1 {
		t.Errorf("Inspect counts %d goroutines during Partition, want 1", n)
	}
	shutDown := make(chan struct{})
	go func() {
		sys.Shutdown()
		if !returned.Load() {
			t.Error("Shutdown returned before Partition")
		}
		close(shutDown)
	}()
	<-stopped
	// Shutdown waits for as long as Partition runs; one that does not wait returns within this
	// window, long before Partition is released.
	select {
	case <-shutDown:
		t.Error("Shutdown returned while Partition still ran")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	select {
	case <-shutDown:
	case <-time.After(testTimeout):
		t.Fatal("Shutdown did not return after Partition did")
	}
	if err := call.Wait(); wire.ErrnoOf(err) != wire.ELOGOFF {
		t.Errorf("call = %v, want ELOGOFF", err)
	}
}
