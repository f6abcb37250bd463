package actors_test

// Tests of the server's limits: connections, idle connections, unwritten bytes, the request
// memory budget and the requests in handlers per connection. The descriptor-limit test is in
// server_limits_linux_test.go.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// serverHeapInuse returns the heap in use after a collection.
func serverHeapInuse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// serverWaitFor polls cond until it holds, failing the test after testTimeout.
func serverWaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", testTimeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestServerLimitOptionsInvalid(t *testing.T) {
	for _, tt := range []struct {
		opts  actors.ServerOptions
		field string
	}{
		{actors.ServerOptions{MaxConnections: -1}, "MaxConnections"},
		{actors.ServerOptions{IdleTimeout: -time.Second}, "IdleTimeout"},
		{actors.ServerOptions{MaxConnectionRequests: -1}, "MaxConnectionRequests"},
		{actors.ServerOptions{MaxBodySize: 1 << 20, MaxRequestMemory: 1 << 19}, "MaxRequestMemory"},
	} {
		_, err := actors.NewServer(&tt.opts)
		if !errors.Is(err, wire.EINVAL) || !strings.Contains(fmt.Sprint(err), tt.field) {
			t.Errorf("NewServer(%+v) = %v, want EINVAL naming %s", tt.opts, err, tt.field)
		}
	}
	for _, o := range []actors.ServerOptions{{MaxUnwrittenBytes: -1, MaxRequestMemory: -1}, {MaxRequestMemory: 64 << 20}} {
		srv, err := actors.NewServer(&o)
		if err != nil {
			t.Errorf("NewServer(%+v) = %v, want nil", o, err)
			continue
		}
		_ = srv.Shutdown(context.Background())
	}
}

