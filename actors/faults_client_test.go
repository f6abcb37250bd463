package actors_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// fakeServer is a raw baidu_std server on a loopback listener: serve runs for each accepted
// connection with its number (1 for the first) and the requests it reads.
type fakeServer struct {
	l        net.Listener
	accepted atomic.Int32
	wg       sync.WaitGroup
}

func startFake(t *testing.T, serve func(n int32, c net.Conn, r *wire.Reader)) *fakeServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fs := &fakeServer{l: l}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		fs.wg.Wait()
	})
	fs.wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			n := fs.accepted.Add(1)
			fs.wg.Go(func() {
				defer c.Close()
				serve(n, c, wire.NewReader(bufio.NewReader(c), 0))
			})
		}
	})
	return fs
}

func (fs *fakeServer) addr() string { return fs.l.Addr().String() }

// echoAnswer is the frame that answers request f correctly.
func echoAnswer(t *testing.T, f *wire.Frame) []byte {
	var req echopb.EchoRequest
	if err := proto.Unmarshal(f.Payload, &req); err != nil {
		t.Errorf("fake server: bad request payload: %v", err)
	}
	payload, _ := proto.Marshal(&echopb.EchoResponse{Message: req.Message})
	return wire.AppendFrame(nil, &wire.Meta{IsResponse: true, CorrelationID: f.Meta.CorrelationID}, payload, nil)
}

// serveEcho answers every request on c correctly.
func serveEcho(t *testing.T, c net.Conn, r *wire.Reader) {
	var f wire.Frame
	for r.ReadFrame(&f) == nil {
		if _, err := c.Write(echoAnswer(t, &f)); err != nil {
			return
		}
	}
}

// codeRecorder is the default retry policy, remembering the code of every failed attempt.
type codeRecorder struct {
	actors.DefaultRetryPolicy
	mu    sync.Mutex
	codes []wire.Errno
	errs  []error
}

func (p *codeRecorder) DoRetry(cntl *actors.Controller, err error) bool {
	if err != nil {
		p.mu.Lock()
		p.codes = append(p.codes, wire.ErrnoOf(err))
		p.errs = append(p.errs, err)
		p.mu.Unlock()
	}
	return p.DefaultRetryPolicy.DoRetry(cntl, err)
}

func (p *codeRecorder) seen() ([]wire.Errno, []error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]wire.Errno(nil), p.codes...), append([]error(nil), p.errs...)
}

