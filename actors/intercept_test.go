package actors_test

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
	"github.com/troupe-rpc/troupe/actors/actorstest"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// recorder collects what interceptors report, from any goroutine.
type recorder struct {
	mu  sync.Mutex
	got []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.got = append(r.got, s)
	r.mu.Unlock()
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.got
	r.got = nil
	return got
}

// recording is an interceptor that records its entry and its exit under name.
func recording(r *recorder, name string) actors.Interceptor {
	return func(ctx context.Context, method string, req, resp proto.Message, cntl *actors.Controller, next actors.Invoker) error {
		r.add("enter " + name)
		err := next(ctx, method, req, resp, cntl)
		r.add(fmt.Sprintf("exit %s %d", name, int(wire.ErrnoOf(err))))
		return err
	}
}

// callBoth makes the same call with Call and with Go (waiting for its done callback), and
// returns each one's error and the error its Controller holds.
func callBoth(t *testing.T, ch actors.Channel, msg string, cntl func() *actors.Controller) (errs, cntlErrs [2]error) {
	t.Helper()
	c := cntl()
	errs[0] = ch.Call(t.Context(), echoservice.Method, echoReq(msg), &echopb.EchoResponse{}, c)
	if c != nil {
		cntlErrs[0] = c.Err()
	}
	var dones atomic.Int32
	call := ch.Go(t.Context(), echoservice.Method, echoReq(msg), &echopb.EchoResponse{}, cntl(), func(c *actors.Controller) {
		dones.Add(1)
		cntlErrs[1] = c.Err()
	})
	errs[1] = waitDone(t, call)
	if n := dones.Load(); n != 1 {
		t.Errorf("Go: done ran %d times, want once", n)
	}
	return errs, cntlErrs
}

func TestInterceptorsRunInOrder(t *testing.T) {
	var r recorder
	svc := &echoservice.Service{}
	_, ch := newChannel(t, svc, &actors.ChannelOptions{Timeout: testTimeout, ConnectTimeout: testTimeout, Interceptors: []actors.Interceptor{
		recording(&r, "a"), recording(&r, "b"), recording(&r, "c"),
	}})
	defer ch.Close()
	want := []string{"enter a", "enter b", "enter c", "exit c 0", "exit b 0", "exit a 0"}
	errs, _ := callBoth(t, ch, "x", func() *actors.Controller { return nil })
	for i, how := range []string{"Call", "Go"} {
		if errs[i] != nil {
			t.Errorf("%s() = %v, want nil", how, errs[i])
		}
	}
	if got := r.take(); !slices.Equal(got, append(slices.Clone(want), want...)) {
		t.Errorf("interceptors recorded %q, want %q twice", got, want)
	}
	if n := svc.Requests(); n != 2 {
		t.Errorf("the server got %d requests, want 2", n)
	}
}

// An interceptor sees the call's method, request, response and Controller (a Controller of the
// call's own when the caller passed none).
func TestInterceptorSeesTheCall(t *testing.T) {
	type seen struct {
		method string
		msg    string
		resp   *echopb.EchoResponse
		cntl   *actors.Controller
	}
	calls := make(chan seen, 2)
	_, ch := newChannel(t, nil, &actors.ChannelOptions{Timeout: testTimeout, ConnectTimeout: testTimeout, Interceptors: []actors.Interceptor{
		func(ctx context.Context, method string, req, resp proto.Message, cntl *actors.Controller, next actors.Invoker) error {
			err := next(ctx, method, req, resp, cntl)
			calls <- seen{method, req.(*echopb.EchoRequest).GetMessage(), resp.(*echopb.EchoResponse), cntl}
			return err
		},
	}})
	defer ch.Close()
	var cntl actors.Controller
	resp := &echopb.EchoResponse{}
	if err := ch.Call(t.Context(), echoservice.Method, echoReq("hi"), resp, &cntl); err != nil {
		t.Fatalf("Call() = %v", err)
	}
	s := <-calls
	if s.method != echoservice.Method || s.msg != "hi" || s.resp != resp || s.cntl != &cntl || s.resp.GetMessage() != "hi" {
		t.Errorf("the interceptor saw %q, %q, %p (%q), %p; want %q, %q, %p, %p",
			s.method, s.msg, s.resp, s.resp.GetMessage(), s.cntl, echoservice.Method, "hi", resp, &cntl)
	}
	if err := ch.Call(t.Context(), echoservice.Method, echoReq("hi"), &echopb.EchoResponse{}, nil); err != nil {
		t.Fatalf("Call() = %v", err)
	}
	if s := <-calls; s.cntl == nil {
		t.Error("the interceptor of a call without a Controller got nil, want one")
	}
}

