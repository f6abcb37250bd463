package callrt

import (
	"context"
	"runtime"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/troupe-rpc/troupe/wire"
)

// finishEngine finishes its call when it receives finishNow, after running before.
type finishEngine struct{ before func(*Call) }

type finishNow struct{}

func (e *finishEngine) Prepare(*Call) error { return nil }
func (e *finishEngine) Start(*Call)         {}
func (e *finishEngine) Receive(c *Call, msg any) {
	if _, ok := msg.(finishNow); ok {
		if e.before != nil {
			e.before(c)
		}
		c.Finish(nil)
	}
}
func (e *finishEngine) End(c *Call, err *wire.Error) { c.Finish(err) }
func (e *finishEngine) Release(*Call)                {}

// A finished call is reusable only when nothing the Runtime gave a pointer to it can still
// send to it: its deadline's alarm, its context's callback, its Controller's StartCancel, or
// someone holding its PID.
func TestCallReusableOnlyWhenNothingCanStillReachIt(t *testing.T) {
	rt := newTestRuntime(t)
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		before  func(*Call) // in the call's last turn, before it finishes
		after   func(*Call) // once it finished
		cancel  bool        // its context is cancelled, which ends it
		want    bool
	}{
		{name: "answered", want: true},
		{name: "answered with a deadline", timeout: time.Hour, want: true},
		{name: "deadline taken by the alarm", timeout: time.Hour,
			before: func(c *Call) { c.rt.deadlines.remove(c) }}, // as ring does before it sends
		{name: "context cancelled", cancel: true},
		{name: "StartCancel after the end", after: func(c *Call) { c.cntl.StartCancel() }},
		{name: "PID made", before: func(c *Call) { c.light.Load().PID() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			timeout := tc.timeout
			if timeout == 0 {
				timeout = -1
			}
			c := rt.Start(ctx, nil, &Spec{Method: "s.M", Request: &emptypb.Empty{}, Response: &emptypb.Empty{},
				Engine: &finishEngine{before: tc.before}, Timeout: timeout})
			if tc.cancel {
				cancel()
			} else {
				c.Send(finishNow{})
			}
			_ = c.Wait()
			for c.light.Load().Alive() { // its last turn, which Wait does not wait for
				runtime.Gosched()
			}
			if tc.after != nil {
				tc.after(c)
			}
			if got := c.Reusable(); got != tc.want {
				t.Errorf("Reusable() = %v, want %v", got, tc.want)
			}
			if tc.want && c.cntl.call.Load() != nil {
				t.Error("the Controller still points to a reusable call")
			}
		})
	}
}

// A call started with Spec.Finished sends it one value as it finishes, also when it fails before
// it starts, and leaves it empty once Wait returned, for the next call.
func TestFinishedChannelGetsOneValuePerCall(t *testing.T) {
	rt := newTestRuntime(t)
	finished := make(chan struct{}, 1)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, ctx := range []context.Context{context.Background(), cancelled, context.Background()} {
		c := rt.Start(ctx, nil, &Spec{Method: "s.M", Request: &emptypb.Empty{}, Response: &emptypb.Empty{},
			Engine: &finishEngine{}, Timeout: -1, Finished: finished})
		if ctx.Err() == nil {
			c.Send(finishNow{})
		}
		err := c.Wait()
		if (err != nil) != (ctx.Err() != nil) {
			t.Errorf("Wait() = %v with a context whose error is %v", err, ctx.Err())
		}
		if len(finished) != 0 {
			t.Fatalf("Finished holds %d values after Wait", len(finished))
		}
	}
}
