package rpcz_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/actorstest"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/rpcz"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// world is a System and an echo Server recording into one Recorder.
func world(t *testing.T, opts *rpcz.Options) (*rpcz.Recorder, *actors.System, string) {
	t.Helper()
	rec := rpcz.New(opts)
	sys, err := actors.NewSystem(&actors.SystemOptions{Rpcz: rec})
	must(t, err)
	t.Cleanup(sys.Shutdown)
	_, addr := actorstest.StartEchoWith(t, &actors.ServerOptions{Rpcz: rec}, &echoservice.Service{})
	return rec, sys, addr
}

func TestRecordsCallAttemptAndRequestWithOneTraceID(t *testing.T) {
	rec, sys, addr := world(t, nil)
	ch, err := sys.NewChannel(addr, &actors.ChannelOptions{Timeout: actorstest.Timeout})
	must(t, err)
	defer ch.Close()

	var cntl actors.Controller
	cntl.SetLogID(4242)
	must(t, ch.Call(context.Background(), echoservice.Method, actorstest.EchoRequest("hi"), &echopb.EchoResponse{}, &cntl))

	// The server's request ends before the client reads the answer: both are in the ring.
	var call, req *rpcz.Span
	actorstest.Eventually(t, "the call and the request recorded", func() bool {
		call, req = nil, nil
		for _, s := range rec.Recent(rpcz.Query{LogID: 4242}) {
			switch s.Kind {
			case "call":
				call = s
			case "request":
				req = s
			}
		}
		return call != nil && req != nil
	})
	check(t, "call.Method", call.Method, echoservice.Method)
	check(t, "call.Channel", call.Channel, addr)
	check(t, "call.Remote", call.Remote, addr)
	check(t, "call.LogID", call.LogID, int64(4242))
	check(t, "call.TimeoutMS", call.TimeoutMS, actorstest.Timeout.Milliseconds())
	check(t, "call.Failed()", call.Failed(), false)
	check(t, "len(call.Children)", len(call.Children), 1)
	at := call.Children[0]
	check(t, "at.Kind", at.Kind, "attempt")
	check(t, "at.Retry", at.Retry, 0)
	check(t, "at.Remote", at.Remote, addr)

	// The server continued the attempt's trace: brpc's rpcz ids went over the wire.
	check(t, "req.TraceID", req.TraceID, call.TraceID)
	check(t, "req.ParentID", req.ParentID, at.SpanID)
	check(t, "req.Method", req.Method, echoservice.Method)
	check(t, "req.LogID", req.LogID, int64(4242))
	check(t, "len(call.TraceID)", len(call.TraceID), 32)
	check(t, "brpc's trace ids are 64-bit", call.TraceID[:16], "0000000000000000")

	found := rec.Find(req.SpanID)
	if found == nil {
		t.Fatal("Find(the request's span id) = nil")
	}
	check(t, "found.SpanID", found.SpanID, req.SpanID)
	check(t, "Find returns the trace's root", rec.Find(at.SpanID).SpanID, call.SpanID)
	check(t, "traces of the call's brpc trace id", len(rec.Recent(rpcz.Query{TraceID: call.TraceID[16:]})), 2)
}

func TestRecordsFailuresWithTheirCode(t *testing.T) {
	rec, sys, addr := world(t, nil)
	ch, err := sys.NewChannel(addr, &actors.ChannelOptions{Timeout: actorstest.Timeout, MaxRetry: actors.NoRetry})
	must(t, err)
	defer ch.Close()
	req := actorstest.EchoRequest("fail")
	req.FailCode = proto.Int32(int32(wire.EINTERNAL))
	err = ch.Call(context.Background(), echoservice.Method, req, &echopb.EchoResponse{}, nil)
	if err == nil {
		t.Fatal("the failing call succeeded")
	}
	must(t, ch.Call(context.Background(), echoservice.Method, actorstest.EchoRequest("ok"), &echopb.EchoResponse{}, nil))

	actorstest.Eventually(t, "four traces", func() bool { return len(rec.Recent(rpcz.Query{})) == 4 })
	failed := rec.Recent(rpcz.Query{AnyError: true})
	check(t, "failed traces (the call and the server's request)", len(failed), 2)
	for _, s := range failed {
		check(t, s.Kind+"'s code", s.Code, wire.EINTERNAL)
		if s.Error == "" {
			t.Errorf("%s has no error text", s.Kind)
		}
	}
	check(t, "traces with EINTERNAL", len(rec.Recent(rpcz.Query{Code: wire.EINTERNAL})), 2)
	check(t, "traces with ELIMIT", len(rec.Recent(rpcz.Query{Code: wire.ELIMIT})), 0)
	check(t, "traces under Limit 1", len(rec.Recent(rpcz.Query{Limit: 1})), 1)
	check(t, "traces of method NoSuch", len(rec.Recent(rpcz.Query{Method: "NoSuch"})), 0)
	check(t, "traces of an hour or more", len(rec.Recent(rpcz.Query{MinDuration: time.Hour})), 0)
	newest := rec.Recent(rpcz.Query{})[0]
	check(t, "the newest trace (the second call's) failed", newest.Failed(), false)
}

