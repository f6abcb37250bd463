package combo_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// Combo calls and the System's life: Shutdown ends them, closed sub-channels fail their
// sub-calls alone, and a call that fails before its first sub-call still runs its callback once.

// Shutdown ends a nested call in flight with ELOGOFF and leaves nothing behind. The server holds
// every request for a minute (or until it shuts down).
func TestShutdownDuringNestedCall(t *testing.T) {
	svc := &echoservice.Service{Sleep: time.Minute}
	addr := startEcho(t, svc)
	sys := newSystem(t)
	outer := nest(t, sys, &combo.ParallelOptions{Timeout: 10 * time.Second}, addr)
	var cntl actors.Controller
	call := outer.Go(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl, nil)
	eventually(t, "every sub-call to reach the server", func() bool { return svc.Requests() == 5 })
	start := time.Now()
	sys.Shutdown()
	err := call.Wait()
	if wire.ErrnoOf(err) != wire.ELOGOFF || !errors.Is(err, actors.ErrClosed) {
		t.Errorf("Call ended by Shutdown = %v, want ELOGOFF and ErrClosed", err)
	}
	if took := time.Since(start); took > testTimeout/2 {
		t.Errorf("Shutdown and the call took %v, want them quick, not the server's minute", took)
	}
	if n := sys.Processes(); n != 0 {
		t.Errorf("after Shutdown, %d troupe processes remain", n)
	}
	err = outer.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil)
	wantErrno(t, "Call after Shutdown", err, wire.ELOGOFF)
}

// A closed sub-channel fails its own sub-call; the others succeed, and so does the call.
func TestParallelWithAClosedSubChannel(t *testing.T) {
	addr := startEcho(t, nil)
	sys := newSystem(t)
	closed := plain(t, sys, addr, nil)
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}
	p := newPChan(t, sys, nil, addr, 2, nil, nil)
	if err := p.AddChannel(closed, combo.DoesntOwnChannel, nil, nil); err != nil {
		t.Fatal(err)
	}
	var cntl actors.Controller
	if err := p.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl); err != nil {
		t.Fatalf("Call() = %v, want success (1 of 3 failed, under fail_limit 3)", err)
	}
	wantSub(t, &cntl, 0, 0)
	wantSub(t, &cntl, 1, 0)
	wantSub(t, &cntl, 2, wire.ELOGOFF)
	if cntl.Sub(0).Latency() <= 0 {
		t.Errorf("Sub(0).Latency() = %v, want > 0", cntl.Sub(0).Latency())
	}
	noCallsLeft(t, sys)
}

// Calls that fail before any sub-call runs their done callback exactly once, on another
// goroutine.
func TestComboEarlyFailuresRunDoneOnce(t *testing.T) {
	sys := newSystem(t)
	empty := newPChan(t, sys, nil, "", 0, nil, nil)
	emptySel := newSChan(t, sys, nil)
	for _, tt := range []struct {
		name string
		ch   actors.Channel
		want wire.Errno
	}{{"parallel", empty, wire.EPERM}, {"selective", emptySel, wire.ENODATA}} {
		var runs atomic.Int32
		var cntl actors.Controller
		call := tt.ch.Go(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl, func(*actors.Controller) { runs.Add(1) })
		wantErrno(t, tt.name+" Go", call.Wait(), tt.want)
		if runs.Load() != 1 || cntl.ErrorCode() != tt.want {
			t.Errorf("%s: done ran %d times, ErrorCode() = %v, want 1 and %v", tt.name, runs.Load(), cntl.ErrorCode(), tt.want)
		}
		err := tt.ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl)
		wantErrno(t, tt.name+" Call with a used Controller", err, wire.EINVAL)
	}
	noCallsLeft(t, sys)
}
