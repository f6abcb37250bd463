package actors_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/actorstest"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// methodOf returns the stats of method in ms, failing the test when it is missing.
func methodOf(t *testing.T, ms []actors.MethodStats, method string) actors.MethodStats {
	t.Helper()
	for _, m := range ms {
		if m.Method == method {
			return m
		}
	}
	t.Fatalf("no stats for %s in %d methods", method, len(ms))
	return actors.MethodStats{}
}

func perSecondCalls(m actors.MethodStats) (n int64) {
	for _, s := range m.PerSecond {
		n += s.Calls
	}
	return n
}

func checkCounts(t *testing.T, side string, m actors.MethodStats, calls int64, errs map[wire.Errno]int64) {
	t.Helper()
	if m.Calls != calls || m.InFlight != 0 || m.Latency.Count != calls || m.LastMinute.Count != calls || perSecondCalls(m) != calls {
		t.Errorf("%s: Calls = %d, InFlight = %d, Latency.Count = %d, LastMinute.Count = %d, per second %d; want %d, 0, and %d calls",
			side, m.Calls, m.InFlight, m.Latency.Count, m.LastMinute.Count, perSecondCalls(m), calls, calls)
	}
	if len(m.Errors) != len(errs) {
		t.Errorf("%s: Errors = %v, want %v", side, m.Errors, errs)
	}
	for code, n := range errs {
		if m.Errors[code] != n {
			t.Errorf("%s: Errors[%v] = %d, want %d", side, code, m.Errors[code], n)
		}
	}
	if calls > 0 && (m.Latency.P50 <= 0 || m.Latency.Max < m.Latency.P99 || m.Latency.P99 < m.Latency.P50) {
		t.Errorf("%s: Latency = %+v, want 0 < P50 <= P99 <= Max", side, m.Latency)
	}
}

// Every call ends in its channel's and its server's counts exactly once: sync, async, failed by
// the server, timed out; the sockets and connections count the same frames on both sides.
func TestMetricsCountCallsOnBothSides(t *testing.T) {
	srv, addr := startEcho(t, nil)
	sys := newSystem(t)
	ch, err := sys.NewChannel(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	const ok, async, failed, timedOut = 20, 7, 3, 2
	for range ok {
		if err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); err != nil {
			t.Fatalf("Call() = %v", err)
		}
	}
	calls := make([]*actors.Call, 0, async)
	for range async {
		calls = append(calls, ch.Go(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil, func(*actors.Controller) {}))
	}
	actors.Join(calls...)
	for range failed {
		req := echoReq("x")
		req.FailCode = proto.Int32(int32(wire.EINTERNAL))
		if err := ch.Call(t.Context(), echoservice.Method, req, &echopb.EchoResponse{}, nil); !errors.Is(err, wire.EINTERNAL) {
			t.Fatalf("Call(fail_code) = %v, want EINTERNAL", err)
		}
	}
	for range timedOut {
		var cntl actors.Controller
		cntl.SetTimeout(testTimeout / 100)
		err := ch.Call(t.Context(), echoservice.Method, slowReq(testTimeout), &echopb.EchoResponse{}, &cntl)
		if !errors.Is(err, wire.ERPCTIMEDOUT) {
			t.Fatalf("Call(slow) = %v, want ERPCTIMEDOUT", err)
		}
	}

	st := sys.Stats()
	if len(st.Channels) != 1 || st.Channels[0].Target != addr || st.Channels[0].InFlight != 0 {
		t.Fatalf("Stats().Channels = %+v, want one channel to %s with nothing in flight", st.Channels, addr)
	}
	client := methodOf(t, st.Channels[0].Methods, echoservice.Method)
	checkCounts(t, "client", client, ok+async+failed+timedOut,
		map[wire.Errno]int64{wire.EINTERNAL: failed, wire.ERPCTIMEDOUT: timedOut})
	if client.Retries != 0 || client.Backups != 0 {
		t.Errorf("client: Retries = %d, Backups = %d, want 0", client.Retries, client.Backups)
	}
	if client.LastMinute.Max < testTimeout/100 {
		t.Errorf("client: LastMinute.Max = %v, want at least the timeout %v", client.LastMinute.Max, testTimeout/100)
	}

	// The slow requests' handlers end at the deadline the client sent: their answers are
	// dropped, and the server counts them as timed out, on its own goroutines: wait for the
	// whole record of the last one (the call count comes first, the latency windows last).
	actorstest.Eventually(t, "the server's answers counted", func() bool {
		m, n := methodOf(t, srv.Stats().Methods, echoservice.Method), int64(ok+async+failed+timedOut)
		return m.Calls == n && m.Latency.Count == n && m.LastMinute.Count == n && perSecondCalls(m) == n
	})
	server := methodOf(t, srv.Stats().Methods, echoservice.Method)
	checkCounts(t, "server", server, ok+async+failed+timedOut,
		map[wire.Errno]int64{wire.EINTERNAL: failed, wire.ERPCTIMEDOUT: timedOut})
	if server.Rejected != 0 {
		t.Errorf("server: Rejected = %d, want 0", server.Rejected)
	}

	if len(st.Sockets) != 1 {
		t.Fatalf("Stats().Sockets = %+v, want one", st.Sockets)
	}
	sk := st.Sockets[0]
	const frames = ok + async + failed + timedOut
	if sk.Addr != addr || sk.FramesOut != frames || sk.FramesIn != frames-timedOut || sk.Connections != 1 || sk.Writes < 1 || sk.FramesPerWrite < 1 {
		t.Errorf("socket = %+v, want %d frames out, %d in, 1 connection", sk, frames, frames-timedOut)
	}
	actorstest.Eventually(t, "the server's connection counters", func() bool {
		conns := srv.Stats().Connections
		return len(conns) == 1 && conns[0].Requests == frames && conns[0].BytesIn == sk.BytesOut && conns[0].BytesOut == sk.BytesIn
	})
	if c := srv.Stats().Connections[0]; c.Age <= 0 || c.Remote == "" || c.Local != addr {
		t.Errorf("server connection = %+v, want an age and its addresses", c)
	}
}

