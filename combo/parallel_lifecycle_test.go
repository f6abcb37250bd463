package combo_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// brpc's ParallelChannel tests of a call's life: its deadline, cancels, merging, and asynchronous
// use.

// timeout_parallel: the deadline comes from the options, the Controller or the context; the
// sub-calls' own channels' timeouts do not apply. The server holds every request for a minute
// (or until it shuts down); the deadline of 200ms leaves the sub-calls time to start even on a
// loaded machine.
func TestParallelTimeout(t *testing.T) {
	addr := startEcho(t, nil)
	sys := newSystem(t)
	mapper := mapEach(sleepUs(time.Minute, func(int) bool { return true }))
	const deadline = 200 * time.Millisecond
	for _, via := range []string{"options", "controller", "context"} {
		t.Run(via, func(t *testing.T) {
			opts := &combo.ParallelOptions{Timeout: deadline}
			switch via {
			case "controller":
				opts.Timeout = testTimeout
			case "context":
				opts.Timeout = -1
			}
			p := newPChan(t, sys, opts, addr, nsub, mapper, nil)
			ctx := t.Context()
			var cntl actors.Controller
			start := time.Now()
			switch via {
			case "controller":
				cntl.SetTimeout(deadline)
			case "context":
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, deadline)
				defer cancel()
			}
			err := p.Call(ctx, echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl)
			took := time.Since(start)
			wantErrno(t, "Call with every sub-call slower than the timeout", err, wire.ERPCTIMEDOUT)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("errors.Is(%v, context.DeadlineExceeded) = false, want true", err)
			}
			if took < deadline || took > testTimeout/2 {
				t.Errorf("Call took %v, want about %v", took, deadline)
			}
			for i := range nsub {
				wantSub(t, &cntl, i, wire.ECANCELED)
				// brpc's sub controllers report their timeout disabled (-1): the parallel
				// call's deadline governs.
				if d, ok := cntl.Sub(i).Timeout(); !ok || d >= 0 {
					t.Errorf("Sub(%d).Timeout() = %v, %v, want a negative timeout, set", i, d, ok)
				}
			}
		})
	}
	noCallsLeft(t, sys)
}

// timeout_still_checks_sub_channels_parallel (brpc's Q12): the odd sub-calls time out, but fewer
// than fail_limit failed, so the call succeeds; Strict makes it fail. The odd sub-calls' server
// holds them for a minute (or until it shuts down); the deadline of 500ms leaves the even ones
// time to answer even on a loaded machine.
func TestParallelTimeoutStillChecksSubChannels(t *testing.T) {
	addr := startEcho(t, nil)
	sys := newSystem(t)
	mapper := mapEach(sleepUs(time.Minute, func(i int) bool { return i%2 == 1 }))
	for _, strict := range []bool{false, true} {
		t.Run(fmt.Sprint("strict=", strict), func(t *testing.T) {
			opts := &combo.ParallelOptions{Timeout: 500 * time.Millisecond, Strict: strict}
			p := newPChan(t, sys, opts, addr, nsub, mapper, nil)
			var cntl actors.Controller
			start := time.Now()
			err := p.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl)
			if took := time.Since(start); took > testTimeout/2 {
				t.Errorf("Call took %v, want about 500ms, not the odd sub-calls' minute", took)
			}
			want := wire.Errno(0)
			if strict {
				want = wire.ERPCTIMEDOUT
			}
			wantErrno(t, "Call with the odd sub-calls timing out", err, want)
			for i := range nsub {
				if i%2 == 1 {
					wantSub(t, &cntl, i, wire.ECANCELED)
				} else {
					wantSub(t, &cntl, i, 0)
				}
			}
		})
	}
	noCallsLeft(t, sys)
}

