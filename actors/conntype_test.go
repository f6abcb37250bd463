package actors_test

import (
	"context"
	"errors"
	"io"
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

var connTypes = []string{"single", "pooled", "short"}

// countingListener counts the connections a server accepts and closes. With dropFirst, the first
// connections it accepts are closed by the server as soon as it reads from them, unanswered.
type countingListener struct {
	net.Listener
	accepted, closed atomic.Int64
	dropFirst        int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	n := l.accepted.Add(1)
	return &countingConn{Conn: c, l: l, drop: n <= l.dropFirst}, nil
}

type countingConn struct {
	net.Conn
	l    *countingListener
	drop bool
	once sync.Once
}

func (c *countingConn) Read(b []byte) (int, error) {
	if c.drop {
		c.Close()
		return 0, io.EOF
	}
	return c.Conn.Read(b)
}

func (c *countingConn) Close() error {
	c.once.Do(func() { c.l.closed.Add(1) })
	return c.Conn.Close()
}

// CloseWrite lets the server end a refused connection gracefully, as it would a TCP one.
func (c *countingConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// startCounted serves svc with opts on a counting listener; the server is shut down when the
// test ends.
func startCounted(t *testing.T, svc *echoservice.Service, opts *actors.ServerOptions, dropFirst int64) (*countingListener, string) {
	t.Helper()
	srv, err := actors.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Register(srv); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln, dropFirst: dropFirst}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(cl) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown() = %v", err)
		}
		ln.Close()
		if err := <-served; !errors.Is(err, actors.ErrServerClosed) {
			t.Errorf("Serve() = %v, want ErrServerClosed", err)
		}
	})
	return cl, ln.Addr().String()
}

// socketNode returns the Inspect node of the socket to addr, nil if there is none.
func socketNode(sys *actors.System, addr string) *actors.Node {
	return sys.Inspect().Find(func(n *actors.Node) bool { return n.Kind == "socket" && n.Name == addr })
}

// burst makes n concurrent calls with Go and Join and returns their errors.
func burst(t *testing.T, ch actors.Channel, n int) []error {
	t.Helper()
	calls := make([]*actors.Call, n)
	resps := make([]*echopb.EchoResponse, n)
	for i := range calls {
		resps[i] = &echopb.EchoResponse{}
		calls[i] = ch.Go(t.Context(), echoservice.Method, echoReq("burst"), resps[i], nil, nil)
	}
	actors.Join(calls...)
	errs := make([]error, n)
	for i, c := range calls {
		errs[i] = c.Err()
		if c.Err() == nil && resps[i].GetMessage() != "burst" {
			t.Errorf("call %d answered %q, want %q", i, resps[i].GetMessage(), "burst")
		}
	}
	return errs
}

