package actors_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

func echoReq(msg string) *echopb.EchoRequest { return &echopb.EchoRequest{Message: proto.String(msg)} }

// newChannel starts an echo server and returns a channel to it.
func newChannel(t *testing.T, svc *echoservice.Service, opts *actors.ChannelOptions) (*actors.System, *actors.PlainChannel) {
	t.Helper()
	_, addr := startEcho(t, svc)
	sys := newSystem(t)
	ch, err := sys.NewChannel(addr, opts)
	if err != nil {
		t.Fatalf("NewChannel(%q) = %v", addr, err)
	}
	return sys, ch
}

// waitDone waits for a call with a test timeout.
func waitDone(t *testing.T, c *actors.Call) error {
	t.Helper()
	select {
	case <-c.Done():
		return c.Err()
	case <-time.After(testTimeout):
		t.Fatalf("call %s did not finish", c.Method())
		return nil
	}
}

func TestCallSync(t *testing.T) {
	_, ch := newChannel(t, nil, nil)
	var cntl actors.Controller
	cntl.SetRequestAttachment([]byte("att"))
	cntl.SetLogID(42)
	resp := &echopb.EchoResponse{}
	if err := ch.Call(t.Context(), echoservice.Method, echoReq("hello"), resp, &cntl); err != nil {
		t.Fatalf("Call() = %v, want nil", err)
	}
	if resp.GetMessage() != "hello" {
		t.Errorf("response message = %q, want %q", resp.GetMessage(), "hello")
	}
	if got := string(cntl.ResponseAttachment()); got != "att" {
		t.Errorf("ResponseAttachment() = %q, want %q", got, "att")
	}
	if cntl.Failed() || cntl.ErrorCode() != 0 || cntl.Err() != nil || cntl.ErrorText() != "" {
		t.Errorf("controller reports failure: %v", cntl.Err())
	}
	if cntl.RemoteSide() != ch.Target() || cntl.LocalSide() == "" || cntl.Latency() <= 0 {
		t.Errorf("RemoteSide, LocalSide, Latency = %q, %q, %v", cntl.RemoteSide(), cntl.LocalSide(), cntl.Latency())
	}
	if cntl.SubCount() != 0 || cntl.Sub(0) != nil || cntl.Sub(-1) != nil || cntl.RetriedCount() != 0 || cntl.HasBackupRequest() {
		t.Errorf("plain call: SubCount=%d Sub(0)=%v RetriedCount=%d HasBackupRequest=%v", cntl.SubCount(), cntl.Sub(0), cntl.RetriedCount(), cntl.HasBackupRequest())
	}
}

func TestCallAsyncRunsDoneOnceOffTheCallersGoroutine(t *testing.T) {
	_, ch := newChannel(t, nil, nil)
	var runs atomic.Int32
	release := make(chan struct{})
	resp := &echopb.EchoResponse{}
	// done blocks until the caller, after Go returned, releases it: run on the caller's goroutine
	// it would never return.
	call := ch.Go(t.Context(), echoservice.Method, echoReq("async"), resp, nil, func(c *actors.Controller) {
		<-release
		runs.Add(1)
		if c.Err() != nil {
			t.Errorf("done: Err() = %v", c.Err())
		}
	})
	close(release)
	if err := waitDone(t, call); err != nil {
		t.Fatalf("call = %v", err)
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("done ran %d times, want 1", n)
	}
	if resp.GetMessage() != "async" || call.Controller().Err() != nil {
		t.Errorf("resp = %q, err = %v", resp.GetMessage(), call.Controller().Err())
	}
}