// A connection that breaks before or in the middle of an answer, or whose answer stream cannot
// be parsed, fails with a retriable code; the call succeeds on its retry.
func TestBrokenAnswerStreamsAreRetried(t *testing.T) {
	header := func(body, meta uint32) []byte {
		b := []byte("PRPC\x00\x00\x00\x00\x00\x00\x00\x00")
		binary.BigEndian.PutUint32(b[4:], body)
		binary.BigEndian.PutUint32(b[8:], meta)
		return b
	}
	tests := []struct {
		name string
		bad  func(t *testing.T, f *wire.Frame) []byte
		code wire.Errno
		text string
	}{
		{"closed before the answer", func(*testing.T, *wire.Frame) []byte { return nil }, wire.EEOF, "closed by the server"},
		{"closed mid-header", func(*testing.T, *wire.Frame) []byte { return []byte("PRPC\x00\x00") }, wire.EEOF, "in the middle of an answer"},
		{"closed mid-frame", func(t *testing.T, f *wire.Frame) []byte { a := echoAnswer(t, f); return a[:len(a)-2] }, wire.EEOF, "in the middle of an answer"},
		{"bad magic", func(*testing.T, *wire.Frame) []byte {
			return []byte("HTTP/1.1 400 Bad Request\r\n\r\n" + strings.Repeat("secret", 100))
		}, wire.EFAILEDSOCKET, "bad magic"},
		{"unparsable meta", func(*testing.T, *wire.Frame) []byte {
			return append(header(6, 6), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
		}, wire.EFAILEDSOCKET, "meta"},
		{"meta_size over body_size", func(*testing.T, *wire.Frame) []byte { return append(header(2, 9), 0, 0) }, wire.EFAILEDSOCKET, "meta_size"},
		{"frame over the size limit", func(*testing.T, *wire.Frame) []byte { return header(100<<20, 10) }, wire.EFAILEDSOCKET, "size limit"},
		{"a request frame as the answer", func(t *testing.T, f *wire.Frame) []byte {
			m := f.Meta
			return wire.AppendFrame(nil, &m, f.Payload, nil)
		}, wire.EFAILEDSOCKET, "request frame"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := startFake(t, func(n int32, c net.Conn, r *wire.Reader) {
				if n > 1 {
					serveEcho(t, c, r)
					return
				}
				var f wire.Frame
				if r.ReadFrame(&f) != nil {
					return
				}
				_, _ = c.Write(tt.bad(t, &f))
				// Close, or (for an answer the client refuses by itself) wait for it to close.
				if tt.code == wire.EEOF {
					return
				}
				_, _ = c.Read(make([]byte, 1))
			})
			sys := newSystem(t)
			policy := &codeRecorder{}
			ch, err := sys.NewChannel(fs.addr(), &actors.ChannelOptions{ConnectionType: "pooled", RetryPolicy: policy, Timeout: testTimeout})
			if err != nil {
				t.Fatal(err)
			}
			var cntl actors.Controller
			resp := &echopb.EchoResponse{}
			if err := ch.Call(t.Context(), echoservice.Method, echoReq("fine"), resp, &cntl); err != nil {
				t.Fatalf("Call() = %v, want a success on the retry", err)
			}
			codes, errs := policy.seen()
			if cntl.RetriedCount() != 1 || resp.GetMessage() != "fine" || len(codes) != 1 || codes[0] != tt.code {
				t.Fatalf("RetriedCount() = %d, message %q, failed attempts %v (%v); want 1 retry after %v", cntl.RetriedCount(), resp.GetMessage(), codes, errs, tt.code)
			}
			msg := errs[0].Error()
			if !strings.Contains(msg, tt.text) || strings.Contains(msg, "secret") {
				t.Errorf("attempt error %q: want it to name %q and quote no more than a few bytes", msg, tt.text)
			}
			if n := fs.accepted.Load(); n != 2 {
				t.Errorf("%d connections, want 2", n)
			}
		})
	}
}