func TestRetriesAndSubCallsAreChildren(t *testing.T) {
	rec, sys, addr := world(t, nil)
	dead := actorstest.DeadAddr(t)
	pc, err := combo.NewParallelChannel(sys, &combo.ParallelOptions{Timeout: actorstest.Timeout})
	must(t, err)
	defer pc.Close()
	for _, a := range []string{addr, dead} {
		sub, err := sys.NewChannel(a, &actors.ChannelOptions{Timeout: actorstest.Timeout, MaxRetry: 2})
		must(t, err)
		defer sub.Close()
		must(t, pc.AddChannel(sub, combo.DoesntOwnChannel, nil, nil))
	}
	var cntl actors.Controller
	err = pc.Call(context.Background(), echoservice.Method, actorstest.EchoRequest("x"), &echopb.EchoResponse{}, &cntl)
	var werr *wire.Error
	if err != nil && !errors.As(err, &werr) {
		t.Fatalf("parallel call = %v", err)
	}

	var root *rpcz.Span
	actorstest.Eventually(t, "the parallel call recorded", func() bool {
		for _, s := range rec.Recent(rpcz.Query{}) {
			if s.Kind == "call" && len(s.Children) == 2 {
				root = s
				return true
			}
		}
		return false
	})
	var subs, attempts, retries int
	root.Walk(func(s *rpcz.Span) {
		switch s.Kind {
		case "sub-call":
			subs++
		case "attempt":
			attempts++
			if s.Retry > 0 {
				retries++
			}
		}
	})
	check(t, "subs", subs, 2)
	check(t, "one to the live server, three to the dead one", attempts, 1+3)
	check(t, "retries", retries, 2)
}

func TestSamplingBudgetAndBounds(t *testing.T) {
	rec, sys, addr := world(t, &rpcz.Options{PerSecond: 1, Capacity: 3})
	ch, err := sys.NewChannel(addr, &actors.ChannelOptions{Timeout: actorstest.Timeout})
	must(t, err)
	defer ch.Close()
	for range 5 {
		must(t, ch.Call(context.Background(), echoservice.Method, actorstest.EchoRequest("x"), &echopb.EchoResponse{}, nil))
	}
	offered, sampled := rec.Counts()
	check(t, "five calls and five requests", offered, int64(10))
	// One trace per second at most: unless the calls straddled seconds, one was sampled.
	if sampled < 1 || sampled >= offered {
		t.Errorf("sampled %d of %d, want at least one and not all", sampled, offered)
	}

	if n := len(rec.Recent(rpcz.Query{})); n > 3 {
		t.Errorf("the ring of capacity 3 holds %d traces", n)
	}

	// calls makes n calls through a System recording into rec.
	calls := func(rec *rpcz.Recorder, n int) {
		t.Helper()
		sys, err := actors.NewSystem(&actors.SystemOptions{Rpcz: rec})
		must(t, err)
		defer sys.Shutdown()
		ch, err := sys.NewChannel(addr, &actors.ChannelOptions{Timeout: actorstest.Timeout})
		must(t, err)
		defer ch.Close()
		for range n {
			must(t, ch.Call(context.Background(), echoservice.Method, actorstest.EchoRequest("x"), &echopb.EchoResponse{}, nil))
		}
	}
	all := rpcz.New(&rpcz.Options{PerSecond: -1, Capacity: 2, MaxSpans: 1})
	calls(all, 3)
	got := all.Recent(rpcz.Query{})
	check(t, "traces in a ring of capacity 2", len(got), 2)
	check(t, "children kept under MaxSpans 1", len(got[0].Children), 1)

	// Two spans a trace (the call and its attempt) under a budget of 5 kept spans: 2 traces.
	few := rpcz.New(&rpcz.Options{PerSecond: -1, Capacity: 100, MaxKeptSpans: 5})
	calls(few, 4)
	check(t, "traces kept under MaxKeptSpans 5", len(few.Recent(rpcz.Query{})), 2)
}

func TestNilRecorder(t *testing.T) {
	var r *rpcz.Recorder
	if r.Recent(rpcz.Query{}) != nil || r.Find("0123456789abcdef") != nil || r.Tracer(nil) != nil {
		t.Error("a nil Recorder records something")
	}

	o, s := r.Counts()
	check(t, "a nil Recorder's counts", o+s, 0)
	if rpcz.New(nil).Find("not hex") != nil {
		t.Error("Find(\"not hex\") found a span")
	}
}

// must fails the test at once on a non-nil error.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// check fails the test when got is not want.
func check[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

// Sampling is decided once per call: the sub-calls and attempts of a call follow it, sampled or
// not, and never take a share of the budget.
func TestSubCallsFollowTheirCallsSampling(t *testing.T) {
	_, addr := actorstest.StartEcho(t, nil)
	rec := rpcz.New(&rpcz.Options{PerSecond: 1})
	sys, err := actors.NewSystem(&actors.SystemOptions{Rpcz: rec})
	must(t, err)
	defer sys.Shutdown()
	pc, err := combo.NewParallelChannel(sys, &combo.ParallelOptions{Timeout: actorstest.Timeout})
	must(t, err)
	defer pc.Close()
	for range 3 {
		sub, err := sys.NewChannel(addr, &actors.ChannelOptions{Timeout: actorstest.Timeout})
		must(t, err)
		must(t, pc.AddChannel(sub, combo.OwnsChannel, nil, nil))
	}
	const n = 5
	for range n {
		must(t, pc.Call(context.Background(), echoservice.Method, actorstest.EchoRequest("x"), &echopb.EchoResponse{}, nil))
	}
	offered, sampled := rec.Counts()
	check(t, "local roots offered", offered, int64(n))
	traces := rec.Recent(rpcz.Query{})
	check(t, "traces recorded", int64(len(traces)), sampled)
	for _, tr := range traces {
		check(t, "sub-calls of a sampled call", len(tr.Children), 3)
		for _, sub := range tr.Children {
			check(t, "attempts of a sampled sub-call", len(sub.Children), 1)
		}
	}
}