// cancel_before_callmethod_parallel
func TestParallelCancelBefore(t *testing.T) {
	svc := &echoservice.Service{}
	addr := startEcho(t, svc)
	sys := newSystem(t)
	p := newPChan(t, sys, nil, addr, nsub, nil, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var cntl actors.Controller
	err := p.Call(ctx, echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl)
	wantErrno(t, "Call with a cancelled context", err, wire.ECANCELED)
	var cntl2 actors.Controller
	cntl2.StartCancel()
	err = p.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl2)
	wantErrno(t, "Call after StartCancel", err, wire.ECANCELED)
	// brpc sets the sub count first thing, before the call can fail: every sub-channel counts,
	// none started.
	for _, c := range []*actors.Controller{&cntl, &cntl2} {
		if c.SubCount() != nsub {
			t.Errorf("SubCount() = %d, want %d", c.SubCount(), nsub)
		}
		for i := range c.SubCount() {
			if c.Sub(i) != nil {
				t.Errorf("Sub(%d) = %v, want nil", i, c.Sub(i).Err())
			}
		}
	}
	noCallsLeft(t, sys)
	if n := svc.Requests(); n != 0 {
		t.Errorf("server got %d requests, want 0", n)
	}
}

// cancel_during_callmethod_parallel, by StartCancel and by the context.
func TestParallelCancelDuring(t *testing.T) {
	svc := &echoservice.Service{}
	addr := startEcho(t, svc)
	sys := newSystem(t)
	// The server holds every request for a minute (or until it shuts down).
	mapper := mapEach(sleepUs(time.Minute, func(int) bool { return true }))
	p := newPChan(t, sys, &combo.ParallelOptions{Timeout: testTimeout}, addr, nsub, mapper, nil)
	for _, how := range []string{"StartCancel", "context"} {
		t.Run(how, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var cntl actors.Controller
			before := svc.Requests()
			call := p.Go(ctx, echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl, nil)
			eventually(t, "the sub-calls to reach the server", func() bool { return svc.Requests() == before+nsub })
			start := time.Now()
			if how == "context" {
				cancel()
			} else {
				cntl.StartCancel()
			}
			err := call.Wait()
			wantErrno(t, "Call cancelled in flight", err, wire.ECANCELED)
			if took := time.Since(start); took > testTimeout/2 {
				t.Errorf("Call ended %v after the cancel, want at once", took)
			}
			for i := range nsub {
				wantSub(t, &cntl, i, wire.ECANCELED)
			}
		})
	}
	noCallsLeft(t, sys)
}

// cancel_after_callmethod_parallel
func TestParallelCancelAfter(t *testing.T) {
	addr := startEcho(t, nil)
	sys := newSystem(t)
	p := newPChan(t, sys, nil, addr, nsub, nil, nil)
	var cntl actors.Controller
	call := p.Go(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl, nil)
	if err := call.Wait(); err != nil {
		t.Fatalf("Call() = %v, want success", err)
	}
	cntl.StartCancel()
	call.Cancel()
	if err := call.Wait(); err != nil || cntl.Failed() {
		t.Fatalf("after a late cancel, Wait() = %v, Failed() = %v, want success", err, cntl.Failed())
	}
	for i := range nsub {
		wantSub(t, &cntl, i, 0)
	}
	noCallsLeft(t, sys)
}