// An interceptor that returns without calling next ends the call with what it returned; the
// server never sees the request.
func TestInterceptorShortCircuits(t *testing.T) {
	svc := &echoservice.Service{}
	deny := errors.New("denied by policy")
	_, ch := newChannel(t, svc, &actors.ChannelOptions{Timeout: testTimeout, ConnectTimeout: testTimeout, Interceptors: []actors.Interceptor{
		func(ctx context.Context, method string, req, resp proto.Message, cntl *actors.Controller, next actors.Invoker) error {
			switch req.(*echopb.EchoRequest).GetMessage() {
			case "cached":
				resp.(*echopb.EchoResponse).Message = proto.String("from cache")
				return nil
			case "rejected":
				return wire.Errorf(wire.EREJECT, "rejected by the client")
			}
			return deny
		},
	}})
	defer ch.Close()

	resp := &echopb.EchoResponse{}
	var cntl actors.Controller
	if err := ch.Call(t.Context(), echoservice.Method, echoReq("cached"), resp, &cntl); err != nil || resp.GetMessage() != "from cache" || cntl.Failed() {
		t.Errorf("Call(cached) = %v, %q, failed %v; want nil, %q, false", err, resp.GetMessage(), cntl.Failed(), "from cache")
	}
	errs, cntlErrs := callBoth(t, ch, "rejected", func() *actors.Controller { return new(actors.Controller) })
	for i, how := range []string{"Call", "Go"} {
		if !errors.Is(errs[i], wire.EREJECT) || !errors.Is(cntlErrs[i], wire.EREJECT) {
			t.Errorf("%s(rejected) = %v, Controller %v; want EREJECT", how, errs[i], cntlErrs[i])
		}
	}
	errs, _ = callBoth(t, ch, "other", func() *actors.Controller { return nil })
	for i, how := range []string{"Call", "Go"} {
		if !errors.Is(errs[i], wire.EINTERNAL) || !errors.Is(errs[i], deny) {
			t.Errorf("%s(other) = %v, want EINTERNAL wrapping %v", how, errs[i], deny)
		}
	}
	if n := svc.Requests(); n != 0 {
		t.Errorf("the server got %d requests, want none", n)
	}
}

