package rpcz_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
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
	require.NoError(t, err)
	t.Cleanup(sys.Shutdown)
	srv, err := actors.NewServer(&actors.ServerOptions{Rpcz: rec})
	require.NoError(t, err)
	require.NoError(t, (&echoservice.Service{}).Register(srv))
	addr, err := srv.Listen("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), actorstest.Timeout)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return rec, sys, addr.String()
}

func TestRecordsCallAttemptAndRequestWithOneTraceID(t *testing.T) {
	rec, sys, addr := world(t, nil)
	ch, err := sys.NewChannel(addr, &actors.ChannelOptions{Timeout: actorstest.Timeout})
	require.NoError(t, err)
	defer ch.Close()

	var cntl actors.Controller
	cntl.SetLogID(4242)
	require.NoError(t, ch.Call(context.Background(), echoservice.Method, actorstest.EchoRequest("hi"), &echopb.EchoResponse{}, &cntl))

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
	require.Equal(t, echoservice.Method, call.Method)
	require.Equal(t, addr, call.Channel)
	require.Equal(t, addr, call.Remote)
	require.Equal(t, int64(4242), call.LogID)
	require.Equal(t, actorstest.Timeout.Milliseconds(), call.TimeoutMS)
	require.False(t, call.Failed())
	require.Len(t, call.Children, 1)
	at := call.Children[0]
	require.Equal(t, "attempt", at.Kind)
	require.Equal(t, 0, at.Retry)
	require.Equal(t, addr, at.Remote)

	// The server continued the attempt's trace: brpc's rpcz ids went over the wire.
	require.Equal(t, call.TraceID, req.TraceID)
	require.Equal(t, at.SpanID, req.ParentID)
	require.Equal(t, echoservice.Method, req.Method)
	require.Equal(t, int64(4242), req.LogID)
	require.Len(t, call.TraceID, 32)
	require.Equal(t, "0000000000000000", call.TraceID[:16], "brpc's trace ids are 64-bit")

	found := rec.Find(req.SpanID)
	require.NotNil(t, found)
	require.Equal(t, req.SpanID, found.SpanID)
	require.Equal(t, call.SpanID, rec.Find(at.SpanID).SpanID, "Find returns the trace's root")
	require.Len(t, rec.Recent(rpcz.Query{TraceID: call.TraceID[16:]}), 2)
}

func TestRecordsFailuresWithTheirCode(t *testing.T) {
	rec, sys, addr := world(t, nil)
	ch, err := sys.NewChannel(addr, &actors.ChannelOptions{Timeout: actorstest.Timeout, MaxRetry: actors.NoRetry})
	require.NoError(t, err)
	defer ch.Close()
	req := actorstest.EchoRequest("fail")
	req.FailCode = proto.Int32(int32(wire.EINTERNAL))
	err = ch.Call(context.Background(), echoservice.Method, req, &echopb.EchoResponse{}, nil)
	require.Error(t, err)
	require.NoError(t, ch.Call(context.Background(), echoservice.Method, actorstest.EchoRequest("ok"), &echopb.EchoResponse{}, nil))

	actorstest.Eventually(t, "four traces", func() bool { return len(rec.Recent(rpcz.Query{})) == 4 })
	failed := rec.Recent(rpcz.Query{AnyError: true})
	require.Len(t, failed, 2, "the call and the server's request failed")
	for _, s := range failed {
		require.Equal(t, wire.EINTERNAL, s.Code, s.Kind)
		require.NotEmpty(t, s.Error)
	}
	require.Len(t, rec.Recent(rpcz.Query{Code: wire.EINTERNAL}), 2)
	require.Empty(t, rec.Recent(rpcz.Query{Code: wire.ELIMIT}))
	require.Len(t, rec.Recent(rpcz.Query{Limit: 1}), 1)
	require.Empty(t, rec.Recent(rpcz.Query{Method: "NoSuch"}))
	require.Empty(t, rec.Recent(rpcz.Query{MinDuration: time.Hour}))
	newest := rec.Recent(rpcz.Query{})[0]
	require.False(t, newest.Failed(), "newest first: the second call's trace")
}

func TestRetriesAndSubCallsAreChildren(t *testing.T) {
	rec, sys, addr := world(t, nil)
	dead := actorstest.DeadAddr(t)
	pc, err := combo.NewParallelChannel(sys, &combo.ParallelOptions{Timeout: actorstest.Timeout})
	require.NoError(t, err)
	defer pc.Close()
	for _, a := range []string{addr, dead} {
		sub, err := sys.NewChannel(a, &actors.ChannelOptions{Timeout: actorstest.Timeout, MaxRetry: 2})
		require.NoError(t, err)
		defer sub.Close()
		require.NoError(t, pc.AddChannel(sub, combo.DoesntOwnChannel, nil, nil))
	}
	var cntl actors.Controller
	err = pc.Call(context.Background(), echoservice.Method, actorstest.EchoRequest("x"), &echopb.EchoResponse{}, &cntl)
	var werr *wire.Error
	require.True(t, err == nil || errors.As(err, &werr), "%v", err)

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
	require.Equal(t, 2, subs)
	require.Equal(t, 1+3, attempts, "one to the live server, three to the dead one")
	require.Equal(t, 2, retries)
}

func TestSamplingBudgetAndBounds(t *testing.T) {
	rec, sys, addr := world(t, &rpcz.Options{PerSecond: 1, Capacity: 3})
	ch, err := sys.NewChannel(addr, &actors.ChannelOptions{Timeout: actorstest.Timeout})
	require.NoError(t, err)
	defer ch.Close()
	for range 5 {
		require.NoError(t, ch.Call(context.Background(), echoservice.Method, actorstest.EchoRequest("x"), &echopb.EchoResponse{}, nil))
	}
	offered, sampled := rec.Counts()
	require.Equal(t, int64(10), offered, "five calls and five requests")
	// One trace per second at most: unless the calls straddled seconds, one was sampled.
	require.GreaterOrEqual(t, sampled, int64(1))
	require.Less(t, sampled, offered)
	require.LessOrEqual(t, len(rec.Recent(rpcz.Query{})), 3)

	all := rpcz.New(&rpcz.Options{PerSecond: -1, Capacity: 2, MaxSpans: 1})
	sys2, err := actors.NewSystem(&actors.SystemOptions{Rpcz: all})
	require.NoError(t, err)
	defer sys2.Shutdown()
	ch2, err := sys2.NewChannel(addr, &actors.ChannelOptions{Timeout: actorstest.Timeout})
	require.NoError(t, err)
	defer ch2.Close()
	for range 3 {
		require.NoError(t, ch2.Call(context.Background(), echoservice.Method, actorstest.EchoRequest("x"), &echopb.EchoResponse{}, nil))
	}
	got := all.Recent(rpcz.Query{})
	require.Len(t, got, 2, "the ring keeps Capacity traces")
	require.Len(t, got[0].Children, 1, "MaxSpans counts the root and its attempt")
}

func TestNilRecorder(t *testing.T) {
	var r *rpcz.Recorder
	require.Nil(t, r.Recent(rpcz.Query{}))
	require.Nil(t, r.Find("0123456789abcdef"))
	require.Nil(t, r.Tracer(nil))
	o, s := r.Counts()
	require.Zero(t, o+s)
	require.Nil(t, rpcz.New(nil).Find("not hex"))
}
