package actors_test

// Shutdown and lifecycle of the baidu_std server: graceful drain, ELOGOFF while stopping, a
// Shutdown whose context ends first, and the errors of Register, Listen, Serve and NewServer.

import (
	"context"
	"errors"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// shutdown calls srv.Shutdown with a testTimeout context.
func shutdown(srv *actors.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	return srv.Shutdown(ctx)
}

// waitRefused dials addr until the connection is refused, which it must be within testTimeout.
func waitRefused(t testing.TB, addr string) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, testTimeout)
		if err != nil {
			return
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatalf("net.Dial(%q) still connects %v after Shutdown began, want refused", addr, testTimeout)
		}
	}
}

func TestServerShutdownGraceful(t *testing.T) {
	srv := newServer(t, nil)
	g := newGate(t)
	handle(t, srv, "test.Svc.Block", g.handle)
	if err := (&echoservice.Service{}).Register(srv); err != nil {
		t.Fatal(err)
	}
	addr := listen(t, srv)
	c := dialRaw(t, addr)

	c.send(methodMeta("test.Svc", "Block", 1), marshal(t, hello("in flight")), nil)
	g.waitEntered(t, 1)

	done := make(chan error, 1)
	go func() { done <- shutdown(srv) }()

	// New connections are refused once Shutdown began.
	waitRefused(t, addr)
	if conn, err := net.DialTimeout("tcp", addr, testTimeout); err == nil {
		conn.Close()
		t.Fatalf("net.Dial(%q) during Shutdown = connected, want refused", addr)
	}

	// A new request on a connection that is still open is refused with ELOGOFF.
	wantError(t, c.echo(2, hello("too late"), nil), wire.ELOGOFF, "Server is stopping")
	wantError(t, c.call(methodMeta("test.Svc", "Block", 3), marshal(t, hello("too late")), nil), wire.ELOGOFF, "Server is stopping")
	select {
	case err := <-done:
		t.Fatalf("Shutdown() = %v with a handler still running, want it to wait", err)
	default:
	}

	// Once the handler finishes, its response is written, and only then does Shutdown return.
	g.open()
	f := c.read()
	if f.Meta.CorrelationID != 1 {
		t.Fatalf("response after release correlation_id = %d, want 1", f.Meta.CorrelationID)
	}
	if resp := decodeEcho(t, f); resp.GetMessage() != "in flight" {
		t.Errorf("Call(Block in flight) message = %q, want %q", resp.GetMessage(), "in flight")
	}
	if err := receive(t, done, "Shutdown to return"); err != nil {
		t.Errorf("Shutdown() = %v, want nil", err)
	}
	select {
	case m := <-g.entered:
		t.Errorf("handler entered with %q during Shutdown, want every new request refused", m)
	default:
	}
	// And the connection is closed.
	c.expectClosed()
}

// Several requests in flight on several connections are all answered before Shutdown returns.
func TestServerShutdownDrainsEveryConnection(t *testing.T) {
	const conns, perConn = 4, 5
	srv := newServer(t, nil)
	g := newGate(t)
	handle(t, srv, "test.Svc.Block", g.handle)
	addr := listen(t, srv)
	var cs []*rawClient
	for range conns {
		c := dialRaw(t, addr)
		for j := range perConn {
			c.send(methodMeta("test.Svc", "Block", int64(j+1)), marshal(t, hello("m")), nil)
		}
		cs = append(cs, c)
	}
	g.waitEntered(t, conns*perConn)
	done := make(chan error, 1)
	go func() { done <- shutdown(srv) }()
	waitRefused(t, addr)
	g.open()
	for _, c := range cs {
		seen := map[int64]bool{}
		for range perConn {
			f := c.read()
			decodeEcho(t, f)
			seen[f.Meta.CorrelationID] = true
		}
		if len(seen) != perConn {
			t.Errorf("distinct responses on one connection = %d, want %d", len(seen), perConn)
		}
		c.expectClosed()
	}
	if err := receive(t, done, "Shutdown to return"); err != nil {
		t.Errorf("Shutdown() = %v, want nil", err)
	}
}

