package callrt

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/troupe-rpc/troupe/mailbox"
	"github.com/troupe-rpc/troupe/wire"
)

// silentEngine never answers: its calls end by their deadline, or at once when finishNow is set.
type silentEngine struct{ finishNow bool }

func (e *silentEngine) Prepare(*Call) error { return nil }
func (e *silentEngine) Start(c *Call) {
	if e.finishNow {
		c.Finish(nil)
	}
}
func (e *silentEngine) Receive(*Call, any)           {}
func (e *silentEngine) End(c *Call, err *wire.Error) { c.Finish(err) }
func (e *silentEngine) Release(*Call)                {}

// newTestRuntime returns a Runtime on a pool and registry of its own; cleanup shuts it down as
// a System does, and checks that nothing is left.
func newTestRuntime(t *testing.T) *Runtime {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	as := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
	rt := NewRuntime(mailbox.NewPool(2, 0, 0), mailbox.NewRegistry(as, "deadlines-test"), quiet, nil)
	t.Cleanup(func() {
		rt.BeginShutdown()
		rt.FailCalls()
		rt.Wait() // the alarm's goroutine returned
		rt.Pool().Close()
		rt.Lights().Close()
		as.Shutdown()
		if n := rt.Lights().Len(); n != 0 {
			t.Errorf("%d call actors left after shutdown", n)
		}
	})
	return rt
}

// heapCount returns how many calls the Runtime's deadlines hold, after checking every shard is a
// min-heap whose calls know their place.
func heapCount(t *testing.T, d *deadlines) int {
	t.Helper()
	n := 0
	for i := range d.shards {
		s := &d.shards[i]
		s.mu.Lock()
		for j, c := range s.heap {
			if int(c.dlSlot) != j+1 {
				t.Errorf("shard %d: call at %d says it is at %d", i, j, c.dlSlot-1)
			}
			if p := (j - 1) / 2; j > 0 && s.heap[p].dlAt > c.dlAt {
				t.Errorf("shard %d: call at %d is due before its parent", i, j)
			}
		}
		n += len(s.heap)
		s.mu.Unlock()
	}
	return n
}

func TestDeadlinesEndEveryCallAtOrAfterItsDeadline(t *testing.T) {
	t.Run("timerfd", func(t *testing.T) { testDeadlinesEndEveryCall(t, newTestRuntime(t)) })
	t.Run("Go timer", func(t *testing.T) {
		rt := newTestRuntime(t)
		rt.deadlines.alarm = &timerAlarm{ring: rt.deadlines.ring} // the alarm where no timerfd is
		testDeadlinesEndEveryCall(t, rt)
	})
}

