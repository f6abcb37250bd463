package actors_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/wire"
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

// Requests of a quick method that arrive together are handled on the reading goroutine, their
// answers held for one write. When the last handler of the batch blocks, the answers before it
// leave anyway and the connection serves on: held answers are not hostage to a slow handler.
func TestServerBatchIsAnsweredWhileOneOfItBlocks(t *testing.T) {
	srv := newServer(t, nil)
	release := make(chan struct{})
	unblock := sync.OnceFunc(func() { close(release) })
	t.Cleanup(unblock)
	handle(t, srv, "test.Svc.Gate", func(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		if req.GetMessage() == "block" {
			<-release
		}
		return &echopb.EchoResponse{Message: req.Message}, nil
	})
	c := dialRaw(t, listen(t, srv))
	for id := int64(1); id <= 20; id++ { // the method is quick
		if f := c.call(methodMeta("test.Svc", "Gate", id), marshal(t, hello("x")), nil); f.Meta.ErrorCode != 0 {
			t.Fatalf("call %d failed: %s", id, f.Meta.ErrorText)
		}
	}
	var batch []byte
	for id, msg := range []string{"a", "b", "c", "block"} {
		batch = wire.AppendFrame(batch, methodMeta("test.Svc", "Gate", int64(101+id)), marshal(t, hello(msg)), nil)
	}
	c.write(batch)
	got := map[int64]bool{}
	for range 3 {
		f := c.read()
		if f.Meta.ErrorCode != 0 || f.Meta.CorrelationID == 104 {
			t.Fatalf("while 104 blocks: answer cid %d code %d %s", f.Meta.CorrelationID, f.Meta.ErrorCode, f.Meta.ErrorText)
		}
		got[f.Meta.CorrelationID] = true
	}
	if len(got) != 3 {
		t.Fatalf("answers while 104 blocks = %v, want 101, 102 and 103 once each", got)
	}
	if f := c.call(methodMeta("test.Svc", "Gate", 105), marshal(t, hello("e")), nil); f.Meta.ErrorCode != 0 {
		t.Fatalf("a call while 104 blocks failed: %s", f.Meta.ErrorText)
	}
	unblock()
	if f := c.read(); f.Meta.CorrelationID != 104 || f.Meta.ErrorCode != 0 {
		t.Errorf("after release: answer cid %d code %d, want cid 104 success", f.Meta.CorrelationID, f.Meta.ErrorCode)
	}
}

// A large batch of requests written at once (more than one read's worth), with failures mixed
// in, is answered in full: every request once, each failure with its code.
func TestServerLargeBatchIsAnsweredInFull(t *testing.T) {
	srv := newServer(t, nil)
	handle(t, srv, "test.Svc.Echo", func(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		return &echopb.EchoResponse{Message: req.Message}, nil
	})
	c := dialRaw(t, listen(t, srv))
	const n = 5000
	var batch []byte
	for id := int64(1); id <= n; id++ {
		m := methodMeta("test.Svc", "Echo", id)
		if id%100 == 0 {
			m = methodMeta("test.Svc", "Missing", id)
		}
		batch = wire.AppendFrame(batch, m, marshal(t, hello(strconv.FormatInt(id, 10))), nil)
	}
	go c.conn.Write(batch) // the server answers while it reads; the test reads meanwhile
	seen := make(map[int64]bool, n)
	for range n {
		f := c.read()
		id := f.Meta.CorrelationID
		if seen[id] || id < 1 || id > n {
			t.Fatalf("answer for cid %d, a second time or never asked", id)
		}
		seen[id] = true
		if want := id%100 == 0; (f.Meta.ErrorCode == int32(wire.ENOMETHOD)) != want {
			t.Fatalf("cid %d: code %d %s", id, f.Meta.ErrorCode, f.Meta.ErrorText)
		}
		if id%100 != 0 {
			var resp echopb.EchoResponse
			if err := proto.Unmarshal(f.Payload, &resp); err != nil || resp.GetMessage() != strconv.FormatInt(id, 10) {
				t.Fatalf("cid %d: answer %q, %v", id, resp.GetMessage(), err)
			}
		}
	}
}