func TestEarlyFailureRunsDoneOnAnotherGoroutine(t *testing.T) {
	_, ch := newChannel(t, nil, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	release := make(chan struct{})
	var released, ran atomic.Bool
	// done waits until the caller, after Go returned, releases it: run on the caller's goroutine
	// it would wait in vain, and say so.
	call := ch.Go(ctx, echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil, func(*actors.Controller) {
		select {
		case <-release:
			released.Store(true)
		case <-time.After(testTimeout):
		}
		ran.Store(true)
	})
	close(release)
	if err := waitDone(t, call); !errors.Is(err, wire.ECANCELED) {
		t.Fatalf("Go(cancelled ctx) = %v, want ECANCELED", err)
	}
	if !ran.Load() {
		t.Fatal("Done closed before the callback returned")
	}
	if !released.Load() {
		t.Fatal("done ran on the caller's goroutine before Go returned")
	}
}

func TestJoinWaitsForCallbacks(t *testing.T) {
	_, ch := newChannel(t, nil, nil)
	const n = 20
	var entered, done atomic.Int32
	release := make(chan struct{})
	calls := make([]*actors.Call, n)
	for i := range calls {
		calls[i] = ch.Go(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil, func(*actors.Controller) {
			entered.Add(1)
			<-release
			done.Add(1)
		})
	}
	joined := make(chan struct{})
	go func() {
		actors.Join(calls...)
		close(joined)
	}()
	eventually(t, "every callback to start", func() bool { return entered.Load() == n })
	select {
	case <-joined:
		t.Error("Join returned while the callbacks ran")
	default:
	}
	close(release)
	select {
	case <-joined:
	case <-time.After(testTimeout):
		t.Fatal("Join did not return after the callbacks did")
	}
	if got := done.Load(); got != n {
		t.Fatalf("after Join, %d callbacks finished, want %d", got, n)
	}
	actors.Join() // no calls: returns at once
	actors.Join(nil)
}

func TestCancel(t *testing.T) {
	// The server holds every request for a minute (or until it shuts down), and so would the
	// channel: a call ends early only when its cancel ends it.
	slow := &echoservice.Service{Sleep: time.Minute}
	sys, ch := newChannel(t, slow, &actors.ChannelOptions{Timeout: time.Minute})
	// reached waits until the server got its next request after before.
	reached := func(t *testing.T, before int64) {
		t.Helper()
		eventually(t, "the request to reach the server", func() bool { return slow.Requests() > before })
	}
	t.Run("ctx cancelled before the call", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		err := ch.Call(ctx, echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil)
		if !errors.Is(err, wire.ECANCELED) || !errors.Is(err, context.Canceled) {
			t.Fatalf("Call(cancelled ctx) = %v, want ECANCELED", err)
		}
	})
	t.Run("StartCancel before the call", func(t *testing.T) {
		var cntl actors.Controller
		cntl.StartCancel()
		err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl)
		if cntl.ErrorCode() != wire.ECANCELED {
			t.Fatalf("Call after StartCancel = %v, want ECANCELED", err)
		}
	})
	t.Run("Cancel in flight from another goroutine", func(t *testing.T) {
		before := slow.Requests()
		call := ch.Go(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil, nil)
		reached(t, before)
		start := time.Now()
		go call.Cancel()
		err := waitDone(t, call)
		if !errors.Is(err, wire.ECANCELED) {
			t.Fatalf("cancelled call = %v, want ECANCELED", err)
		}
		if el := time.Since(start); el > testTimeout/2 {
			t.Errorf("cancel took %v, want it at once, well before the minute the server holds the request", el)
		}
		call.Cancel() // a second cancel does nothing
		if call.Err() != err {
			t.Errorf("second Cancel changed the error to %v", call.Err())
		}
	})
	t.Run("ctx cancelled in flight", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		var cntl actors.Controller
		before := slow.Requests()
		result := make(chan error, 1)
		go func() { result <- ch.Call(ctx, echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl) }()
		reached(t, before)
		cancel()
		select {
		case err := <-result:
			if !errors.Is(err, context.Canceled) || cntl.ErrorCode() != wire.ECANCELED {
				t.Fatalf("Call = %v (code %v), want ECANCELED", err, cntl.ErrorCode())
			}
		case <-time.After(testTimeout):
			t.Fatal("Call did not end after its ctx was cancelled")
		}
	})
	t.Run("StartCancel in flight", func(t *testing.T) {
		var cntl actors.Controller
		before := slow.Requests()
		call := ch.Go(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl, nil)
		reached(t, before)
		cntl.StartCancel()
		if err := waitDone(t, call); !errors.Is(err, wire.ECANCELED) {
			t.Fatalf("call = %v, want ECANCELED", err)
		}
	})
	t.Run("Cancel after the call finished", func(t *testing.T) {
		fast, err := sys.NewChannel(startEchoAddr(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		call := fast.Go(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil, nil)
		if err := waitDone(t, call); err != nil {
			t.Fatalf("call = %v", err)
		}
		call.Cancel()
		call.Controller().StartCancel()
		if call.Err() != nil || call.Controller().Err() != nil {
			t.Fatalf("Cancel after finish changed the result to %v", call.Err())
		}
	})
}

func startEchoAddr(t *testing.T) string {
	t.Helper()
	_, addr := startEcho(t, nil)
	return addr
}

func TestTimeout(t *testing.T) {
	// The server holds a request for a minute (or until it shuts down): a call that ends sooner
	// was ended by its deadline. Timers never fire early, so the lower bounds are exact; the
	// upper bound only has to tell a deadline from that minute.
	hold := slowReq(time.Minute)
	_, ch := newChannel(t, nil, &actors.ChannelOptions{Timeout: 30 * time.Millisecond})
	const atMost = testTimeout / 2
	check := func(t *testing.T, err error, cntl *actors.Controller, min time.Duration) {
		t.Helper()
		if !errors.Is(err, wire.ERPCTIMEDOUT) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Call() = %v, want ERPCTIMEDOUT", err)
		}
		if cntl.ErrorCode() != wire.ERPCTIMEDOUT || cntl.RetriedCount() != 0 {
			t.Errorf("ErrorCode, RetriedCount = %v, %d, want ERPCTIMEDOUT, 0 (a timeout is never retried)", cntl.ErrorCode(), cntl.RetriedCount())
		}
		if l := cntl.Latency(); l < min || l > atMost {
			t.Errorf("Latency() = %v, want in [%v, %v]", l, min, atMost)
		}
	}
	t.Run("channel timeout", func(t *testing.T) {
		var cntl actors.Controller
		err := ch.Call(t.Context(), echoservice.Method, hold, &echopb.EchoResponse{}, &cntl)
		check(t, err, &cntl, 30*time.Millisecond)
	})
	t.Run("controller timeout overrides the channel's", func(t *testing.T) {
		var cntl actors.Controller
		cntl.SetTimeout(60 * time.Millisecond)
		err := ch.Call(t.Context(), echoservice.Method, hold, &echopb.EchoResponse{}, &cntl)
		check(t, err, &cntl, 60*time.Millisecond)
	})
	t.Run("earlier ctx deadline wins", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
		defer cancel()
		var cntl actors.Controller
		cntl.SetTimeout(time.Minute)
		err := ch.Call(ctx, echoservice.Method, hold, &echopb.EchoResponse{}, &cntl)
		check(t, err, &cntl, 5*time.Millisecond) // the deadline was set before the call began
	})
	t.Run("no deadline waits for the answer", func(t *testing.T) {
		var cntl actors.Controller
		cntl.SetTimeout(-1)
		if err := ch.Call(t.Context(), echoservice.Method, slowReq(100*time.Millisecond), &echopb.EchoResponse{}, &cntl); err != nil {
			t.Fatalf("Call(no deadline) = %v", err)
		}
	})
	t.Run("expired ctx", func(t *testing.T) {
		ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
		defer cancel()
		err := ch.Call(ctx, echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil)
		if !errors.Is(err, wire.ERPCTIMEDOUT) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Call(expired ctx) = %v, want ERPCTIMEDOUT", err)
		}
	})
}