// failEveryOther answers every second request with EINTERNAL.
func failEveryOther(t *testing.T) (*actors.Server, string) {
	t.Helper()
	srv := newServer(t, nil)
	var n atomic.Int64
	err := actors.Handle(srv, echoservice.Method, func(_ context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		if n.Add(1)%2 == 1 {
			return nil, &wire.Error{Code: wire.EINTERNAL, Text: "first try fails"}
		}
		return &echopb.EchoResponse{Message: req.Message}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	a, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return srv, a.String()
}

// A retried call is one call with a retry on the client, two requests on the server.
func TestMetricsCountRetries(t *testing.T) {
	srv, addr := failEveryOther(t)
	sys := newSystem(t)
	ch, err := sys.NewChannel(addr, &actors.ChannelOptions{RetryPolicy: &retryInternal{}, MaxRetry: 1})
	if err != nil {
		t.Fatal(err)
	}
	const n = 10
	for range n {
		if err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); err != nil {
			t.Fatalf("Call() = %v", err)
		}
	}
	client := methodOf(t, ch.Stats().Methods, echoservice.Method)
	checkCounts(t, "client", client, n, nil)
	if client.Retries != n {
		t.Errorf("client: Retries = %d, want %d", client.Retries, n)
	}
	server := methodOf(t, srv.Stats().Methods, echoservice.Method)
	checkCounts(t, "server", server, 2*n, map[wire.Errno]int64{wire.EINTERNAL: n})
}

// A request over its method's concurrency limit is rejected with ELIMIT before its handler: the
// server counts it as rejected, the client as failed.
func TestMetricsCountRejections(t *testing.T) {
	srv := newServer(t, &actors.ServerOptions{MethodMaxConcurrency: map[string]string{echoservice.Method: "1"}})
	release := make(chan struct{})
	err := actors.Handle(srv, echoservice.Method, func(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		if req.GetMessage() == "hold" {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return &echopb.EchoResponse{Message: req.Message}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	a, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sys := newSystem(t)
	ch, err := sys.NewChannel(a.String(), &actors.ChannelOptions{Timeout: testTimeout, MaxRetry: -1})
	if err != nil {
		t.Fatal(err)
	}
	held := ch.Go(t.Context(), echoservice.Method, echoReq("hold"), &echopb.EchoResponse{}, nil, nil)
	actorstest.Eventually(t, "the held request in its handler", func() bool {
		return methodOf(t, srv.Stats().Methods, echoservice.Method).InFlight == 1
	})
	if m := methodOf(t, ch.Stats().Methods, echoservice.Method); m.InFlight != 1 {
		t.Errorf("client: InFlight = %d, want 1", m.InFlight)
	}
	err = ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil)
	if !errors.Is(err, wire.ELIMIT) {
		t.Fatalf("Call() over the limit = %v, want ELIMIT", err)
	}
	close(release)
	if err := held.Wait(); err != nil {
		t.Fatalf("held call = %v", err)
	}
	server := methodOf(t, srv.Stats().Methods, echoservice.Method)
	if server.Rejected != 1 || server.Calls != 2 || server.Errors[wire.ELIMIT] != 1 || server.Latency.Count != 1 || server.InFlight != 0 {
		t.Errorf("server = %+v, want 1 rejected of 2 calls, 1 latency, nothing in flight", server)
	}
	checkCounts(t, "client", methodOf(t, ch.Stats().Methods, echoservice.Method), 2, map[wire.Errno]int64{wire.ELIMIT: 1})
}

func TestMetricsDisabled(t *testing.T) {
	srv := newServer(t, &actors.ServerOptions{DisableMetrics: true})
	if err := (&echoservice.Service{}).Register(srv); err != nil {
		t.Fatal(err)
	}
	a, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sys, err := actors.NewSystem(&actors.SystemOptions{DisableMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Shutdown()
	ch, err := sys.NewChannel(a.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); err != nil {
		t.Fatal(err)
	}
	if st := sys.Stats(); len(st.Channels) != 1 || st.Channels[0].Methods != nil || len(st.Sockets) != 1 || st.Sockets[0].FramesIn != 1 {
		t.Errorf("Stats() = %+v, want a channel without methods and a socket that read 1 frame", st)
	}
	if st := srv.Stats(); st.Methods != nil || len(st.Connections) != 1 {
		t.Errorf("server Stats() = %+v, want no methods and 1 connection", st)
	}
	var zero actors.System
	if st := zero.Stats(); st.Channels != nil {
		t.Errorf("zero System's Stats() = %+v", st)
	}
	var zs actors.Server
	if st := zs.Stats(); st.Methods != nil {
		t.Errorf("zero Server's Stats() = %+v", st)
	}
}