// Merges run in sub-channel order whatever order the answers arrive in, and the default merger
// is proto.Merge: the repeated code_list of the sub-responses is appended in that order.
func TestParallelMergesInSubChannelOrder(t *testing.T) {
	const n = 5
	sys := newSystem(t)
	p, err := combo.NewParallelChannel(sys, &combo.ParallelOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var order []int // written by the mergers, which run one at a time in the call's actor
	mapper := mapEach(func(i int, r *echopb.EchoRequest) { r.SleepUs = proto.Int32(int32((n - i) * 20000)) })
	for i := range n {
		addr := startEcho(t, &echoservice.Service{Index: int32(i)}) // its own server: code_list = [i+1]
		merger := combo.ResponseMergerFunc(func(resp, sub proto.Message) combo.MergeResult {
			order = append(order, i)
			proto.Merge(resp, sub)
			return combo.Merged
		})
		var m combo.ResponseMerger = merger
		if i == n-1 {
			m = nil // the default merger
		}
		if err := p.AddChannel(plain(t, sys, addr, nil), combo.OwnsChannel, mapper, m); err != nil {
			t.Fatal(err)
		}
	}
	resp := &echopb.EchoResponse{}
	if err := p.Call(t.Context(), echoservice.Method, echoReq("x"), resp, nil); err != nil {
		t.Fatalf("Call() = %v, want success", err)
	}
	if !slices.Equal(order, []int{0, 1, 2, 3}) {
		t.Errorf("mergers ran in order %v, want [0 1 2 3]", order)
	}
	if !slices.Equal(resp.GetCodeList(), []int32{1, 2, 3, 4, 5}) {
		t.Errorf("merged code_list = %v, want [1 2 3 4 5] (appended in sub-channel order)", resp.GetCodeList())
	}
	if resp.GetServerIndex() != n-1 {
		t.Errorf("merged server_index = %d, want %d (the last merge overwrites)", resp.GetServerIndex(), n-1)
	}
	noCallsLeft(t, sys)
}

// A merger that fails a sub-response, fails the call, or panics; a mapper that panics. The
// System keeps working afterwards.
func TestParallelMergerAndMapperFailures(t *testing.T) {
	addr := startEcho(t, nil)
	sys := newSystem(t)
	failOn := func(k int, res combo.MergeResult) func(int) combo.ResponseMerger {
		return func(i int) combo.ResponseMerger {
			return combo.ResponseMergerFunc(func(resp, sub proto.Message) combo.MergeResult {
				if i != k {
					return combo.Merged
				}
				if res < 0 {
					panic("merger panics")
				}
				return res
			})
		}
	}
	panicky := combo.CallMapperFunc(func(i, n int, m string, req, resp proto.Message) combo.SubCall {
		if i == 2 {
			panic("mapper panics")
		}
		return combo.SubCall{Method: m, Request: req, Response: &echopb.EchoResponse{}}
	})
	tests := []struct {
		name      string
		failLimit int
		merger    func(int) combo.ResponseMerger
		mapper    combo.CallMapper
		want      wire.Errno
		text      string
	}{
		{"Fail under the fail limit", 0, failOn(3, combo.Fail), nil, 0, ""},
		{"Fail reaching the fail limit", 1, failOn(3, combo.Fail), nil, wire.ERESPONSE, "[C3]"},
		{"FailAll", 0, failOn(2, combo.FailAll), nil, wire.ERESPONSE, "Fail to merge response of channel[2]"},
		{"merger panics", 0, failOn(1, -1), nil, wire.ERESPONSE, "panicked"},
		{"mapper panics", 0, nil, panicky, wire.EREQUEST, "CallMapper of channel[2] panicked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := combo.NewParallelChannel(sys, &combo.ParallelOptions{FailLimit: tt.failLimit})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			for i := range nsub {
				var m combo.ResponseMerger
				if tt.merger != nil {
					m = tt.merger(i)
				}
				if err := p.AddChannel(plain(t, sys, addr, nil), combo.OwnsChannel, tt.mapper, m); err != nil {
					t.Fatal(err)
				}
			}
			err = p.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil)
			wantErrno(t, "Call", err, tt.want)
			if tt.text != "" && !strings.Contains(err.Error(), tt.text) {
				t.Errorf("Call() = %q, want it to contain %q", err, tt.text)
			}
			noCallsLeft(t, sys)
			// The System still works.
			ok := newPChan(t, sys, nil, addr, 2, nil, nil)
			if err := ok.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); err != nil {
				t.Fatalf("Call() after the failure = %v, want success", err)
			}
		})
	}
	noCallsLeft(t, sys)
}

