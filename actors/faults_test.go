package actors_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

func TestInspectShowsAStuckCall(t *testing.T) {
	sys, ch := newChannel(t, &echoservice.Service{Sleep: time.Hour}, &actors.ChannelOptions{Timeout: -1})
	call := ch.Go(t.Context(), echoservice.Method, echoReq("stuck"), &echopb.EchoResponse{}, nil, nil)
	var tree *actors.Node
	eventually(t, "the socket to show the call pending", func() bool {
		tree = sys.Inspect()
		sock := tree.Find(func(n *actors.Node) bool { return n.Kind == "socket" && n.Name == ch.Target() })
		return sock != nil && sock.Counters["pending"] == 1 && sock.State == "connected"
	})
	c := tree.Find(func(n *actors.Node) bool { return n.Kind == "call" })
	if c == nil || !strings.Contains(c.State, echoservice.Method) || !strings.Contains(c.State, "waiting for response from "+ch.Target()) {
		t.Fatalf("no stuck call in the tree:\n%s", tree)
	}
	sock := tree.Find(func(n *actors.Node) bool { return n.Kind == "socket" && n.Name == ch.Target() })
	if sock == nil || sock.State != "connected" || sock.Counters["pending"] != 1 {
		t.Fatalf("socket not shown waiting:\n%s", tree)
	}
	chn := tree.Find(func(n *actors.Node) bool { return n.Kind == "channel" })
	if chn == nil || chn.Counters["in_flight"] != 1 {
		t.Fatalf("channel not shown with the call in flight:\n%s", tree)
	}
	if s := tree.String(); !strings.Contains(s, "call ") || !strings.Contains(s, "socket "+ch.Target()) {
		t.Fatalf("String() misses the call or the socket:\n%s", s)
	}
	call.Cancel()
	if err := waitDone(t, call); !errors.Is(err, wire.ECANCELED) {
		t.Fatalf("call = %v", err)
	}
	// The actor leaves the tree right after the call finished (its last message follows).
	eventually(t, "the finished call to leave the tree", func() bool {
		return sys.Inspect().Find(func(n *actors.Node) bool { return n.Kind == "call" }) == nil
	})
}

func TestServerKilledMidCall(t *testing.T) {
	srv, addr := startEcho(t, &echoservice.Service{Sleep: time.Hour})
	sys := newSystem(t)
	ch, err := sys.NewChannel(addr, &actors.ChannelOptions{Timeout: -1, MaxRetry: 2})
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	var finished atomic.Int32
	calls := make([]*actors.Call, n)
	for i := range calls {
		calls[i] = ch.Go(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil, func(*actors.Controller) { finished.Add(1) })
	}
	waitPending(t, sys, ch.Target(), n)
	expired, cancel := context.WithCancel(context.Background())
	cancel()
	_ = srv.Shutdown(expired) // kills the connections under the calls
	for _, c := range calls {
		err := waitDone(t, c)
		code := wire.ErrnoOf(err)
		if code == 0 || !(code.Temporary() || code == wire.ERESPONSE) {
			t.Fatalf("call on a killed server = %v, want a connection error", err)
		}
	}
	if got := finished.Load(); got != n {
		t.Fatalf("%d callbacks ran, want %d", got, n)
	}
}

// waitPending waits until the socket to addr has n attempts pending.
func waitPending(t *testing.T, sys *actors.System, addr string, n int64) {
	t.Helper()
	eventually(t, fmt.Sprintf("socket %s to have %d attempts pending", addr, n), func() bool {
		s := sys.Inspect().Find(func(nd *actors.Node) bool { return nd.Kind == "socket" && nd.Name == addr })
		return s != nil && s.Counters["pending"] >= n
	})
}

func TestTenThousandCallsOverOneConnection(t *testing.T) {
	sys, ch := newChannel(t, nil, &actors.ChannelOptions{Timeout: 30 * time.Second})
	const n = 10000
	var callbacks atomic.Int32
	var failures atomic.Int32
	var firstErr atomic.Pointer[error]
	calls := make([]*actors.Call, n)
	resps := make([]*echopb.EchoResponse, n)
	for i := range calls {
		resps[i] = &echopb.EchoResponse{}
		calls[i] = ch.Go(t.Context(), echoservice.Method, echoReq(strings.Repeat("y", i%64)), resps[i], nil, func(c *actors.Controller) {
			callbacks.Add(1)
			if err := c.Err(); err != nil && failures.Add(1) == 1 {
				firstErr.Store(&err)
			}
		})
	}
	actors.Join(calls...)
	if callbacks.Load() != n || failures.Load() != 0 {
		t.Fatalf("callbacks=%d failures=%d (first: %v), want %d and 0", callbacks.Load(), failures.Load(), *firstErr.Load(), n)
	}
	for i, r := range resps {
		if r.GetMessage() != strings.Repeat("y", i%64) {
			t.Fatalf("response %d = %q", i, r.GetMessage())
		}
	}
	sock := sys.Inspect().Find(func(nd *actors.Node) bool { return nd.Kind == "socket" })
	if sock.Counters["connections"] != 1 || sock.Counters["frames"] != n {
		t.Fatalf("socket counters = %v, want 1 connection and %d frames", sock.Counters, n)
	}
	// How many frames share a write depends on how the scheduler interleaves the callers and the
	// socket actor (on one busy CPU, often none do): BenchmarkUnaryEcho reports it as
	// frames/write. Here only what holds on any schedule is checked.
	if w := sock.Counters["writes"]; w < 1 || w > n {
		t.Errorf("%d writes for %d frames, want between 1 and %d", w, n, n)
	}
	t.Logf("%d frames in %d writes", n, sock.Counters["writes"])
}

