package combo_test

import (
	"context"
	"errors"
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

// brpc's SelectiveChannel tests (test/brpc_channel_unittest.cpp), on real loopback servers.

// empty_selective_channel
func TestSelectiveEmpty(t *testing.T) {
	sys := newSystem(t)
	s := newSChan(t, sys, nil)
	var cntl actors.Controller
	err := s.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl)
	wantErrno(t, "Call on an empty selective channel", err, wire.ENODATA)
	noCallsLeft(t, sys)
}

// connection_failed_selective
func TestSelectiveConnectionFailed(t *testing.T) {
	sys := newSystem(t)
	dead := plain(t, sys, deadAddr(t), &actors.ChannelOptions{MaxRetry: actors.NoRetry})
	s := newSChan(t, sys, &combo.SelectiveOptions{MaxRetry: actors.NoRetry}, dead)
	var cntl actors.Controller
	err := s.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl)
	wantErrno(t, "Call to a dead server", err, wire.ECONNREFUSED)
	if cntl.SubCount() != 1 {
		t.Fatalf("SubCount() = %d, want 1", cntl.SubCount())
	}
	wantSub(t, &cntl, 0, wire.ECONNREFUSED)
	noCallsLeft(t, sys)
}

// success_selective
func TestSelectiveSuccess(t *testing.T) {
	addr := startEcho(t, nil)
	sys := newSystem(t)
	s := newSChan(t, sys, nil, plain(t, sys, addr, nil))
	var cntl actors.Controller
	resp := &echopb.EchoResponse{}
	req := &echopb.EchoRequest{Message: proto.String("hi"), Code: proto.Int32(23)}
	if err := s.Call(t.Context(), echoservice.Method, req, resp, &cntl); err != nil {
		t.Fatalf("Call() = %v, want success", err)
	}
	if cntl.SubCount() != 1 {
		t.Fatalf("SubCount() = %d, want 1", cntl.SubCount())
	}
	wantSub(t, &cntl, 0, 0)
	if cntl.RemoteSide() != addr || cntl.Sub(0).RemoteSide() != addr {
		t.Errorf("RemoteSide() = %q, Sub(0).RemoteSide() = %q, want %q", cntl.RemoteSide(), cntl.Sub(0).RemoteSide(), addr)
	}
	if resp.GetMessage() != "hi" || len(resp.GetCodeList()) != 1 || resp.GetCodeList()[0] != 23 {
		t.Errorf("response = %v, want message hi and code_list [23]", resp)
	}
	noCallsLeft(t, sys)
}

// cancel_before_callmethod_selective and cancel_during_callmethod_selective
func TestSelectiveCancel(t *testing.T) {
	// The server holds every request for a minute (or until it shuts down).
	svc := &echoservice.Service{Sleep: time.Minute}
	addr := startEcho(t, svc)
	sys := newSystem(t)
	s := newSChan(t, sys, &combo.SelectiveOptions{Timeout: testTimeout}, plain(t, sys, addr, nil))

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := s.Call(ctx, echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil)
	wantErrno(t, "Call with a cancelled context", err, wire.ECANCELED)
	if n := svc.Requests(); n != 0 {
		t.Fatalf("server got %d requests, want 0", n)
	}

	var cntl actors.Controller
	call := s.Go(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl, nil)
	eventually(t, "the request to reach the server", func() bool { return svc.Requests() == 1 })
	start := time.Now()
	cntl.StartCancel()
	wantErrno(t, "Call cancelled in flight", call.Wait(), wire.ECANCELED)
	if took := time.Since(start); took > testTimeout/2 {
		t.Errorf("Call ended %v after the cancel, want at once", took)
	}
	if cntl.SubCount() != 1 {
		t.Fatalf("SubCount() = %d, want 1", cntl.SubCount())
	}
	wantSub(t, &cntl, 0, wire.ECANCELED)
	noCallsLeft(t, sys)
}

