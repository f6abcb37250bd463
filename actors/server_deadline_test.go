package actors_test

// The deadline a request's timeout_ms gives its handler's context, over real loopback
// connections, with handlers run in place and on workers.

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// placements runs a test against a server handling requests in place (the default) and one
// handling them on workers only.
var placements = []struct {
	name string
	opts actors.ServerOptions
}{
	{"in place", actors.ServerOptions{}},
	{"workers", actors.ServerOptions{NoInPlace: true}},
}

// ctxReport is what a handler saw of its context.
type ctxReport struct {
	deadline    time.Time
	hasDeadline bool
}

// waitingHandler registers test.Svc.Wait: a handler that reports its deadline and, once its ctx
// ends, ctx.Err(); it then answers with the request's message, or with ctx.Err() for a request
// whose message is "fail".
func waitingHandler(t testing.TB, srv *actors.Server) (entered chan ctxReport, ended chan error) {
	entered, ended = make(chan ctxReport, 1), make(chan error, 1)
	handle(t, srv, "test.Svc.Wait", func(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		dl, ok := ctx.Deadline()
		entered <- ctxReport{deadline: dl, hasDeadline: ok}
		<-ctx.Done()
		ended <- ctx.Err()
		if req.GetMessage() == "fail" {
			return nil, ctx.Err()
		}
		return &echopb.EchoResponse{Message: proto.String(req.GetMessage())}, nil
	})
	return entered, ended
}

// A troupe call with a 1 s timeout ends ERPCTIMEDOUT, and its handler's ctx ends with
// DeadlineExceeded at the deadline the server derived from timeout_ms. (The connection is made
// first, and the timeout is long enough for the request to reach the server on a loaded machine.)
func TestServerHandlerDeadlineFromClientTimeout(t *testing.T) {
	const timeout = time.Second
	for _, pl := range placements {
		t.Run(pl.name, func(t *testing.T) {
			srv := newServer(t, &pl.opts)
			// timeout_ms is the time the client has left, rounded down: the handler's deadline
			// comes a little before the client's, and the answer it returns then must be dropped
			// for the call to end with its own ERPCTIMEDOUT.
			entered, ended := waitingHandler(t, srv)
			addr := listen(t, srv)
			ch, err := newSystem(t).NewChannel(addr, &actors.ChannelOptions{Timeout: timeout, ConnectTimeout: testTimeout})
			if err != nil {
				t.Fatalf("NewChannel(%s) = %v", addr, err)
			}
			// Connect: a method the server does not have is answered at once.
			_ = ch.Call(context.Background(), "test.Svc.Connect", hello("x"), &echopb.EchoResponse{}, nil)

			start := time.Now()
			err = ch.Call(context.Background(), "test.Svc.Wait", hello("slow"), &echopb.EchoResponse{}, nil)
			returned := time.Now()
			if !errors.Is(err, wire.ERPCTIMEDOUT) {
				t.Errorf("Call(Wait) = %v, want ERPCTIMEDOUT", err)
			}
			rep := receive(t, entered, "the handler to start")
			if !rep.hasDeadline {
				t.Fatalf("handler ctx.Deadline() = _, false for a request with timeout_ms, want a deadline")
			}
			// The server read the request after the call began and before it ended, and the
			// timeout_ms it got is at most the call's timeout.
			if rep.deadline.Before(start) || rep.deadline.After(returned.Add(timeout)) {
				t.Errorf("handler ctx.Deadline() = %v after the call began, want between 0 and %v",
					rep.deadline.Sub(start), returned.Add(timeout).Sub(start))
			}
			if err := receive(t, ended, "the handler's ctx to end"); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("handler ctx.Err() = %v, want %v", err, context.DeadlineExceeded)
			}
		})
	}
}

// The answer a handler returns once its deadline has passed, a response or an error, is dropped;
// the connection goes on serving.
func TestServerDropsAnswerAfterDeadline(t *testing.T) {
	for _, pl := range placements {
		t.Run(pl.name, func(t *testing.T) {
			srv := newServer(t, &pl.opts)
			entered, ended := waitingHandler(t, srv)
			handle(t, srv, "test.Svc.Echo", func(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
				return &echopb.EchoResponse{Message: proto.String(req.GetMessage())}, nil
			})
			c := dialRaw(t, listen(t, srv))
			for i, msg := range []string{"late", "fail"} {
				id := int64(10 * (i + 1))
				m := methodMeta("test.Svc", "Wait", id)
				m.TimeoutMs = 20
				c.send(m, marshal(t, hello(msg)), nil)
				receive(t, entered, "the handler to start")
				if err := receive(t, ended, "the handler's ctx to end"); !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("%s: handler ctx.Err() = %v, want %v", msg, err, context.DeadlineExceeded)
				}
				// The next answer on the connection is the next request's: the late one was
				// dropped. (The handler returned before the next request is read, or is handled
				// on a worker; either way its answer would come first.)
				f := c.call(methodMeta("test.Svc", "Echo", id+1), marshal(t, hello("next")), nil)
				if resp := decodeEcho(t, f); resp.GetMessage() != "next" {
					t.Errorf("%s: Call(Echo next) message = %q, want %q", msg, resp.GetMessage(), "next")
				}
			}
		})
	}
}