func TestServerErrorsReachTheCaller(t *testing.T) {
	_, ch := newChannel(t, nil, nil)
	req := echoReq("x")
	req.FailCode = proto.Int32(int32(wire.EINTERNAL))
	var cntl actors.Controller
	err := ch.Call(t.Context(), echoservice.Method, req, &echopb.EchoResponse{}, &cntl)
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != wire.EINTERNAL || !we.Remote || we.Text != "Server fail" || we.Addr != ch.Target() {
		t.Fatalf("Call() = %#v, want a remote EINTERNAL \"Server fail\"", err)
	}
	if cntl.RetriedCount() != 0 {
		t.Errorf("EINTERNAL was retried %d times", cntl.RetriedCount())
	}
	err = ch.Call(t.Context(), "example.EchoService.Nope", req, &echopb.EchoResponse{}, nil)
	if wire.ErrnoOf(err) != wire.ENOMETHOD {
		t.Errorf("unknown method = %v, want ENOMETHOD", err)
	}
}

func TestBadInput(t *testing.T) {
	sys, ch := newChannel(t, nil, nil)
	for _, addr := range []string{"127.0.0.1:90000", "10.39.2.300:8000", "", "localhost", "127.0.0.1:80:x"} {
		if _, err := sys.NewChannel(addr, nil); err == nil {
			t.Errorf("NewChannel(%q) = nil error, want one", addr)
		}
	}
	for _, o := range []actors.ChannelOptions{{Protocol: "http"}, {ConnectionType: "pooled-ish"}, {ConnectTimeout: -1}} {
		if _, err := sys.NewChannel(ch.Target(), &o); err == nil {
			t.Errorf("NewChannel(%+v) = nil error, want one", o)
		}
	}
	tests := []struct {
		name      string
		method    string
		req, resp proto.Message
		want      wire.Errno
	}{
		{"nil response", echoservice.Method, echoReq("x"), nil, wire.EINVAL},
		{"nil request", echoservice.Method, nil, &echopb.EchoResponse{}, wire.EINVAL},
		{"method without service", "Echo", echoReq("x"), &echopb.EchoResponse{}, wire.ENOMETHOD},
		{"request missing a required field", echoservice.Method, &echopb.EchoRequest{}, &echopb.EchoResponse{}, wire.EREQUEST},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cntl actors.Controller
			err := ch.Call(t.Context(), tt.method, tt.req, tt.resp, &cntl)
			if wire.ErrnoOf(err) != tt.want || cntl.ErrorCode() != tt.want {
				t.Fatalf("Call() = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestControllerReuse(t *testing.T) {
	_, ch := newChannel(t, nil, nil)
	var cntl actors.Controller
	if err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl); err != nil {
		t.Fatal(err)
	}
	err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl)
	if wire.ErrnoOf(err) != wire.EINVAL {
		t.Fatalf("Call with a used Controller = %v, want EINVAL", err)
	}
	cntl.Reset()
	if err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl); err != nil {
		t.Fatalf("Call after Reset = %v", err)
	}
}