func testDeadlinesEndEveryCall(t *testing.T, rt *Runtime) {
	const n = 300
	var mu sync.Mutex
	ends := map[*Controller]int{}
	calls := make([]*Call, n)
	timeouts := make([]time.Duration, n)
	for i := range calls {
		timeouts[i] = time.Duration(5+rand.IntN(60)) * time.Millisecond
		calls[i] = rt.Start(context.Background(), nil, &Spec{Method: "s.M", Request: &emptypb.Empty{}, Response: &emptypb.Empty{}, Engine: &silentEngine{}, Timeout: timeouts[i],
			OnEnd: func(c *Controller, _ error) { mu.Lock(); ends[c]++; mu.Unlock() }})
	}
	for i, c := range calls {
		if err := c.Wait(); !errors.Is(err, wire.ERPCTIMEDOUT) {
			t.Fatalf("call %d (timeout %v) = %v, want ERPCTIMEDOUT", i, timeouts[i], err)
		}
		if lat := c.Controller().Latency(); lat < timeouts[i] {
			t.Errorf("call %d timed out after %v, before its timeout %v", i, lat, timeouts[i])
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for i, c := range calls {
		if k := ends[c.Controller()]; k != 1 {
			t.Errorf("call %d ended %d times", i, k)
		}
	}
	if k := heapCount(t, &rt.deadlines); k != 0 {
		t.Errorf("%d deadlines left after every call timed out", k)
	}
}

func TestDeadlinesForgetFinishedCalls(t *testing.T) {
	rt := newTestRuntime(t)
	for range 1000 {
		c := rt.Start(context.Background(), nil, &Spec{Method: "s.M", Request: &emptypb.Empty{}, Response: &emptypb.Empty{}, Engine: &silentEngine{finishNow: true}, Timeout: time.Hour})
		if err := c.Wait(); err != nil {
			t.Fatalf("call = %v, want nil", err)
		}
	}
	if k := heapCount(t, &rt.deadlines); k != 0 {
		t.Errorf("%d deadlines left after every call finished", k)
	}
	// The alarm was set once, for the first call, and left there: later calls' deadlines came
	// after it.
	first := rt.deadlines.armed.Load()
	c := rt.Start(context.Background(), nil, &Spec{Method: "s.M", Request: &emptypb.Empty{}, Response: &emptypb.Empty{}, Engine: &silentEngine{}, Timeout: 2 * time.Hour})
	if got := rt.deadlines.armed.Load(); got != first {
		t.Errorf("a later deadline moved the alarm from %d to %d", first, got)
	}
	c.Cancel()
	if err := c.Wait(); !errors.Is(err, wire.ECANCELED) {
		t.Fatalf("cancelled call = %v, want ECANCELED", err)
	}
	// An earlier deadline moves it.
	c = rt.Start(context.Background(), nil, &Spec{Method: "s.M", Request: &emptypb.Empty{}, Response: &emptypb.Empty{}, Engine: &silentEngine{}, Timeout: 20 * time.Millisecond})
	if got := rt.deadlines.armed.Load(); got == first || got > first {
		t.Errorf("an earlier deadline left the alarm at %d (first %d)", got, first)
	}
	select {
	case <-c.Done():
	case <-time.After(time.Minute): // failing, not waiting for the first call's hour
		t.Fatal("a call with a 20 ms timeout did not end within a minute")
	}
	if err := c.Err(); !errors.Is(err, wire.ERPCTIMEDOUT) {
		t.Fatalf("call = %v, want ERPCTIMEDOUT", err)
	}
}

func TestDeadlinesHeapUnderAddsAndRemoves(t *testing.T) {
	var d deadlines
	var wg sync.WaitGroup
	d.init(func(fn func()) { wg.Go(fn) })
	defer func() { d.stop(); wg.Wait() }()
	far := mono(time.Now().Add(time.Hour))
	var live []*Call
	for i := range 5000 {
		if len(live) > 0 && rand.IntN(3) == 0 {
			j := rand.IntN(len(live))
			d.remove(live[j])
			if live[j].dlSlot != 0 {
				t.Fatalf("a removed call still has a place")
			}
			live[j] = live[len(live)-1]
			live = live[:len(live)-1]
			continue
		}
		c := &Call{}
		d.add(c, far+int64(rand.IntN(1e9)))
		live = append(live, c)
		if i%500 == 0 {
			if k := heapCount(t, &d); k != len(live) {
				t.Fatalf("heaps hold %d calls, want %d", k, len(live))
			}
		}
	}
	for _, c := range live {
		d.remove(c)
	}
	if k := heapCount(t, &d); k != 0 {
		t.Fatalf("heaps hold %d calls after every remove", k)
	}
}

func TestDeadlinesCenturiesAway(t *testing.T) {
	rt := newTestRuntime(t)
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(math.MaxInt64)) // 292 years
	defer cancel()
	far := rt.Start(ctx, nil, &Spec{Method: "s.M", Request: &emptypb.Empty{}, Response: &emptypb.Empty{}, Engine: &silentEngine{}, Timeout: -1})
	if a, limit := rt.deadlines.armed.Load(), mono(time.Now().Add(maxAlarm)); a <= 0 || a > limit {
		t.Errorf("the alarm is set for %d, want within (0, %d]: now plus at most an hour", a, limit)
	}
	// A near deadline rings first and ends only its own call.
	near := rt.Start(context.Background(), nil, &Spec{Method: "s.M", Request: &emptypb.Empty{}, Response: &emptypb.Empty{}, Engine: &silentEngine{}, Timeout: 5 * time.Millisecond})
	if err := near.Wait(); !errors.Is(err, wire.ERPCTIMEDOUT) {
		t.Fatalf("near call = %v, want ERPCTIMEDOUT", err)
	}
	select {
	case <-far.Done():
		t.Fatalf("a call due in 292 years ended with %v", far.Err())
	default:
	}
	if k := heapCount(t, &rt.deadlines); k != 1 {
		t.Errorf("%d deadlines held, want the far call's", k)
	}
	if a, limit := rt.deadlines.armed.Load(), mono(time.Now().Add(maxAlarm)); a <= 0 || a > limit {
		t.Errorf("after ringing the alarm is set for %d, want within (0, %d]", a, limit)
	}
	far.Cancel()
	if err := far.Wait(); !errors.Is(err, wire.ECANCELED) {
		t.Fatalf("far call = %v, want ECANCELED", err)
	}
}