func TestServerShutdownContextEnds(t *testing.T) {
	tests := []struct {
		name    string
		ctx     func() (context.Context, context.CancelFunc)
		wantErr error
	}{
		{"already expired", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), -time.Second)
		}, context.DeadlineExceeded},
		{"already cancelled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, context.Canceled},
		{"expires while waiting", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, nil) // its cleanup calls Shutdown a second time, which must succeed
			entered := make(chan struct{}, 1)
			handlerErr := make(chan error, 1)
			handle(t, srv, "test.Svc.Wait", func(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
				entered <- struct{}{}
				<-ctx.Done()
				handlerErr <- ctx.Err()
				return nil, ctx.Err()
			})
			c := dialRaw(t, listen(t, srv))
			c.send(methodMeta("test.Svc", "Wait", 1), marshal(t, hello("x")), nil)
			receive(t, entered, "the handler to start")

			ctx, cancel := tt.ctx()
			defer cancel()
			if err := srv.Shutdown(ctx); !errors.Is(err, tt.wantErr) {
				t.Errorf("Shutdown(%s ctx) = %v, want %v", tt.name, err, tt.wantErr)
			}
			if err := receive(t, handlerErr, "the handler's ctx to be cancelled"); !errors.Is(err, context.Canceled) {
				t.Errorf("handler ctx.Err() after Shutdown gave up = %v, want %v", err, context.Canceled)
			}
			// The connection is closed; a response racing the close must be an error.
			for {
				c.conn.SetReadDeadline(time.Now().Add(testTimeout))
				var f wire.Frame
				err := c.r.ReadFrame(&f)
				if err != nil {
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() {
						t.Fatalf("ReadFrame() after Shutdown = %v, want the connection closed", err)
					}
					break
				}
				if f.Meta.ErrorCode == 0 {
					t.Errorf("Call(Wait) after Shutdown gave up = success, want an error or no answer")
				}
			}
		})
	}
}

// A handler's context is cancelled when its client disconnects.
func TestServerHandlerContextCancelledOnDisconnect(t *testing.T) {
	srv := newServer(t, nil)
	entered := make(chan struct{}, 1)
	handlerErr := make(chan error, 1)
	handle(t, srv, "test.Svc.Wait", func(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		entered <- struct{}{}
		<-ctx.Done()
		handlerErr <- ctx.Err()
		return nil, ctx.Err()
	})
	c := dialRaw(t, listen(t, srv))
	c.send(methodMeta("test.Svc", "Wait", 1), marshal(t, hello("x")), nil)
	receive(t, entered, "the handler to start")
	c.conn.Close()
	if err := receive(t, handlerErr, "the handler's ctx to be cancelled"); !errors.Is(err, context.Canceled) {
		t.Errorf("handler ctx.Err() after the client closed = %v, want %v", err, context.Canceled)
	}
	if err := shutdown(srv); err != nil {
		t.Errorf("Shutdown() = %v, want nil", err)
	}
}

func TestServerShutdownIdempotent(t *testing.T) {
	srv, addr := startEcho(t, nil) // its cleanup calls Shutdown once more
	c := dialRaw(t, addr)
	decodeEcho(t, c.echo(1, hello("x"), nil))
	for i := range 3 {
		if err := shutdown(srv); err != nil {
			t.Errorf("Shutdown() call %d = %v, want nil", i+1, err)
		}
	}
	// The idle connection was closed by the first Shutdown.
	c.expectClosed()
}