// A frame that parses but whose payload is not the response type fails its call only, with
// ERESPONSE, not retried; the connection goes on serving.
func TestUnparsablePayloadFailsOnlyItsCall(t *testing.T) {
	fs := startFake(t, func(n int32, c net.Conn, r *wire.Reader) {
		var f wire.Frame
		for i := 0; r.ReadFrame(&f) == nil; i++ {
			answer := echoAnswer(t, &f)
			if i == 0 {
				answer = wire.AppendFrame(nil, &wire.Meta{IsResponse: true, CorrelationID: f.Meta.CorrelationID}, []byte{0xff, 0xff, 0xff}, nil)
			}
			if _, err := c.Write(answer); err != nil {
				return
			}
		}
	})
	sys := newSystem(t)
	ch, err := sys.NewChannel(fs.addr(), &actors.ChannelOptions{Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	var cntl actors.Controller
	err = ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl)
	if cntl.ErrorCode() != wire.ERESPONSE || cntl.RetriedCount() != 0 {
		t.Fatalf("Call() = %v after %d retries, want ERESPONSE after 0", err, cntl.RetriedCount())
	}
	if err := ch.Call(t.Context(), echoservice.Method, echoReq("y"), &echopb.EchoResponse{}, nil); err != nil {
		t.Fatalf("second Call() = %v", err)
	}
	if n := fs.accepted.Load(); n != 1 {
		t.Fatalf("%d connections, want the first one kept", n)
	}
}

// A refused connection isolates a single server: the retries and later calls fail at once with
// EHOSTDOWN without dialling, until health checking revives the server. Concurrent calls that
// wait for a pooled connection are refused too.
func TestRefusedServerIsIsolatedUntilHealthChecked(t *testing.T) {
	for _, typ := range []string{"single", "pooled", "short"} {
		t.Run(typ, func(t *testing.T) { testRefusedServerIsIsolated(t, typ) })
	}
}

func testRefusedServerIsIsolated(t *testing.T, typ string) {
	addr := deadAddr(t)
	sys := newSystem(t)
	ch, err := sys.NewChannel(addr, &actors.ChannelOptions{MaxRetry: 3, HealthCheckInterval: time.Hour,
		ConnectionType: typ, MaxConnectionPoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	var cntl actors.Controller
	err = ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl)
	if cntl.ErrorCode() != wire.EHOSTDOWN || cntl.RetriedCount() != 3 {
		t.Fatalf("Call() = %v after %d retries, want EHOSTDOWN after 3", err, cntl.RetriedCount())
	}
	var werr *wire.Error
	if !errors.As(err, &werr) || !errors.Is(werr.Err, wire.ECONNREFUSED) {
		t.Fatalf("EHOSTDOWN error %v does not wrap the refusal", err)
	}
	if !strings.Contains(err.Error(), "Server "+addr+" is down (isolated since ") {
		t.Errorf("error text %q does not say the server is down", err.Error())
	}

	// A listener on the address now: nothing dials it while the server is isolated.
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	defer l.Close()
	var accepted atomic.Int32
	var wg sync.WaitGroup
	defer wg.Wait()
	defer l.Close()
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	})
	calls := make([]*actors.Call, 20)
	for i := range calls {
		calls[i] = ch.Go(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil, nil)
	}
	for _, c := range calls {
		if err := waitDone(t, c); wire.ErrnoOf(err) != wire.EHOSTDOWN {
			t.Fatalf("Call() on an isolated server = %v, want EHOSTDOWN", err)
		}
	}
	if n := accepted.Load(); n != 0 {
		t.Fatalf("%d connections to an isolated server, want none", n)
	}
	sock := sys.Inspect().Find(func(n *actors.Node) bool { return n.Kind == "socket" && n.Name == addr })
	if sock == nil || sock.Counters["connections"] != 0 {
		t.Fatalf("socket = %v, want no connection made", sock)
	}
}

func TestIsolatedServerIsRevivedByHealthCheck(t *testing.T) {
	addr := deadAddr(t)
	sys := newSystem(t)
	ch, err := sys.NewChannel(addr, &actors.ChannelOptions{HealthCheckInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); wire.ErrnoOf(err) != wire.EHOSTDOWN {
		t.Fatalf("Call() to a dead server = %v, want EHOSTDOWN", err)
	}
	svc := &echoservice.Service{}
	srv, err := actors.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Register(srv); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Listen(addr); err != nil {
		t.Skipf("restart on %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	eventually(t, "health checking to revive the server", func() bool {
		return ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil) == nil
	})
	sock := sys.Inspect().Find(func(n *actors.Node) bool { return n.Kind == "socket" && n.Name == addr })
	if sock == nil || sock.Counters["health_checks"] == 0 {
		t.Fatalf("socket = %v, want it revived by a health check", sock)
	}
}

// A broken single connection isolates the server as brpc does: the call fails (EHOSTDOWN,
// wrapping the EEOF of the broken connection) unless health checking revives the server in
// time, and later calls succeed once it did.
func TestBrokenSingleConnectionIsolatesTheServer(t *testing.T) {
	fs := startFake(t, func(n int32, c net.Conn, r *wire.Reader) {
		if n > 1 {
			serveEcho(t, c, r)
			return
		}
		var f wire.Frame
		_ = r.ReadFrame(&f)
	})
	sys := newSystem(t)
	ch, err := sys.NewChannel(fs.addr(), &actors.ChannelOptions{HealthCheckInterval: 20 * time.Millisecond, Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	var cntl actors.Controller
	err = ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl)
	if err != nil && (cntl.ErrorCode() != wire.EHOSTDOWN || !errors.Is(err, wire.EEOF)) {
		t.Fatalf("Call() on a connection that breaks = %v, want EHOSTDOWN wrapping EEOF (or a success)", err)
	}
	eventually(t, "health checking to revive the server", func() bool {
		return ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil) == nil
	})
}