// What an interceptor sets before next — a log id, a user field, a shorter timeout — applies to
// the call next makes, and the Controller it passed holds that call's results.
func TestInterceptorChangesSettings(t *testing.T) {
	srv, err := actors.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	type seen struct {
		logID int64
		field string
	}
	got := make(chan seen, 4)
	err = actors.Handle(srv, echoservice.Method, func(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		call := actors.ServerCallFromContext(ctx)
		v, _ := call.UserField("caller")
		got <- seen{call.LogID(), v}
		if req.GetSleepUs() > 0 {
			<-ctx.Done() // until the client gives up and the server shuts down
		}
		return &echopb.EchoResponse{Message: req.Message}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveOn(t, srv)
	sys := newSystem(t)
	type result struct {
		failed bool
		remote string
	}
	after := make(chan result, 4)
	ch, err := sys.NewChannel(addr, &actors.ChannelOptions{Timeout: time.Hour, Interceptors: []actors.Interceptor{
		func(ctx context.Context, method string, req, resp proto.Message, cntl *actors.Controller, next actors.Invoker) error {
			cntl.SetLogID(4242)
			cntl.SetRequestUserField("caller", "interceptor")
			if req.(*echopb.EchoRequest).GetSleepUs() > 0 {
				cntl.SetTimeout(50 * time.Millisecond)
			}
			err := next(ctx, method, req, resp, cntl)
			after <- result{cntl.Failed(), cntl.RemoteSide()}
			return err
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()

	if err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); err != nil {
		t.Fatalf("Call() = %v", err)
	}
	if s := <-got; s.logID != 4242 || s.field != "interceptor" {
		t.Errorf("the server saw log id %d and user field %q, want 4242 and %q", s.logID, s.field, "interceptor")
	}
	if r := <-after; r.failed || r.remote != addr {
		t.Errorf("after next the Controller says failed %v, remote %q; want false, %q", r.failed, r.remote, addr)
	}

	req := &echopb.EchoRequest{Message: proto.String("slow"), SleepUs: proto.Int32(1)}
	err = ch.Call(t.Context(), echoservice.Method, req, &echopb.EchoResponse{}, nil)
	if !errors.Is(err, wire.ERPCTIMEDOUT) || !strings.Contains(err.Error(), "timeout=50ms") {
		t.Errorf("Call(slow) with the interceptor's 50ms timeout on a channel of an hour = %v, want ERPCTIMEDOUT after 50ms", err)
	}
	<-got
	if r := <-after; !r.failed {
		t.Error("after next the Controller says the timed-out call did not fail")
	}
}

// A panicking interceptor fails its call with EINTERNAL naming the panic, the call ends once, and
// the next call works.
func TestInterceptorPanic(t *testing.T) {
	var calls atomic.Int32
	var r recorder
	_, ch := newChannel(t, nil, &actors.ChannelOptions{Timeout: testTimeout, ConnectTimeout: testTimeout, Interceptors: []actors.Interceptor{
		recording(&r, "outer"),
		func(ctx context.Context, method string, req, resp proto.Message, cntl *actors.Controller, next actors.Invoker) error {
			if calls.Add(1) <= 2 {
				panic("interceptor bug")
			}
			return next(ctx, method, req, resp, cntl)
		},
	}})
	defer ch.Close()
	errs, cntlErrs := callBoth(t, ch, "x", func() *actors.Controller { return new(actors.Controller) })
	for i, how := range []string{"Call", "Go"} {
		if !errors.Is(errs[i], wire.EINTERNAL) || !strings.Contains(errs[i].Error(), "interceptor 2 of 2 panicked: interceptor bug") ||
			!strings.Contains(errs[i].Error(), "goroutine") || !errors.Is(cntlErrs[i], wire.EINTERNAL) {
			t.Errorf("%s() = %v (Controller %v), want EINTERNAL naming the panic, with its stack", how, errs[i], cntlErrs[i])
		}
	}
	want := fmt.Sprintf("exit outer %d", int(wire.EINTERNAL))
	if got := r.take(); !slices.Equal(got, []string{"enter outer", want, "enter outer", want}) {
		t.Errorf("the outer interceptor recorded %q, want its next to return EINTERNAL", got)
	}
	errs, _ = callBoth(t, ch, "x", func() *actors.Controller { return nil })
	if errs[0] != nil || errs[1] != nil {
		t.Errorf("after the panics: Call() = %v, Go() = %v, want nil", errs[0], errs[1])
	}
}

// ChainInterceptors skips nil interceptors; a channel refuses them.
func TestChainInterceptorsSkipsNil(t *testing.T) {
	if actors.ChainInterceptors() != nil || actors.ChainInterceptors(nil, nil) != nil {
		t.Error("ChainInterceptors of nothing is not nil")
	}
	sys := newSystem(t)
	_, err := sys.NewChannel("127.0.0.1:1", &actors.ChannelOptions{Interceptors: []actors.Interceptor{nil}})
	if err == nil || !strings.Contains(err.Error(), "Interceptors[0] is nil") {
		t.Errorf("NewChannel with a nil interceptor = %v, want an error naming Interceptors[0]", err)
	}
}

// Go with interceptors returns at once; Cancel ends the call with ECANCELED, once, and stops the
// request next sent.
func TestInterceptedGoCancel(t *testing.T) {
	svc := &echoservice.Service{Sleep: time.Hour}
	returned := make(chan error, 1)
	_, ch := newChannel(t, svc, &actors.ChannelOptions{Timeout: actors.NoTimeout, Interceptors: []actors.Interceptor{
		func(ctx context.Context, method string, req, resp proto.Message, cntl *actors.Controller, next actors.Invoker) error {
			err := next(ctx, method, req, resp, cntl)
			returned <- err
			return err
		},
	}})
	defer ch.Close()
	var dones atomic.Int32
	call := ch.Go(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil, func(*actors.Controller) { dones.Add(1) })
	actorstest.Eventually(t, "the server to get the request", func() bool { return svc.Requests() == 1 })
	call.Cancel()
	if err := waitDone(t, call); !errors.Is(err, wire.ECANCELED) {
		t.Errorf("Go() cancelled = %v, want ECANCELED", err)
	}
	call.Cancel()
	if err := <-returned; !errors.Is(err, wire.ECANCELED) {
		t.Errorf("next of the cancelled call = %v, want ECANCELED", err)
	}
	if n := dones.Load(); n != 1 {
		t.Errorf("done ran %d times, want once", n)
	}
}

// The call's deadline holds while an interceptor runs: the call ends with ERPCTIMEDOUT, once,
// whether the interceptor waits for ctx or for something else; its goroutine ends when it
// returns.
func TestInterceptedGoDeadline(t *testing.T) {
	release := make(chan struct{})
	returned := make(chan error, 2)
	svc := &echoservice.Service{}
	_, ch := newChannel(t, svc, &actors.ChannelOptions{Timeout: 50 * time.Millisecond, Interceptors: []actors.Interceptor{
		func(ctx context.Context, method string, req, resp proto.Message, cntl *actors.Controller, next actors.Invoker) error {
			if req.(*echopb.EchoRequest).GetMessage() == "ctx" {
				<-ctx.Done()
			} else {
				<-release
			}
			err := next(ctx, method, req, resp, cntl)
			returned <- err
			return err
		},
	}})
	defer ch.Close()
	for _, msg := range []string{"ctx", "release"} {
		var dones atomic.Int32
		call := ch.Go(t.Context(), echoservice.Method, echoReq(msg), &echopb.EchoResponse{}, nil, func(*actors.Controller) { dones.Add(1) })
		err := waitDone(t, call)
		if !errors.Is(err, wire.ERPCTIMEDOUT) || !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "Reached timeout=50ms") {
			t.Errorf("%s: Go() past its deadline = %v, want ERPCTIMEDOUT", msg, err)
		}
		if msg == "release" {
			close(release)
		}
		if err := <-returned; err == nil {
			t.Errorf("%s: next after the deadline = nil, want an error", msg)
		}
		if n := dones.Load(); n != 1 {
			t.Errorf("%s: done ran %d times, want once", msg, n)
		}
	}
	if n := svc.Requests(); n != 0 {
		t.Errorf("the server got %d requests after the calls ended, want none", n)
	}
}
