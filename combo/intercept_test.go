package combo_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// trail records interceptors' entries and exits, from any goroutine.
type trail struct {
	mu  sync.Mutex
	got []string
}

func (tr *trail) interceptor(name string) actors.Interceptor {
	return func(ctx context.Context, method string, req, resp proto.Message, cntl *actors.Controller, next actors.Invoker) error {
		tr.add("enter " + name)
		err := next(ctx, method, req, resp, cntl)
		tr.add(fmt.Sprintf("exit %s %d", name, int(wire.ErrnoOf(err))))
		return err
	}
}

func (tr *trail) add(s string) {
	tr.mu.Lock()
	tr.got = append(tr.got, s)
	tr.mu.Unlock()
}

func (tr *trail) take() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	got := tr.got
	tr.got = nil
	return got
}

// checkNesting checks that got is outer's entry, then each sub's entry before its exit (the
// subs in any order), then outer's exit.
func checkNesting(t *testing.T, what string, got []string, outer string, subs ...string) {
	t.Helper()
	if len(got) != 2+2*len(subs) || got[0] != "enter "+outer || got[len(got)-1] != "exit "+outer+" 0" {
		t.Errorf("%s: interceptors recorded %q, want %s around %q", what, got, outer, subs)
		return
	}
	inner := got[1 : len(got)-1]
	for _, s := range subs {
		in, out := slices.Index(inner, "enter "+s), slices.Index(inner, "exit "+s+" 0")
		if in < 0 || out < in {
			t.Errorf("%s: interceptors recorded %q, want %s entered and then exited inside %s", what, got, s, outer)
		}
	}
}

// metaServer is an echo server that records the user field "tenant" and the log id of every
// request.
func metaServer(t *testing.T) (addr string, seen func() []string) {
	srv, err := actors.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	err = actors.Handle(srv, echoservice.Method, func(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		call := actors.ServerCallFromContext(ctx)
		v, _ := call.UserField("tenant")
		mu.Lock()
		got = append(got, fmt.Sprintf("%s/%d", v, call.LogID()))
		mu.Unlock()
		return &echopb.EchoResponse{Message: req.Message}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	a, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return a.String(), func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := got
		got = nil
		return out
	}
}

// A parallel channel's interceptors run around the whole call, each sub-channel's around its
// sub-call; the sub-calls carry the user fields and the log id the combo's interceptor set.
func TestInterceptorsOfAParallelChannelAndItsSubChannels(t *testing.T) {
	addr, seen := metaServer(t)
	sys := newSystem(t)
	var tr trail
	setter := func(ctx context.Context, method string, req, resp proto.Message, cntl *actors.Controller, next actors.Invoker) error {
		cntl.SetRequestUserField("tenant", "acme")
		cntl.SetLogID(9)
		return next(ctx, method, req, resp, cntl)
	}
	p, err := combo.NewParallelChannel(sys, &combo.ParallelOptions{Interceptors: []actors.Interceptor{tr.interceptor("p"), setter}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, name := range []string{"s0", "s1"} {
		sub := plain(t, sys, addr, &actors.ChannelOptions{Interceptors: []actors.Interceptor{tr.interceptor(name)}})
		if err := p.AddChannel(sub, combo.OwnsChannel, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	var cntl actors.Controller
	if err := p.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl); err != nil {
		t.Fatalf("Call() = %v", err)
	}
	checkNesting(t, "Call", tr.take(), "p", "s0", "s1")
	if cntl.SubCount() != 2 || cntl.Sub(0) == nil || cntl.Sub(1) == nil {
		t.Errorf("SubCount() = %d, Sub(0), Sub(1) = %v, %v; want 2 sub-calls", cntl.SubCount(), cntl.Sub(0), cntl.Sub(1))
	}
	var dones atomic.Int32
	call := p.Go(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil, func(*actors.Controller) { dones.Add(1) })
	if err := call.Wait(); err != nil {
		t.Fatalf("Go() = %v", err)
	}
	checkNesting(t, "Go", tr.take(), "p", "s0", "s1")
	if n := dones.Load(); n != 1 {
		t.Errorf("done ran %d times, want once", n)
	}
	if got := seen(); !slices.Equal(got, []string{"acme/9", "acme/9", "acme/9", "acme/9"}) {
		t.Errorf("the server saw tenant/log id %q, want acme/9 on each of the 4 sub-calls", got)
	}
	noCallsLeft(t, sys)
}

// A selective channel's interceptors run around the whole call, the chosen sub-channel's around
// the attempt on it; a combo interceptor that returns at once sends nothing.
func TestInterceptorsOfASelectiveChannel(t *testing.T) {
	svc := &echoservice.Service{}
	addr := startEcho(t, svc)
	sys := newSystem(t)
	var tr trail
	var shortCircuit atomic.Bool
	s := newSChan(t, sys, &combo.SelectiveOptions{Interceptors: []actors.Interceptor{tr.interceptor("sel"),
		func(ctx context.Context, method string, req, resp proto.Message, cntl *actors.Controller, next actors.Invoker) error {
			if shortCircuit.Load() {
				return wire.Errorf(wire.EREJECT, "not today")
			}
			return next(ctx, method, req, resp, cntl)
		}}},
		plain(t, sys, addr, &actors.ChannelOptions{Interceptors: []actors.Interceptor{tr.interceptor("a")}}),
		plain(t, sys, addr, &actors.ChannelOptions{Interceptors: []actors.Interceptor{tr.interceptor("b")}}))
	var cntl actors.Controller
	cntl.SetTraceID(5)
	if err := s.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl); err != nil {
		t.Fatalf("Call() = %v", err)
	}
	got := tr.take()
	sub := strings.Fields(got[1])[1]
	checkNesting(t, "Call", got, "sel", sub)

	shortCircuit.Store(true)
	before := svc.Requests()
	err := s.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil)
	wantErrno(t, "Call() short-circuited", err, wire.EREJECT)
	if n := svc.Requests(); n != before {
		t.Errorf("the server got %d requests from a short-circuited call, want none", n-before)
	}
	if got := tr.take(); !slices.Equal(got, []string{"enter sel", fmt.Sprintf("exit sel %d", int(wire.EREJECT))}) {
		t.Errorf("a short-circuited call recorded %q, want only the selective channel's interceptor", got)
	}
	noCallsLeft(t, sys)
}

// A nil interceptor in a combo channel's options is an error naming it.
func TestComboRefusesANilInterceptor(t *testing.T) {
	sys := newSystem(t)
	_, err := combo.NewParallelChannel(sys, &combo.ParallelOptions{Interceptors: []actors.Interceptor{nil}})
	if err == nil || !strings.Contains(err.Error(), "ParallelOptions.Interceptors[0] is nil") {
		t.Errorf("NewParallelChannel with a nil interceptor = %v, want an error naming ParallelOptions.Interceptors[0]", err)
	}
}