func TestCompressedCalls(t *testing.T) {
	_, ch := newChannel(t, nil, nil)
	for _, ct := range []wire.CompressType{wire.CompressSnappy, wire.CompressGzip, wire.CompressZlib} {
		var cntl actors.Controller
		cntl.SetCompressType(ct)
		resp := &echopb.EchoResponse{}
		if err := ch.Call(t.Context(), echoservice.Method, echoReq("compress me"), resp, &cntl); err != nil || resp.GetMessage() != "compress me" {
			t.Errorf("Call(%v) = %v, %q", ct, err, resp.GetMessage())
		}
	}
	var cntl actors.Controller
	cntl.SetCompressType(wire.CompressLZ4)
	if err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl); wire.ErrnoOf(err) != wire.EREQUEST {
		t.Errorf("Call(lz4) = %v, want EREQUEST", err)
	}
}

func TestClosedChannelAndSystem(t *testing.T) {
	sys, ch := newChannel(t, nil, nil)
	ch2, err := sys.NewChannel(ch.Target(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch2.Close(); err != nil {
		t.Fatal(err)
	}
	_ = ch2.Close()
	err = ch2.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil)
	if !errors.Is(err, actors.ErrClosed) || !errors.Is(err, wire.ELOGOFF) {
		t.Fatalf("Call on a closed channel = %v, want ErrClosed", err)
	}
	if err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); err != nil {
		t.Fatalf("the other channel to the same server broke: %v", err)
	}
	sys.Shutdown()
	sys.Shutdown()
	err = ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil)
	if !errors.Is(err, actors.ErrClosed) {
		t.Fatalf("Call after Shutdown = %v, want ErrClosed", err)
	}
	if _, err := sys.NewChannel(ch.Target(), nil); !errors.Is(err, actors.ErrClosed) {
		t.Fatalf("NewChannel after Shutdown = %v, want ErrClosed", err)
	}
}

func TestDonePanicIsRecovered(t *testing.T) {
	_, ch := newChannel(t, nil, nil)
	call := ch.Go(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil, func(*actors.Controller) {
		panic("callback bug")
	})
	if err := waitDone(t, call); err != nil {
		t.Fatalf("call = %v", err)
	}
	if err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); err != nil {
		t.Fatalf("runtime broken after a callback panic: %v", err)
	}
}