// Connections over MaxConnections are closed at accept; once one closes, a new one is served.
func TestServerMaxConnections(t *testing.T) {
	var logs syncBuffer
	srv := newServer(t, &actors.ServerOptions{MaxConnections: 2, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err := (&echoservice.Service{}).Register(srv); err != nil {
		t.Fatal(err)
	}
	addr := listen(t, srv)
	a, b := dialRaw(t, addr), dialRaw(t, addr)
	decodeEcho(t, a.echo(1, hello("a"), nil))
	decodeEcho(t, b.echo(1, hello("b"), nil))
	dialRaw(t, addr).expectClosed()
	if !strings.Contains(logs.String(), "MaxConnections") {
		t.Errorf("log = %q, want a warning naming MaxConnections", logs.String())
	}
	a.conn.Close()
	serverWaitFor(t, "the server to forget the closed connection", func() bool { return srv.Connections() < 2 })
	c := dialRaw(t, addr)
	if got := decodeEcho(t, c.echo(2, hello("c"), nil)).GetMessage(); got != "c" {
		t.Errorf("Call(third connection) message = %q, want %q", got, "c")
	}
}

// An idle connection is closed after IdleTimeout; one whose request is in its handler is not.
func TestServerIdleTimeout(t *testing.T) {
	srv := newServer(t, &actors.ServerOptions{IdleTimeout: 100 * time.Millisecond})
	g := newGate(t)
	handle(t, srv, "test.Svc.Block", g.handle)
	handle(t, srv, "test.Svc.Echo", func(_ context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		return &echopb.EchoResponse{Message: req.Message}, nil
	})
	addr := listen(t, srv)
	busy := dialRaw(t, addr)
	busy.send(methodMeta("test.Svc", "Block", 1), marshal(t, hello("busy")), nil)
	g.waitEntered(t, 1)
	idle := dialRaw(t, addr)
	start := time.Now() // before the server reads the request
	decodeEcho(t, idle.call(methodMeta("test.Svc", "Echo", 1), marshal(t, hello("idle")), nil))
	idle.expectClosed()
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("idle connection closed %v after its last request, want at least IdleTimeout (100ms)", d)
	}
	g.open()
	if got := decodeEcho(t, busy.read()).GetMessage(); got != "busy" {
		t.Errorf("Call(busy connection) message = %q, want %q", got, "busy")
	}
}

// A client that sends requests and does not read its answers holds a bounded amount of the
// server's memory: answers past MaxUnwrittenBytes become EOVERCROWDED and the connection's reader
// stops. When the client reads again, every request is answered once.
func TestServerMaxUnwrittenBytes(t *testing.T) {
	// The answers must be far more than the kernel buffers of a loopback connection hold, or
	// every handler runs before the client reads without the reader ever pausing: Linux lets a
	// receive buffer grow to tcp_rmem's maximum (32 MiB here) and a send buffer to tcp_wmem's (4 MiB).
	const (
		n     = 8000
		size  = 16 << 10 // answer size: n*size = 125 MiB unbounded
		limit = 64 << 10
	)
	var logs syncBuffer
	srv := newServer(t, &actors.ServerOptions{MaxUnwrittenBytes: limit, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	big := strings.Repeat("x", size)
	var calls atomic.Int64
	handle(t, srv, "test.Svc.Big", func(context.Context, *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		calls.Add(1)
		return &echopb.EchoResponse{Message: proto.String(big)}, nil
	})
	c := dialRaw(t, listen(t, srv))
	before := serverHeapInuse()
	var frames []byte
	req := marshal(t, hello("p"))
	for i := range n {
		frames = wire.AppendFrame(frames, methodMeta("test.Svc", "Big", int64(i+1)), req, nil)
	}
	written := make(chan error, 1)
	go func() {
		c.conn.SetWriteDeadline(time.Now().Add(testTimeout))
		_, err := c.conn.Write(frames)
		written <- err
	}()
	serverWaitFor(t, "the connection to be overcrowded", func() bool { return strings.Contains(logs.String(), "overcrowded") })
	if grew := int64(serverHeapInuse()) - int64(before); grew > 24<<20 {
		t.Errorf("heap grew by %d MiB with a client that does not read, want at most 24 MiB", grew>>20)
	}
	if got := calls.Load(); got >= n {
		t.Errorf("handlers run before the client read = %d, want fewer than %d (the reader stops)", got, n)
	}
	codes := map[int32]int{}
	seen := make(map[int64]bool, n)
	for range n {
		f := c.read()
		if seen[f.Meta.CorrelationID] {
			t.Fatalf("cid %d answered twice", f.Meta.CorrelationID)
		}
		seen[f.Meta.CorrelationID] = true
		codes[f.Meta.ErrorCode]++
		switch wire.Errno(f.Meta.ErrorCode) {
		case 0:
			if got := len(decodeEcho(t, f).GetMessage()); got != size {
				t.Fatalf("Call(cid %d) message length = %d, want %d", f.Meta.CorrelationID, got, size)
			}
		case wire.EOVERCROWDED:
			wantError(t, f, wire.EOVERCROWDED, "max_unwritten_bytes=65536")
		default:
			t.Fatalf("Call(cid %d) = error %d %q, want success or EOVERCROWDED", f.Meta.CorrelationID, f.Meta.ErrorCode, f.Meta.ErrorText)
		}
	}
	if err := receive(t, written, "the pipelined write"); err != nil {
		t.Fatal(err)
	}
	if codes[0] == 0 || codes[int32(wire.EOVERCROWDED)] == 0 {
		t.Errorf("answers by code = %v, want some successes and some EOVERCROWDED", codes)
	}
}

// gzipRequest returns a gzip-compressed echo request whose payload inflates to about n bytes.
func gzipRequest(t testing.TB, n int) []byte {
	t.Helper()
	b, err := wire.Compress(nil, marshal(t, hello(strings.Repeat("z", n))), wire.CompressGzip)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Decompressions that would take the memory held by requests past MaxRequestMemory answer
// ELIMIT instead of inflating; the budget is given back when the handlers return. Each request
// inflates to 900 KiB, counted twice (the buffer and the message parsed from it): two of them
// fit in 4 MiB, a third does not.
func TestServerRequestMemoryBudget(t *testing.T) {
	const body = 1 << 20
	srv := newServer(t, &actors.ServerOptions{MaxBodySize: body, MaxRequestMemory: 4 * body})
	g := newGate(t)
	handle(t, srv, "test.Svc.Block", g.handle)
	c := dialRaw(t, listen(t, srv))
	payload := gzipRequest(t, 900<<10)
	send := func(id int64) {
		m := methodMeta("test.Svc", "Block", id)
		m.CompressType = wire.CompressGzip
		c.send(m, payload, nil)
	}
	send(1)
	send(2)
	g.waitEntered(t, 2)
	send(3)
	f := c.read()
	if f.Meta.CorrelationID != 3 {
		t.Fatalf("first answer cid = %d, want 3 (refused while 1 and 2 hold the budget)", f.Meta.CorrelationID)
	}
	wantError(t, f, wire.ELIMIT, "request memory budget")
	g.open()
	for range 2 {
		if f := c.read(); f.Meta.ErrorCode != 0 {
			t.Fatalf("Call(cid %d) = error %d %q, want success", f.Meta.CorrelationID, f.Meta.ErrorCode, f.Meta.ErrorText)
		}
	}
	send(4)
	g.waitEntered(t, 1)
	if f := c.read(); f.Meta.CorrelationID != 4 || f.Meta.ErrorCode != 0 {
		t.Fatalf("Call(cid %d) after the budget was given back = error %d %q, want cid 4 answered", f.Meta.CorrelationID, f.Meta.ErrorCode, f.Meta.ErrorText)
	}
}

// Uncompressed requests count their frame and their parsed message against MaxRequestMemory:
// a request read while the budget is spent is answered ELIMIT at once.
func TestServerRequestMemoryBudgetFrames(t *testing.T) {
	const body = 1 << 20
	srv := newServer(t, &actors.ServerOptions{MaxBodySize: body, MaxRequestMemory: 4 * body})
	g := newGate(t)
	handle(t, srv, "test.Svc.Block", g.handle)
	c := dialRaw(t, listen(t, srv))
	payload := marshal(t, hello(strings.Repeat("f", 900<<10))) // 1.8 MB counted each
	c.send(methodMeta("test.Svc", "Block", 1), payload, nil)
	c.send(methodMeta("test.Svc", "Block", 2), payload, nil)
	g.waitEntered(t, 2)
	f := c.call(methodMeta("test.Svc", "Block", 3), payload, nil)
	wantError(t, f, wire.ELIMIT, "request memory budget of 4194304 bytes")
	g.open()
	for range 2 {
		if f := c.read(); f.Meta.ErrorCode != 0 {
			t.Fatalf("Call(cid %d) = error %d %q, want success", f.Meta.CorrelationID, f.Meta.ErrorCode, f.Meta.ErrorText)
		}
	}
	c.send(methodMeta("test.Svc", "Block", 4), payload, nil)
	g.waitEntered(t, 1)
	if f := c.read(); f.Meta.CorrelationID != 4 || f.Meta.ErrorCode != 0 {
		t.Fatalf("Call(cid %d) after the budget was given back = error %d %q, want cid 4 answered", f.Meta.CorrelationID, f.Meta.ErrorCode, f.Meta.ErrorText)
	}
}

// Requests pipelined on one connection for a slow handler hold at most MaxConnectionRequests
// goroutines: the connection's reader waits for a handler to return.
func TestServerMaxConnectionRequests(t *testing.T) {
	const (
		n     = 2000
		limit = 16
	)
	srv := newServer(t, &actors.ServerOptions{MaxConnectionRequests: limit})
	g := newGate(t)
	g.entered = make(chan string, n)
	handle(t, srv, "test.Svc.Block", g.handle)
	c := dialRaw(t, listen(t, srv))
	base := runtime.NumGoroutine()
	var frames []byte
	for i := range n {
		frames = wire.AppendFrame(frames, methodMeta("test.Svc", "Block", int64(i+1)), marshal(t, hello("p")), nil)
	}
	c.write(frames)
	g.waitEntered(t, limit)
	if got := runtime.NumGoroutine(); got > base+limit+10 {
		t.Errorf("goroutines with %d requests pipelined = %d, want at most %d + %d + 10", n, got, base, limit)
	}
	if extra := len(g.entered); extra > 0 {
		t.Errorf("handlers running = %d, want MaxConnectionRequests = %d", limit+extra, limit)
	}
	g.open()
	for range n {
		if f := c.read(); f.Meta.ErrorCode != 0 {
			t.Fatalf("Call(cid %d) = error %d %q, want success", f.Meta.CorrelationID, f.Meta.ErrorCode, f.Meta.ErrorText)
		}
	}
}