// timeout_selective
func TestSelectiveTimeout(t *testing.T) {
	// The server holds every request for a minute (or until it shuts down).
	addr := startEcho(t, &echoservice.Service{Sleep: time.Minute})
	sys := newSystem(t)
	s := newSChan(t, sys, &combo.SelectiveOptions{Timeout: 17 * time.Millisecond}, plain(t, sys, addr, nil))
	var cntl actors.Controller
	start := time.Now()
	err := s.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl)
	took := time.Since(start)
	wantErrno(t, "Call to a server slower than the timeout", err, wire.ERPCTIMEDOUT)
	if took < 17*time.Millisecond || took > testTimeout/2 {
		t.Errorf("Call took %v, want about 17ms", took)
	}
	wantSub(t, &cntl, 0, wire.ERPCTIMEDOUT)
	if _, ok := cntl.Sub(0).Deadline(); ok {
		t.Errorf("Sub(0) has a deadline of its own, want none (the selective call's governs)")
	}
	// brpc's sub controller reports its timeout disabled (-1): the sub-channel's own timeout does
	// not apply.
	if d, ok := cntl.Sub(0).Timeout(); !ok || d >= 0 {
		t.Errorf("Sub(0).Timeout() = %v, %v, want a negative timeout, set (none: the selective call's deadline governs)", d, ok)
	}
	noCallsLeft(t, sys)
}

// The selective call's deadline governs a sub-channel whose own timeout is shorter: the
// sub-call's timeout is disabled, so a server slower than the sub-channel's timeout but faster
// than the selective call's still answers.
func TestSelectiveSubChannelTimeoutDisabled(t *testing.T) {
	svc := &echoservice.Service{Sleep: 50 * time.Millisecond}
	addr := startEcho(t, svc)
	sys := newSystem(t)
	sub := plain(t, sys, addr, &actors.ChannelOptions{Timeout: 10 * time.Millisecond})
	s := newSChan(t, sys, &combo.SelectiveOptions{Timeout: testTimeout, MaxRetry: actors.NoRetry}, sub)
	var cntl actors.Controller
	err := s.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl)
	wantErrno(t, "Call with a sub-channel timeout shorter than the server", err, 0)
	wantSub(t, &cntl, 0, 0)
	if d, ok := cntl.Sub(0).Timeout(); !ok || d >= 0 {
		t.Errorf("Sub(0).Timeout() = %v, %v, want a negative timeout, set", d, ok)
	}
	noCallsLeft(t, sys)
}

// request_not_init_selective
func TestSelectiveRequestNotInit(t *testing.T) {
	svc := &echoservice.Service{}
	addr := startEcho(t, svc)
	sys := newSystem(t)
	s := newSChan(t, sys, nil, plain(t, sys, addr, nil), plain(t, sys, addr, nil))
	var cntl actors.Controller
	err := s.Call(t.Context(), echoservice.Method, &echopb.EchoRequest{}, &echopb.EchoResponse{}, &cntl)
	wantErrno(t, "Call with a request missing its message", err, wire.EREQUEST)
	wantSub(t, &cntl, 0, wire.EREQUEST)
	if cntl.RetriedCount() != 0 {
		t.Errorf("RetriedCount() = %d, want 0 (EREQUEST is not retried)", cntl.RetriedCount())
	}
	noCallsLeft(t, sys)
	if n := svc.Requests(); n != 0 {
		t.Errorf("server got %d requests, want 0", n)
	}
}

// server_fail_selective: EINTERNAL is not retried on the other sub-channels.
func TestSelectiveServerFail(t *testing.T) {
	svc := &echoservice.Service{}
	addr := startEcho(t, svc)
	sys := newSystem(t)
	var subs []actors.Channel
	for range 5 {
		subs = append(subs, plain(t, sys, addr, nil))
	}
	s := newSChan(t, sys, nil, subs...)
	var cntl actors.Controller
	req := &echopb.EchoRequest{Message: proto.String("x"), FailCode: proto.Int32(int32(wire.EINTERNAL))}
	err := s.Call(t.Context(), echoservice.Method, req, &echopb.EchoResponse{}, &cntl)
	wantErrno(t, "Call to a failing server", err, wire.EINTERNAL)
	wantSub(t, &cntl, 0, wire.EINTERNAL)
	noCallsLeft(t, sys)
	if n := svc.Requests(); n != 1 {
		t.Errorf("server got %d requests, want 1", n)
	}
}

