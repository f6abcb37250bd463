package actors_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// A request alone in its read runs on the connection's reading goroutine; when its handler
// blocks, reading moves on, so the next request on the same connection is answered while the
// first handler still runs. With NoInPlace every request runs on a worker: the same holds.
func TestServerSlowHandlerDoesNotHoldItsConnection(t *testing.T) {
	for _, noInPlace := range []bool{false, true} {
		srv := newServer(t, &actors.ServerOptions{NoInPlace: noInPlace})
		release := make(chan struct{})
		unblock := sync.OnceFunc(func() { close(release) })
		t.Cleanup(unblock) // before the server's Shutdown, should the test fail
		entered := make(chan struct{}, 1)
		handle(t, srv, "test.Svc.Block", func(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
			entered <- struct{}{}
			<-release
			return &echopb.EchoResponse{Message: req.Message}, nil
		})
		handle(t, srv, "test.Svc.Fast", func(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
			return &echopb.EchoResponse{Message: req.Message}, nil
		})
		c := dialRaw(t, listen(t, srv))
		c.send(methodMeta("test.Svc", "Block", 1), marshal(t, hello("slow")), nil)
		receive(t, entered, "the blocking handler to start")
		for id := int64(2); id < 5; id++ {
			if f := c.call(methodMeta("test.Svc", "Fast", id), marshal(t, hello("fast")), nil); f.Meta.ErrorCode != 0 {
				t.Fatalf("NoInPlace=%v: Fast call %d failed: %s", noInPlace, id, f.Meta.ErrorText)
			}
		}
		unblock()
		if f := c.read(); f.Meta.CorrelationID != 1 || f.Meta.ErrorCode != 0 {
			t.Errorf("NoInPlace=%v: the blocked call answered cid %d code %d, want cid 1 success", noInPlace, f.Meta.CorrelationID, f.Meta.ErrorCode)
		}
	}
}

// Shutdown whose context ends does not wait for a handler that ignores its context, even when
// that handler runs on the connection's reading goroutine; the handler returns later, and nothing
// of the server is left once it has.
func TestServerShutdownLeavesAHandlerThatIgnoresItsContext(t *testing.T) {
	srv := newServer(t, nil)
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	returned := make(chan struct{})
	handle(t, srv, "test.Svc.Stuck", func(context.Context, *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		defer close(returned)
		entered <- struct{}{}
		<-release
		return &echopb.EchoResponse{}, nil
	})
	c := dialRaw(t, listen(t, srv))
	c.send(methodMeta("test.Svc", "Stuck", 1), marshal(t, hello("x")), nil)
	receive(t, entered, "the handler to start")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(ctx) }()
	if err := receive(t, done, "Shutdown to give up"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want DeadlineExceeded", err)
	}
	close(release)
	receive(t, returned, "the handler to return")
}