// In a cluster, an isolated server is skipped, and only health checking brings it back: not a
// call, not a channel.
func TestClusterSkipsAnIsolatedServerUntilHealthChecked(t *testing.T) {
	svcA := &echoservice.Service{Index: 0}
	_, addrA := startEcho(t, svcA)
	addrB := deadAddr(t)
	sys := newSystem(t)
	target := "list://" + addrA + "," + addrB
	ch, err := sys.NewChannel(target, &actors.ChannelOptions{LoadBalancer: "rr", HealthCheckInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); err != nil {
			t.Fatalf("Call() = %v, want the live server to answer", err)
		}
	}
	down := func() int64 {
		n := sys.Inspect().Find(func(n *actors.Node) bool {
			return n.Kind == "channel" && n.Name != "" && strings.Contains(n.State+n.Name, "list://")
		})
		if n == nil {
			return -1
		}
		return n.Counters["down"]
	}
	eventually(t, "the dead server to be isolated", func() bool { return down() == 1 })

	svcB := &echoservice.Service{Index: 1}
	srv, err := actors.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := svcB.Register(srv); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Listen(addrB); err != nil {
		t.Skipf("restart on %s: %v", addrB, err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	for range 50 {
		if err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); err != nil {
			t.Fatalf("Call() = %v", err)
		}
	}
	if n := svcB.Requests(); n != 0 {
		t.Fatalf("the isolated server got %d requests before any health check", n)
	}
	// A channel asking for frequent checks makes the shared socket check now.
	other, err := sys.NewChannel(target, &actors.ChannelOptions{LoadBalancer: "rr", HealthCheckInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	eventually(t, "the revived server to take calls", func() bool {
		_ = ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil)
		return svcB.Requests() > 0
	})
}

func TestCircuitBreakerOptionsValidation(t *testing.T) {
	tests := []struct {
		field string
		o     actors.CircuitBreakerOptions
	}{
		{"LongWindow", actors.CircuitBreakerOptions{LongWindow: -1}},
		{"ShortWindow", actors.CircuitBreakerOptions{ShortWindow: -5}},
		{"LongErrorPercent", actors.CircuitBreakerOptions{LongErrorPercent: 101}},
		{"ShortErrorPercent", actors.CircuitBreakerOptions{ShortErrorPercent: -1}},
		{"MinErrorCost", actors.CircuitBreakerOptions{MinErrorCost: -time.Microsecond}},
		{"MaxFailedLatencyMultiple", actors.CircuitBreakerOptions{MaxFailedLatencyMultiple: -2}},
		{"MinIsolation", actors.CircuitBreakerOptions{MinIsolation: -time.Millisecond}},
		{"MaxIsolation", actors.CircuitBreakerOptions{MaxIsolation: -time.Second}},
		{"HalfOpenWindow", actors.CircuitBreakerOptions{HalfOpenWindow: -1}},
		{"MinIsolation", actors.CircuitBreakerOptions{MinIsolation: time.Minute, MaxIsolation: time.Second}},
		{"MinIsolation", actors.CircuitBreakerOptions{MinIsolation: time.Minute}}, // over the default 30s
	}
	for _, tt := range tests {
		sys, err := actors.NewSystem(&actors.SystemOptions{CircuitBreaker: tt.o})
		if err == nil {
			sys.Shutdown()
			t.Errorf("NewSystem(%+v) = nil error", tt.o)
			continue
		}
		if !errors.Is(err, wire.EINVAL) || !strings.Contains(err.Error(), "CircuitBreaker."+tt.field) {
			t.Errorf("NewSystem(%+v) = %v, want EINVAL naming %s", tt.o, err, tt.field)
		}
	}
	for _, o := range []actors.CircuitBreakerOptions{{}, {LongWindow: 10, ShortWindow: 5, LongErrorPercent: 100,
		ShortErrorPercent: 50, MinErrorCost: time.Millisecond, MaxFailedLatencyMultiple: 1.5,
		MinIsolation: time.Second, MaxIsolation: time.Second, HalfOpenWindow: 3}} {
		sys, err := actors.NewSystem(&actors.SystemOptions{CircuitBreaker: o})
		if err != nil {
			t.Errorf("NewSystem(%+v) = %v", o, err)
			continue
		}
		sys.Shutdown()
	}
}

// countingHandler counts the log records with each message.
type countingHandler struct {
	mu     sync.Mutex
	counts map[string]int
	attrs  map[string][]slog.Attr
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.counts[r.Message]++
	r.Attrs(func(a slog.Attr) bool {
		h.attrs[r.Message] = append(h.attrs[r.Message], a)
		return true
	})
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

func (h *countingHandler) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.counts[msg]
}

// Connections that send garbage are logged at most once a second, without the garbage.
func TestBrokenConnectionsLogRateLimited(t *testing.T) {
	fs := startFake(t, func(n int32, c net.Conn, r *wire.Reader) {
		var f wire.Frame
		if r.ReadFrame(&f) == nil {
			_, _ = c.Write([]byte("garbage-secret-garbage"))
		}
		_, _ = c.Read(make([]byte, 1))
	})
	h := &countingHandler{counts: map[string]int{}, attrs: map[string][]slog.Attr{}}
	sys, err := actors.NewSystem(&actors.SystemOptions{Logger: slog.New(h)})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Shutdown()
	ch, err := sys.NewChannel(fs.addr(), &actors.ChannelOptions{ConnectionType: "short", MaxRetry: actors.NoRetry, Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	const n = 30
	begin := time.Now()
	for range n {
		if err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); wire.ErrnoOf(err) != wire.EFAILEDSOCKET {
			t.Fatalf("Call() = %v, want EFAILEDSOCKET", err)
		}
	}
	elapsed := time.Since(begin)
	lines := h.count("troupe: connection broken")
	if lines < 1 || lines > 1+int(elapsed/time.Second)+1 {
		t.Fatalf("%d broken connections logged %d lines in %v, want about one a second", n, lines, elapsed)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, a := range h.attrs["troupe: connection broken"] {
		if strings.Contains(a.Value.String(), "secret") {
			t.Fatalf("log line quotes the peer's bytes: %v", a)
		}
	}
}

// Eight goroutines start 10 000 asynchronous calls in all on one channel: every call finishes
// once, without an error.
func TestTenThousandCallsFromEightSenders(t *testing.T) {
	_, ch := newChannel(t, nil, &actors.ChannelOptions{Timeout: 30 * time.Second})
	const senders, n = 8, 10000
	var callbacks, failures atomic.Int32
	var firstErr atomic.Pointer[error]
	calls := make([]*actors.Call, n)
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() {
			for i := s; i < n; i += senders {
				calls[i] = ch.Go(t.Context(), echoservice.Method, echoReq("z"), &echopb.EchoResponse{}, nil, func(c *actors.Controller) {
					callbacks.Add(1)
					if err := c.Err(); err != nil && failures.Add(1) == 1 {
						firstErr.Store(&err)
					}
				})
			}
		})
	}
	wg.Wait()
	actors.Join(calls...)
	if failures.Load() != 0 {
		t.Fatalf("%d of %d calls failed; first: %v", failures.Load(), n, *firstErr.Load())
	}
	if got := callbacks.Load(); got != n {
		t.Fatalf("%d callbacks ran, want %d", got, n)
	}
}

// Attempts waiting for a pooled connection when the server turns out to refuse connections
// fail with EHOSTDOWN instead of each dialling it: one refusal in all.
func TestQueuedPooledAttemptsAreRefusedOnIsolation(t *testing.T) {
	addr := deadAddr(t)
	sys := newSystem(t)
	ch, err := sys.NewChannel(addr, &actors.ChannelOptions{MaxRetry: actors.NoRetry, HealthCheckInterval: time.Hour,
		ConnectionType: "pooled", MaxConnectionPoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	calls := make([]*actors.Call, 20)
	for i := range calls {
		calls[i] = ch.Go(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil, nil)
	}
	refused := 0
	for _, c := range calls {
		switch err := waitDone(t, c); wire.ErrnoOf(err) {
		case wire.ECONNREFUSED:
			refused++
		case wire.EHOSTDOWN:
		default:
			t.Fatalf("call = %v, want ECONNREFUSED or EHOSTDOWN", err)
		}
	}
	if refused != 1 {
		t.Fatalf("%d calls refused by the server, want 1: the others must not dial", refused)
	}
}