// Retries move to another sub-channel: a dead one and a good one always succeed.
func TestSelectiveRetryAcrossSubChannels(t *testing.T) {
	good := &echoservice.Service{Index: 7}
	addr := startEcho(t, good)
	sys := newSystem(t)
	dead := plain(t, sys, deadAddr(t), &actors.ChannelOptions{MaxRetry: actors.NoRetry})
	s := newSChan(t, sys, &combo.SelectiveOptions{MaxRetry: 1}, dead, plain(t, sys, addr, nil))
	retried := 0
	for range 10 {
		var cntl actors.Controller
		resp := &echopb.EchoResponse{}
		if err := s.Call(t.Context(), echoservice.Method, echoReq("x"), resp, &cntl); err != nil {
			t.Fatalf("Call() = %v, want success", err)
		}
		if resp.GetServerIndex() != 7 || cntl.RemoteSide() != addr {
			t.Fatalf("answered by %d at %s, want 7 at %s", resp.GetServerIndex(), cntl.RemoteSide(), addr)
		}
		wantSub(t, &cntl, 0, 0)
		retried += cntl.RetriedCount()
	}
	if retried == 0 {
		t.Errorf("no call was retried, want the calls that picked the dead sub-channel retried")
	}
	noCallsLeft(t, sys)
}

// AddChannel works while calls are in flight; they use the sub-channels they picked.
func TestSelectiveAddChannelDuringCalls(t *testing.T) {
	addr := startEcho(t, nil)
	sys := newSystem(t)
	s := newSChan(t, sys, nil, plain(t, sys, addr, nil))
	added := make(chan error, 1)
	go func() {
		for range 20 {
			ch, err := sys.NewChannel(addr, nil)
			if err == nil {
				_, err = s.AddChannel(ch, combo.OwnsChannel)
			}
			if err != nil {
				added <- err
				return
			}
		}
		added <- nil
	}()
	for i := 0; ; i++ {
		if err := s.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); err != nil {
			t.Fatalf("Call() = %v while sub-channels were added", err)
		}
		if i >= 50 && s.ChannelCount() == 21 {
			break
		}
	}
	if err := <-added; err != nil {
		t.Fatalf("AddChannel() = %v", err)
	}
	noCallsLeft(t, sys)
}