// Concurrent Shutdown calls while a request is in flight must all return once it is answered.
// Server.release signals s.idle (a channel of capacity 1) once when the last request finishes, so
// only one of the Shutdown calls blocked in waitIdle wakes up; the others wait until their ctx ends
// and return its error.
func TestServerConcurrentShutdown(t *testing.T) {
	const callers = 3
	srv := newServer(t, nil)
	g := newGate(t)
	handle(t, srv, "test.Svc.Block", g.handle)
	c := dialRaw(t, listen(t, srv))
	c.send(methodMeta("test.Svc", "Block", 1), marshal(t, hello("in flight")), nil)
	g.waitEntered(t, 1)

	errs := make(chan error, callers)
	for range callers {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout/2)
			defer cancel()
			errs <- srv.Shutdown(ctx)
		}()
	}
	// Wait until every caller is blocked waiting for the request: their goroutines show
	// waitIdle in their stacks.
	deadline := time.Now().Add(testTimeout)
	buf := make([]byte, 1<<20)
	for strings.Count(string(buf[:runtime.Stack(buf, true)]), "actors.(*Server).waitIdle") < callers {
		if time.Now().After(deadline) {
			t.Fatalf("%d Shutdown calls not all waiting for the request after %v", callers, testTimeout)
		}
		runtime.Gosched()
	}
	g.open()
	if f := c.read(); f.Meta.ErrorCode != 0 {
		t.Errorf("Call(Block in flight) error_code = %d, want 0", f.Meta.ErrorCode)
	}
	for range callers {
		// Each waits at most testTimeout/2 (its ctx); the buggy ones return DeadlineExceeded.
		if err := receive(t, errs, "a concurrent Shutdown to return"); err != nil {
			t.Errorf("concurrent Shutdown() = %v, want nil", err)
		}
	}
}

func TestServerServeAfterShutdown(t *testing.T) {
	srv := newServer(t, nil)
	if err := (&echoservice.Service{}).Register(srv); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()

	c := dialRaw(t, l.Addr().String())
	if resp := decodeEcho(t, c.echo(1, hello("served"), nil)); resp.GetMessage() != "served" {
		t.Errorf("Call(Echo via Serve) message = %q, want %q", resp.GetMessage(), "served")
	}
	// Serve began: registering is too late.
	if err := actors.Handle(srv, "test.Svc.Late", (&echoservice.Service{}).Echo); err == nil {
		t.Errorf("Handle(test.Svc.Late) while serving = nil, want an error")
	}
	if err := shutdown(srv); err != nil {
		t.Errorf("Shutdown() = %v, want nil", err)
	}
	if err := receive(t, served, "Serve to return"); !errors.Is(err, actors.ErrServerClosed) {
		t.Errorf("Serve() after Shutdown = %v, want %v", err, actors.ErrServerClosed)
	}
	c.expectClosed()
	waitRefused(t, l.Addr().String())

	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if err := srv.Serve(l2); !errors.Is(err, actors.ErrServerClosed) {
		t.Errorf("Serve(new listener) after Shutdown = %v, want %v", err, actors.ErrServerClosed)
	}
	waitRefused(t, l2.Addr().String()) // Serve closed the listener it refused
	if _, err := srv.Listen("127.0.0.1:0"); !errors.Is(err, actors.ErrServerClosed) {
		t.Errorf("Listen() after Shutdown = %v, want %v", err, actors.ErrServerClosed)
	}
	if err := actors.Handle(srv, "test.Svc.AfterShutdown", (&echoservice.Service{}).Echo); err == nil {
		t.Errorf("Handle(test.Svc.AfterShutdown) after Shutdown = nil, want an error")
	}
}

func TestServerShutdownUnstarted(t *testing.T) {
	srv, err := actors.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := shutdown(srv); err != nil {
		t.Errorf("Shutdown(never started) = %v, want nil", err)
	}
	if addr, err := srv.Listen("127.0.0.1:0"); !errors.Is(err, actors.ErrServerClosed) {
		t.Errorf("Listen() after Shutdown = %v, %v, want %v", addr, err, actors.ErrServerClosed)
	}
}