func TestConnectionTypesCall(t *testing.T) {
	for _, typ := range connTypes {
		t.Run(typ, func(t *testing.T) {
			svc := &echoservice.Service{Sleep: 5 * time.Millisecond}
			cl, addr := startCounted(t, svc, nil, 0)
			sys := newSystem(t)
			ch, err := sys.NewChannel(addr, &actors.ChannelOptions{ConnectionType: strings.ToUpper(typ),
				MaxConnectionPoolSize: 8, IdleTimeout: 100 * time.Millisecond, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			resp := &echopb.EchoResponse{}
			var cntl actors.Controller
			if err := ch.Call(t.Context(), echoservice.Method, echoReq("sync"), resp, &cntl); err != nil || resp.GetMessage() != "sync" {
				t.Fatalf("Call() = %v, %q; want nil, %q", err, resp.GetMessage(), "sync")
			}
			if cntl.RemoteSide() != addr || cntl.LocalSide() == "" {
				t.Errorf("RemoteSide, LocalSide = %q, %q; want %q and an address", cntl.RemoteSide(), cntl.LocalSide(), addr)
			}
			var ran atomic.Int32
			call := ch.Go(t.Context(), echoservice.Method, echoReq("async"), &echopb.EchoResponse{}, nil, func(*actors.Controller) { ran.Add(1) })
			if err := waitDone(t, call); err != nil || ran.Load() != 1 {
				t.Fatalf("Go() = %v with %d callbacks, want nil and 1", err, ran.Load())
			}
			for i, err := range burst(t, ch, 64) {
				if err != nil {
					t.Fatalf("burst call %d = %v", i, err)
				}
			}
			checkConnections(t, typ, sys, cl, addr, 66)
		})
	}
}

// checkConnections checks what calls connections a socket of type typ opened for calls calls, and
// that none is left open that should not be.
func checkConnections(t *testing.T, typ string, sys *actors.System, cl *countingListener, addr string, calls int64) {
	t.Helper()
	switch typ {
	case "single":
		if n := cl.accepted.Load(); n != 1 {
			t.Errorf("single: the server accepted %d connections, want 1", n)
		}
		if s := socketNode(sys, addr); s == nil || s.Counters["connections_open"] != 1 || s.State != "connected" {
			t.Errorf("single: socket = %+v, want connected with 1 connection open", s)
		}
		return
	case "pooled":
		if n := cl.accepted.Load(); n < 2 || n > 8 {
			t.Errorf("pooled: the server accepted %d connections, want 2 to 8 (the pool size)", n)
		}
	case "short":
		if n := cl.accepted.Load(); n != calls {
			t.Errorf("short: the server accepted %d connections, want one per call, %d", n, calls)
		}
	}
	eventually(t, typ+" connections closed", func() bool {
		s := socketNode(sys, addr)
		return cl.closed.Load() == cl.accepted.Load() && s != nil && s.Counters["connections_open"] == 0
	})
	if s := socketNode(sys, addr); !strings.Contains(s.State, "("+typ+")") {
		t.Errorf("socket state %q does not name the connection type %s", s.State, typ)
	}
}

func TestPooledConnectionsAreReusedAndBounded(t *testing.T) {
	svc := &echoservice.Service{Sleep: 20 * time.Millisecond}
	cl, addr := startCounted(t, svc, nil, 0)
	sys := newSystem(t)
	ch, err := sys.NewChannel(addr, &actors.ChannelOptions{ConnectionType: "pooled", MaxConnectionPoolSize: 2, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := cl.accepted.Load(); n != 1 {
		t.Fatalf("5 sequential pooled calls used %d connections, want 1 (returned to the pool and reused)", n)
	}
	for i, err := range burst(t, ch, 16) {
		if err != nil {
			t.Fatalf("call %d = %v", i, err)
		}
	}
	if n := cl.accepted.Load(); n != 2 {
		t.Errorf("16 concurrent calls with a pool of 2 opened %d connections, want 2", n)
	}
	// The socket learns that a connection is free just after its call did.
	eventually(t, "2 connections open and idle, none waiting", func() bool {
		s := socketNode(sys, addr)
		return s != nil && s.Counters["connections_open"] == 2 && s.Counters["connections_idle"] == 2 && s.Counters["waiting"] == 0
	})
}

func TestConnectionTypesTimeoutAndCancel(t *testing.T) {
	for _, typ := range connTypes {
		t.Run(typ, func(t *testing.T) {
			cl, addr := startCounted(t, &echoservice.Service{}, nil, 0)
			ch, err := newSystem(t).NewChannel(addr, &actors.ChannelOptions{ConnectionType: typ, Timeout: 50 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			slow := echoReq("slow")
			slow.SleepUs = proto.Int32(int32(time.Second / time.Microsecond))
			var cntl actors.Controller
			err = ch.Call(t.Context(), echoservice.Method, slow, &echopb.EchoResponse{}, &cntl)
			if !errors.Is(err, wire.ERPCTIMEDOUT) || cntl.RetriedCount() != 0 {
				t.Fatalf("Call(slow) = %v, retried %d; want ERPCTIMEDOUT, 0", err, cntl.RetriedCount())
			}
			if typ != "single" {
				// The connection of an attempt whose answer never came is closed, not reused: the
				// answer may still arrive on it. (The server is still sleeping on it.)
				eventually(t, "the timed-out attempt's connection closed", func() bool { return cl.closed.Load() == 1 })
			}
			call := ch.Go(t.Context(), echoservice.Method, slow, &echopb.EchoResponse{}, nil, nil)
			call.Cancel()
			if err := waitDone(t, call); !errors.Is(err, wire.ECANCELED) {
				t.Fatalf("cancelled call = %v, want ECANCELED", err)
			}
			if err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); err != nil {
				t.Fatalf("Call after a timeout and a cancel = %v", err)
			}
			if typ == "single" && cl.accepted.Load() != 1 {
				t.Errorf("single: %d connections, want 1", cl.accepted.Load())
			}
		})
	}
}

func TestConnectionTypesKilledServer(t *testing.T) {
	for _, typ := range connTypes {
		t.Run(typ, func(t *testing.T) {
			srv, addr := startEcho(t, &echoservice.Service{Sleep: time.Hour})
			sys := newSystem(t)
			ch, err := sys.NewChannel(addr, &actors.ChannelOptions{ConnectionType: typ, Timeout: -1, MaxRetry: actors.NoRetry})
			if err != nil {
				t.Fatal(err)
			}
			const n = 8
			var finished atomic.Int32
			calls := make([]*actors.Call, n)
			for i := range calls {
				calls[i] = ch.Go(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil, func(*actors.Controller) { finished.Add(1) })
			}
			waitPending(t, sys, addr, n)
			expired, cancel := context.WithCancel(context.Background())
			cancel()
			_ = srv.Shutdown(expired)
			for _, c := range calls {
				code := wire.ErrnoOf(waitDone(t, c))
				if code == 0 || !(code.Temporary() || code == wire.ERESPONSE) {
					t.Fatalf("call on a killed server = %v, want a connection error", c.Err())
				}
			}
			if got := finished.Load(); got != n {
				t.Fatalf("%d callbacks ran, want %d", got, n)
			}
			eventually(t, "no connection open", func() bool {
				s := socketNode(sys, addr)
				return s != nil && s.Counters["connections_open"] == 0
			})
		})
	}
}

// TestConnectionTypesRetry is brpc's test retry (b): the server drops the connection of the first
// attempt; the retry, on a new connection, succeeds. A broken single connection isolates the
// server until health checking reconnects, so there, as in brpc, the call succeeds after
// retries when the health check revived the server in time (here it is given a backoff to do
// it in), or ends with EHOSTDOWN after all of them.
func TestConnectionTypesRetry(t *testing.T) {
	for _, typ := range connTypes {
		t.Run(typ, func(t *testing.T) {
			cl, addr := startCounted(t, &echoservice.Service{}, nil, 1)
			sys := newSystem(t)
			opts := &actors.ChannelOptions{ConnectionType: typ, MaxRetry: 1, Timeout: 5 * time.Second}
			if typ == "single" {
				opts.MaxRetry, opts.HealthCheckInterval = 3, 10*time.Millisecond
				opts.RetryPolicy = actors.FixedBackoff{Wait: 200 * time.Millisecond}
			}
			ch, err := sys.NewChannel(addr, opts)
			if err != nil {
				t.Fatal(err)
			}
			var cntl actors.Controller
			err = ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl)
			if typ == "single" {
				if err != nil && (cntl.ErrorCode() != wire.EHOSTDOWN || cntl.RetriedCount() != 3) {
					t.Fatalf("Call() = %v after %d retries, want a success or EHOSTDOWN after 3", err, cntl.RetriedCount())
				}
				if err == nil && (cntl.RetriedCount() < 1 || cl.accepted.Load() != 2) {
					t.Errorf("RetriedCount = %d over %d connections, want at least 1 over 2", cntl.RetriedCount(), cl.accepted.Load())
				}
				return
			}
			if err != nil {
				t.Fatalf("Call() = %v, want a successful retry", err)
			}
			if cntl.RetriedCount() != 1 || cl.accepted.Load() != 2 {
				t.Errorf("RetriedCount = %d over %d connections, want 1 over 2", cntl.RetriedCount(), cl.accepted.Load())
			}
		})
	}
}

// TestConnectionTypesRetryOtherServer kills one of two servers under calls: each call fails over
// to the other server. (A cluster channel's sockets follow its ConnectionType once cluster.go
// passes the channel's options to System.socketFor; until then they are single.)
func TestConnectionTypesRetryOtherServer(t *testing.T) {
	for _, typ := range connTypes {
		t.Run(typ, func(t *testing.T) {
			srv, dying := startEcho(t, &echoservice.Service{Sleep: time.Hour})
			_, live := startEcho(t, &echoservice.Service{Index: 1})
			sys := newSystem(t)
			ch, err := sys.NewChannel("list://"+dying+","+live, &actors.ChannelOptions{ConnectionType: typ,
				LoadBalancer: "rr", Timeout: 5 * time.Second, MaxRetry: 2})
			if err != nil {
				t.Fatal(err)
			}
			// Calls that land on the dying server wait there until it is killed.
			calls := make([]*actors.Call, 8)
			resps := make([]*echopb.EchoResponse, len(calls))
			for i := range calls {
				resps[i] = &echopb.EchoResponse{}
				calls[i] = ch.Go(t.Context(), echoservice.Method, echoReq("x"), resps[i], nil, nil)
			}
			waitPending(t, sys, dying, 1)
			expired, cancel := context.WithCancel(context.Background())
			cancel()
			_ = srv.Shutdown(expired)
			for i, c := range calls {
				if err := waitDone(t, c); err != nil || resps[i].GetServerIndex() != 1 {
					t.Fatalf("call %d = %v from server %d, want success from server 1", i, err, resps[i].GetServerIndex())
				}
			}
		})
	}
}

func TestChannelsShareSocketsOnlyWithTheSameSignature(t *testing.T) {
	_, addr := startEcho(t, nil)
	sys := newSystem(t)
	for _, o := range []*actors.ChannelOptions{nil, {ConnectionType: "Single"}, {ConnectionType: "pooled"},
		{ConnectionType: " POOLED "}, {ConnectionType: "short"}} {
		ch, err := sys.NewChannel(addr, o)
		if err != nil {
			t.Fatalf("NewChannel(%+v) = %v", o, err)
		}
		if err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var states []string
	sys.Inspect().Find(func(n *actors.Node) bool {
		if n.Kind == "socket" && n.Name == addr {
			states = append(states, n.State)
		}
		return false
	})
	if len(states) != 3 {
		t.Fatalf("socket states = %q, want 3 sockets: single, pooled, short", states)
	}
}

func TestConnectionOptionsAreValidated(t *testing.T) {
	sys := newSystem(t)
	bad := []actors.ChannelOptions{
		{ConnectionType: "blah"},
		{ConnectionType: "pooled", MaxConnectionPoolSize: -1},
		{ConnectionType: "pooled", IdleTimeout: -time.Second},
		{Authenticator: sliceAuth{}},
	}
	for _, o := range bad {
		if _, err := sys.NewChannel("127.0.0.1:8000", &o); err == nil {
			t.Errorf("NewChannel(%+v) = nil error, want one", o)
		}
	}
	_, err := sys.NewChannel("127.0.0.1:8000", &actors.ChannelOptions{ConnectionType: "blah"})
	if err == nil || !strings.Contains(err.Error(), "single, pooled, short") {
		t.Errorf("NewChannel(blah) = %v, want an error listing the known connection types", err)
	}
}

// sliceAuth is not comparable, so it cannot tell channels apart.
type sliceAuth struct{ cred []byte }

func (a sliceAuth) GenerateCredential() ([]byte, error) { return a.cred, nil }

// Each call's LocalSide is the local address of the connection its answer came on: with pooled
// and short connections, calls in flight together each name their own.
func TestLocalSideIsTheAnsweringConnection(t *testing.T) {
	const n = 8
	for _, typ := range connTypes {
		t.Run(typ, func(t *testing.T) {
			var entered atomic.Int32
			all := make(chan struct{}) // closed when n calls are in their handlers at once
			srv := newServer(t, nil)
			handle(t, srv, "test.Svc.Peer", func(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
				if entered.Add(1) == n {
					close(all)
				}
				select { // the calls overlap: pooled and short sockets open a connection for each
				case <-all:
				case <-ctx.Done():
				}
				return &echopb.EchoResponse{Message: proto.String(actors.ServerCallFromContext(ctx).RemoteAddr().String())}, nil
			})
			addr := listen(t, srv)
			sys := newSystem(t)
			ch, err := sys.NewChannel(addr, &actors.ChannelOptions{ConnectionType: typ, MaxConnectionPoolSize: 8, Timeout: testTimeout})
			if err != nil {
				t.Fatal(err)
			}
			defer ch.Close()
			calls := make([]*actors.Call, n)
			cntls := make([]actors.Controller, n)
			resps := make([]echopb.EchoResponse, n)
			for i := range calls {
				calls[i] = ch.Go(t.Context(), "test.Svc.Peer", echoReq("x"), &resps[i], &cntls[i], nil)
			}
			actors.Join(calls...)
			sides := map[string]bool{}
			for i := range calls {
				if err := calls[i].Err(); err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
				if got, want := cntls[i].LocalSide(), resps[i].GetMessage(); got != want {
					t.Errorf("call %d: LocalSide = %q, the server saw the call come from %q", i, got, want)
				}
				sides[cntls[i].LocalSide()] = true
			}
			if want := map[string]int{"single": 1, "pooled": n, "short": n}[typ]; len(sides) != want {
				t.Errorf("%s: %d overlapping calls used %d connections, want %d", typ, n, len(sides), want)
			}
		})
	}
}