// RemoveAndDestroyChannel: later calls never reach the removed sub-channel, which is closed if
// owned.
func TestSelectiveRemoveAndDestroyChannel(t *testing.T) {
	a, b := &echoservice.Service{Index: 1}, &echoservice.Service{Index: 2}
	addrA, addrB := startEcho(t, a), startEcho(t, b)
	sys := newSystem(t)
	s := newSChan(t, sys, nil)
	owned := &closeCounter{Channel: plain(t, sys, addrA, nil)}
	notOwned := &closeCounter{Channel: plain(t, sys, addrA, nil)}
	hOwned, err := s.AddChannel(owned, combo.OwnsChannel)
	if err != nil {
		t.Fatal(err)
	}
	hNotOwned, err := s.AddChannel(notOwned, combo.DoesntOwnChannel)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddChannel(plain(t, sys, addrB, nil), combo.OwnsChannel); err != nil {
		t.Fatal(err)
	}
	for range 6 {
		if err := s.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); err != nil {
			t.Fatalf("Call() = %v", err)
		}
	}
	if a.Requests() == 0 {
		t.Fatalf("server A got no request before the removal, want some")
	}
	for _, h := range []combo.ChannelHandle{hOwned, hNotOwned} {
		if err := s.RemoveAndDestroyChannel(h); err != nil {
			t.Fatalf("RemoveAndDestroyChannel(%d) = %v", h, err)
		}
	}
	if err := s.RemoveAndDestroyChannel(hOwned); err == nil {
		t.Errorf("RemoveAndDestroyChannel of a removed handle = nil, want an error")
	}
	if owned.closes.Load() != 1 || notOwned.closes.Load() != 0 {
		t.Errorf("closed owned %d times, not owned %d times, want 1 and 0", owned.closes.Load(), notOwned.closes.Load())
	}
	before := a.Requests()
	for range 10 {
		resp := &echopb.EchoResponse{}
		if err := s.Call(t.Context(), echoservice.Method, echoReq("x"), resp, nil); err != nil {
			t.Fatalf("Call() after the removal = %v", err)
		}
		if resp.GetServerIndex() != 2 {
			t.Fatalf("answered by server %d after the removal, want 2", resp.GetServerIndex())
		}
	}
	if a.Requests() != before {
		t.Errorf("server A got %d requests after its sub-channels were removed, want 0", a.Requests()-before)
	}
	if s.ChannelCount() != 1 {
		t.Errorf("ChannelCount() = %d, want 1", s.ChannelCount())
	}
	noCallsLeft(t, sys)
	_ = notOwned.Close()
	if err := s.Close(); err != nil || owned.closes.Load() != 1 {
		t.Errorf("Close() = %v with the owned sub-channel closed %d times, want nil and 1", err, owned.closes.Load())
	}
	if _, err := s.AddChannel(plain(t, sys, addrB, nil), combo.OwnsChannel); !errors.Is(err, actors.ErrClosed) {
		t.Errorf("AddChannel after Close = %v, want ErrClosed", err)
	}
}

// destroy_channel_selective: the selective channel is closed right after an asynchronous call
// started; the call still succeeds.
func TestSelectiveCloseRightAfterGo(t *testing.T) {
	addr := startEcho(t, &echoservice.Service{Sleep: 5 * time.Millisecond})
	sys := newSystem(t)
	s, err := combo.NewSelectiveChannel(sys, &combo.SelectiveOptions{Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddChannel(plain(t, sys, addr, nil), combo.OwnsChannel); err != nil {
		t.Fatal(err)
	}
	var runs atomic.Int32
	var cntl actors.Controller
	call := s.Go(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl, func(*actors.Controller) { runs.Add(1) })
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := call.Wait(); err != nil {
		t.Fatalf("Call() = %v, want success", err)
	}
	if runs.Load() != 1 || cntl.RemoteSide() != addr {
		t.Errorf("done ran %d times, RemoteSide() = %q, want 1 and %q", runs.Load(), cntl.RemoteSide(), addr)
	}
	wantSub(t, &cntl, 0, 0)
	err = s.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil)
	wantErrno(t, "Call after Close", err, wire.ELOGOFF)
	noCallsLeft(t, sys)
}

// A sub-channel that has no server (ENODATA) is skipped by the next calls: brpc marks its fake
// socket failed until its health check passes.
func TestSelectiveSkipsSubChannelWithoutServers(t *testing.T) {
	addr := startEcho(t, nil)
	sys := newSystem(t)
	empty := newSChan(t, sys, nil)
	s := newSChan(t, sys, nil, empty, plain(t, sys, addr, nil))
	retried := -1
	for retried <= 0 { // until a call picked the empty sub-channel first
		var cntl actors.Controller
		if err := s.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl); err != nil {
			t.Fatalf("Call() = %v, want success", err)
		}
		retried = cntl.RetriedCount()
	}
	for i := range 10 {
		var cntl actors.Controller
		if err := s.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl); err != nil {
			t.Fatalf("Call() = %v, want success", err)
		}
		if cntl.RetriedCount() != 0 {
			t.Fatalf("call %d after the empty sub-channel failed was retried %d times, want 0 (the empty one skipped)", i, cntl.RetriedCount())
		}
	}
	// A second later it is tried again.
	eventually(t, "the empty sub-channel to be picked again", func() bool {
		var cntl actors.Controller
		err := s.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl)
		return err == nil && cntl.RetriedCount() > 0
	})
	noCallsLeft(t, sys)
}