// A merger that fails the whole call (FailAll, or a panic) stops the sub-calls still running:
// the call's result is decided, there is nothing to wait for.
func TestParallelFailedMergeStopsTheOthers(t *testing.T) {
	addr := startEcho(t, nil)
	sys := newSystem(t)
	// The server holds the requests of the sub-calls after the first for a minute (or until it
	// shuts down).
	mapper := mapEach(sleepUs(time.Minute, func(i int) bool { return i > 0 }))
	for _, res := range []combo.MergeResult{combo.FailAll, -1} {
		merger := combo.ResponseMergerFunc(func(resp, sub proto.Message) combo.MergeResult {
			if res < 0 {
				panic("merger panics")
			}
			return res
		})
		p := newPChan(t, sys, &combo.ParallelOptions{Timeout: testTimeout}, addr, nsub, mapper, merger)
		var cntl actors.Controller
		start := time.Now()
		err := p.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl)
		wantErrno(t, "Call whose first merge fails", err, wire.ERESPONSE)
		if took := time.Since(start); took > testTimeout/2 {
			t.Errorf("merge result %d: Call took %v, want it to end at the failed merge", res, took)
		}
		for i := 1; i < nsub; i++ {
			wantSub(t, &cntl, i, wire.ECANCELED)
		}
	}
	noCallsLeft(t, sys)
}

// destroy_channel_parallel: the parallel channel is closed right after an asynchronous call
// started; the call still succeeds, its callback running exactly once.
func TestParallelCloseRightAfterGo(t *testing.T) {
	addr := startEcho(t, nil)
	sys := newSystem(t)
	p, err := combo.NewParallelChannel(sys, &combo.ParallelOptions{Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := p.AddChannel(plain(t, sys, addr, nil), combo.OwnsChannel, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	var runs atomic.Int32
	var cntl actors.Controller
	req := &echopb.EchoRequest{Message: proto.String("x"), SleepUs: proto.Int32(5000)}
	call := p.Go(t.Context(), echoservice.Method, req, &echopb.EchoResponse{}, &cntl, func(*actors.Controller) { runs.Add(1) })
	if err := p.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := call.Wait(); err != nil {
		t.Fatalf("Call() = %v, want success", err)
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("done ran %d times, want 1", n)
	}
	for i := range 5 {
		wantSub(t, &cntl, i, 0)
	}
	noCallsLeft(t, sys)
}

// Semi-synchronous calls (several Go, then Join) and a burst of concurrent asynchronous calls.
func TestParallelSemiSyncAndBurst(t *testing.T) {
	svc := &echoservice.Service{}
	addr := startEcho(t, svc)
	sys := newSystem(t)
	p := newPChan(t, sys, nil, addr, 4, nil, nil)
	for _, n := range []int{3, 10} {
		calls := make([]*actors.Call, n)
		cntls := make([]actors.Controller, n)
		resps := make([]*echopb.EchoResponse, n)
		var mu sync.Mutex
		done := 0
		for i := range n {
			resps[i] = &echopb.EchoResponse{}
			calls[i] = p.Go(t.Context(), echoservice.Method, echoReq(fmt.Sprint("m", i)), resps[i], &cntls[i], func(*actors.Controller) {
				mu.Lock()
				done++
				mu.Unlock()
			})
		}
		actors.Join(calls...)
		mu.Lock()
		if done != n {
			t.Errorf("after Join, %d of %d callbacks ran, want all", done, n)
		}
		mu.Unlock()
		for i := range n {
			if cntls[i].Failed() || resps[i].GetMessage() != fmt.Sprint("m", i) {
				t.Errorf("call %d: %v, message %q", i, cntls[i].Err(), resps[i].GetMessage())
			}
		}
	}
	if got := svc.Requests(); got != 4*13 {
		t.Errorf("server got %d requests, want %d", got, 4*13)
	}
	noCallsLeft(t, sys)
}