func TestShutdownWithCallsInFlight(t *testing.T) {
	_, addr := startEcho(t, &echoservice.Service{Sleep: time.Hour})
	sys, err := actors.NewSystem(nil)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := sys.NewChannel(addr, &actors.ChannelOptions{Timeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	var callbacks atomic.Int32
	var calls []*actors.Call
	for range 20 {
		calls = append(calls, ch.Go(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil, func(*actors.Controller) { callbacks.Add(1) }))
	}
	var wg sync.WaitGroup
	syncErrs := make(chan error, 5)
	for range 5 {
		wg.Go(func() {
			syncErrs <- ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil)
		})
	}
	waitPending(t, sys, ch.Target(), 25)
	sys.Shutdown()
	wg.Wait()
	close(syncErrs)
	for err := range syncErrs {
		if !errors.Is(err, actors.ErrClosed) || !errors.Is(err, wire.ELOGOFF) {
			t.Fatalf("sync call during Shutdown = %v, want ELOGOFF/ErrClosed", err)
		}
	}
	for _, c := range calls {
		select {
		case <-c.Done():
		default:
			t.Fatal("Shutdown returned before a call's callback finished")
		}
		if !errors.Is(c.Err(), actors.ErrClosed) {
			t.Fatalf("async call during Shutdown = %v, want ErrClosed", c.Err())
		}
	}
	if callbacks.Load() != 20 {
		t.Fatalf("%d callbacks ran, want 20", callbacks.Load())
	}
	if n := sys.Processes(); n != 0 {
		t.Fatalf("%d processes left after Shutdown", n)
	}
}

// flakyServer accepts connections and closes the first one as soon as a request arrives, then
// serves echo on the next ones by relaying to a real echo server.
func TestRetryAfterABrokenConnection(t *testing.T) {
	_, echoAddr := startEcho(t, nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int32
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if accepted.Add(1) == 1 {
				wg.Go(func() { _, _ = bufio.NewReader(c).ReadByte(); c.Close() })
				continue
			}
			wg.Go(func() { relay(c, echoAddr) })
		}
	})
	sys := newSystem(t)
	// Pooled: a broken connection fails only its attempt. A broken single connection isolates
	// the server until health checking revives it (TestBrokenSingleConnectionIsolatesTheServer).
	ch, err := sys.NewChannel(l.Addr().String(), &actors.ChannelOptions{ConnectionType: "pooled"})
	if err != nil {
		t.Fatal(err)
	}
	var cntl actors.Controller
	resp := &echopb.EchoResponse{}
	if err := ch.Call(t.Context(), echoservice.Method, echoReq("again"), resp, &cntl); err != nil {
		t.Fatalf("Call() = %v, want a success after a retry", err)
	}
	if cntl.RetriedCount() != 1 || resp.GetMessage() != "again" {
		t.Fatalf("RetriedCount() = %d, message %q; want 1, %q", cntl.RetriedCount(), resp.GetMessage(), "again")
	}
}

// relay copies bytes both ways between c and a new connection to addr until either side closes.
func relay(c net.Conn, addr string) {
	defer c.Close()
	up, err := net.Dial("tcp", addr)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = copyConn(up, c); done <- struct{}{} }()
	go func() { _, _ = copyConn(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	<-done
}

func copyConn(dst, src net.Conn) (int64, error) {
	buf := make([]byte, 32<<10)
	var n int64
	for {
		m, err := src.Read(buf)
		if m > 0 {
			if _, werr := dst.Write(buf[:m]); werr != nil {
				return n, werr
			}
			n += int64(m)
		}
		if err != nil {
			return n, err
		}
	}
}

func TestConnectionRefusedIsRetriedThenReported(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	sys := newSystem(t)
	ch, err := sys.NewChannel(addr, &actors.ChannelOptions{MaxRetry: 3})
	if err != nil {
		t.Fatal(err)
	}
	// The first attempt dials and is refused, which isolates the server: the retries fail at
	// once with EHOSTDOWN, whose error wraps the refusal.
	var cntl actors.Controller
	err = ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl)
	if cntl.ErrorCode() != wire.EHOSTDOWN || !errors.Is(err, wire.ECONNREFUSED) || cntl.RetriedCount() != 3 {
		t.Fatalf("Call() = %v after %d retries, want EHOSTDOWN wrapping ECONNREFUSED after 3", err, cntl.RetriedCount())
	}
	cntl.Reset()
	cntl.SetMaxRetry(actors.NoRetry)
	_ = ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl)
	if cntl.RetriedCount() != 0 || cntl.ErrorCode() != wire.EHOSTDOWN {
		t.Fatalf("SetMaxRetry(NoRetry): %v after %d retries, want EHOSTDOWN after 0", cntl.Err(), cntl.RetriedCount())
	}
}

func TestChannelsShareASocket(t *testing.T) {
	sys, ch := newChannel(t, nil, nil)
	for range 10 {
		other, err := sys.NewChannel(ch.Target(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := other.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	tree := sys.Inspect()
	var sockets int
	tree.Find(func(n *actors.Node) bool {
		if n.Kind == "socket" {
			sockets++
		}
		return false
	})
	if sockets != 1 {
		t.Fatalf("11 channels to one server use %d sockets, want 1:\n%s", sockets, tree)
	}
}