// A handler's ctx ends with Canceled when its client's connection closes, with or without a
// deadline of its own.
func TestServerHandlerCancelledOnDisconnect(t *testing.T) {
	for _, pl := range placements {
		for _, timeoutMs := range []int32{0, 600_000} {
			t.Run(pl.name, func(t *testing.T) {
				srv := newServer(t, &pl.opts)
				entered, ended := waitingHandler(t, srv)
				c := dialRaw(t, listen(t, srv))
				m := methodMeta("test.Svc", "Wait", 1)
				m.TimeoutMs = timeoutMs
				c.send(m, marshal(t, hello("x")), nil)
				if rep := receive(t, entered, "the handler to start"); rep.hasDeadline != (timeoutMs > 0) {
					t.Errorf("timeout_ms %d: handler ctx.Deadline() = _, %v, want %v", timeoutMs, rep.hasDeadline, timeoutMs > 0)
				}
				c.conn.Close()
				if err := receive(t, ended, "the handler's ctx to end"); !errors.Is(err, context.Canceled) {
					t.Errorf("timeout_ms %d: handler ctx.Err() after the client closed = %v, want %v", timeoutMs, err, context.Canceled)
				}
			})
		}
	}
}

// A Shutdown that stops waiting cancels the ctx of a handler that has a deadline too.
func TestServerShutdownCancelsHandlerWithDeadline(t *testing.T) {
	srv := newServer(t, nil) // its cleanup calls Shutdown a second time, which must succeed
	entered, ended := waitingHandler(t, srv)
	c := dialRaw(t, listen(t, srv))
	m := methodMeta("test.Svc", "Wait", 1)
	m.TimeoutMs = 600_000
	c.send(m, marshal(t, hello("x")), nil)
	receive(t, entered, "the handler to start")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown(cancelled ctx) = %v, want %v", err, context.Canceled)
	}
	if err := receive(t, ended, "the handler's ctx to end"); !errors.Is(err, context.Canceled) {
		t.Errorf("handler ctx.Err() after Shutdown gave up = %v, want %v", err, context.Canceled)
	}
}

// A request without timeout_ms gets a ctx without deadline, which does not end while the
// connection lasts.
func TestServerHandlerNoDeadlineWithoutTimeout(t *testing.T) {
	type report struct {
		hasDeadline bool
		err         error
	}
	got := make(chan report, 1)
	srv := newServer(t, nil)
	handle(t, srv, "test.Svc.Look", func(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		_, ok := ctx.Deadline()
		got <- report{ok, ctx.Err()}
		return &echopb.EchoResponse{Message: proto.String(req.GetMessage())}, nil
	})
	c := dialRaw(t, listen(t, srv))
	decodeEcho(t, c.call(methodMeta("test.Svc", "Look", 1), marshal(t, hello("x")), nil))
	if r := receive(t, got, "the handler's report"); r.hasDeadline || r.err != nil {
		t.Errorf("handler ctx without timeout_ms: Deadline() ok = %v, Err() = %v, want false and nil", r.hasDeadline, r.err)
	}
}

// Contexts derived from a handler's end with it, and context.Cause and Err agree once its
// deadline passed, whichever is asked first.
func TestServerHandlerDerivedContexts(t *testing.T) {
	type report struct {
		derived, cause, err, again error
	}
	got := make(chan report, 1)
	srv := newServer(t, nil)
	handle(t, srv, "test.Svc.Derive", func(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		var r report
		if req.GetMessage() == "derive" {
			child, cancel := context.WithCancel(ctx)
			defer cancel()
			<-child.Done()
			r.derived = child.Err()
		} else {
			dl, _ := ctx.Deadline()
			<-time.After(time.Until(dl)) // wait past the deadline without asking ctx
		}
		r.cause = context.Cause(ctx)
		r.err = ctx.Err()
		<-ctx.Done()
		r.again = ctx.Err()
		got <- r
		return &echopb.EchoResponse{Message: proto.String(req.GetMessage())}, nil
	})
	c := dialRaw(t, listen(t, srv))
	for i, msg := range []string{"derive", "unasked"} {
		m := methodMeta("test.Svc", "Derive", int64(i+1))
		m.TimeoutMs = 20
		c.send(m, marshal(t, hello(msg)), nil) // its answer comes after the deadline: dropped
		r := receive(t, got, "the handler's report")
		want := report{cause: context.DeadlineExceeded, err: context.DeadlineExceeded, again: context.DeadlineExceeded}
		if msg == "derive" {
			want.derived = context.DeadlineExceeded
		}
		if r != want {
			t.Errorf("%s: handler saw %+v, want %+v", msg, r, want)
		}
	}
}