func TestServerRegister(t *testing.T) {
	echo := (&echoservice.Service{}).Echo
	newReq := func() proto.Message { return &echopb.EchoRequest{} }
	handleFn := func(context.Context, proto.Message) (proto.Message, error) {
		return &echopb.EchoResponse{Message: proto.String("")}, nil
	}

	srv, err := actors.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdown(srv) })
	if err := actors.Handle(srv, "example.EchoService.Echo", echo); err != nil {
		t.Fatalf("Handle(example.EchoService.Echo) = %v, want nil", err)
	}
	if err := srv.Register("example.EchoService.Other", actors.Method{NewRequest: newReq, Handle: handleFn}); err != nil {
		t.Fatalf("Register(example.EchoService.Other) = %v, want nil", err)
	}
	if err := srv.Register("NoPackage.Echo", actors.Method{NewRequest: newReq, Handle: handleFn}); err != nil {
		t.Fatalf("Register(NoPackage.Echo) = %v, want nil", err)
	}
	bad := []struct {
		name string
		m    actors.Method
	}{
		{"example.EchoService.Echo", actors.Method{NewRequest: newReq, Handle: handleFn}}, // duplicate
		{"NoDot", actors.Method{NewRequest: newReq, Handle: handleFn}},
		{".Echo", actors.Method{NewRequest: newReq, Handle: handleFn}},
		{"example.EchoService.", actors.Method{NewRequest: newReq, Handle: handleFn}},
		{"", actors.Method{NewRequest: newReq, Handle: handleFn}},
		{"example.EchoService.NoNewRequest", actors.Method{Handle: handleFn}},
		{"example.EchoService.NoHandle", actors.Method{NewRequest: newReq}},
	}
	for _, b := range bad {
		if err := srv.Register(b.name, b.m); err == nil {
			t.Errorf("Register(%q) = nil, want an error", b.name)
		}
	}
	if err := actors.Handle(srv, "example.EchoService.Echo", echo); err == nil {
		t.Errorf("Handle(example.EchoService.Echo) twice = nil, want an error")
	}

	addr := listen(t, srv)
	if err := actors.Handle(srv, "example.EchoService.Late", echo); err == nil {
		t.Errorf("Handle(example.EchoService.Late) after Listen = nil, want an error")
	}
	// What was registered is served, under full and short names; what failed is not.
	c := dialRaw(t, addr)
	decodeEcho(t, c.echo(1, hello("x"), nil))
	if f := c.call(methodMeta("EchoService", "Other", 2), marshal(t, hello("x")), nil); f.Meta.ErrorCode != 0 {
		t.Errorf("Call(EchoService.Other) error_code = %d (%q), want 0", f.Meta.ErrorCode, f.Meta.ErrorText)
	}
	if f := c.call(methodMeta("NoPackage", "Echo", 3), marshal(t, hello("x")), nil); f.Meta.ErrorCode != 0 {
		t.Errorf("Call(NoPackage.Echo) error_code = %d (%q), want 0", f.Meta.ErrorCode, f.Meta.ErrorText)
	}
	wantError(t, c.call(methodMeta("example.EchoService", "Late", 4), marshal(t, hello("x")), nil), wire.ENOMETHOD, "Late")
	wantError(t, c.call(methodMeta("example.EchoService", "NoHandle", 5), marshal(t, hello("x")), nil), wire.ENOMETHOD, "NoHandle")
}

func TestServerNewServerOptions(t *testing.T) {
	bad := []actors.ServerOptions{
		{MaxConcurrency: -1},
		{MaxBodySize: -1},
	}
	for _, o := range bad {
		if srv, err := actors.NewServer(&o); err == nil || srv != nil {
			t.Errorf("NewServer(%+v) = %v, %v, want nil and an error", o, srv, err)
		}
	}
	good := []*actors.ServerOptions{nil, {}, {MaxConcurrency: 1, MaxBodySize: 1}}
	for _, o := range good {
		srv, err := actors.NewServer(o)
		if err != nil || srv == nil {
			t.Errorf("NewServer(%+v) = %v, %v, want a server and nil", o, srv, err)
			continue
		}
		if err := shutdown(srv); err != nil {
			t.Errorf("Shutdown() = %v, want nil", err)
		}
	}
}
