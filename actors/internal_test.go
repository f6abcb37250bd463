package actors

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// registrySize counts every process in a protoactor registry.
func registrySize(as *actor.ActorSystem) int {
	n := 0
	for _, shard := range as.ProcessRegistry.LocalPIDs.LocalPIDs {
		n += shard.Count()
	}
	return n
}

const echoMethod = "example.EchoService.Echo"

// startEchoServer serves an echo that answers once release is closed.
func startEchoServer(t *testing.T, release <-chan struct{}) string {
	t.Helper()
	srv, err := NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	err = Handle(srv, echoMethod, func(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return &echopb.EchoResponse{Message: req.Message}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return addr.String()
}

// TestRegistryBackToBaselineAndNoDeadLetters runs calls that succeed, time out with their answer
// arriving late, and get cancelled, on a protoactor system the test owns; afterwards the registry
// holds exactly what it held before troupe started, and no message became a dead letter.
func TestRegistryBackToBaselineAndNoDeadLetters(t *testing.T) {
	as := actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }),
		actor.WithDeadLetterThrottleInterval(time.Millisecond),
	)
	var deadLetters atomic.Int32
	sub := as.EventStream.Subscribe(func(evt any) {
		if _, ok := evt.(*actor.DeadLetterEvent); ok {
			deadLetters.Add(1)
		}
	})
	baseline := registrySize(as)
	release := make(chan struct{})
	addr := startEchoServer(t, release)
	sys, err := NewSystem(&SystemOptions{ActorSystem: as})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := sys.NewChannel(addr, &ChannelOptions{Timeout: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	req := &echopb.EchoRequest{Message: proto.String("late")}
	var calls []*Call
	for range 50 {
		calls = append(calls, ch.Go(t.Context(), echoMethod, req, &echopb.EchoResponse{}, nil, nil))
	}
	Join(calls...)
	for _, c := range calls {
		if wire.ErrnoOf(c.Err()) != wire.ERPCTIMEDOUT {
			t.Fatalf("call = %v, want ERPCTIMEDOUT", c.Err())
		}
	}
	// The server answers now, after every call timed out: the late answers arrive and are
	// dropped.
	close(release)
	sk := ch.sock
	waitUntil(t, "the late answers to arrive", func() bool { return sk.pending.len() == 0 })
	var cntl Controller
	cntl.SetTimeout(time.Second)
	if err := ch.Call(t.Context(), echoMethod, req, &echopb.EchoResponse{}, &cntl); err != nil {
		t.Fatalf("Call after late answers = %v", err)
	}
	// With no call in flight only the channel and the socket remain (a call's actor leaves right
	// after the call finished).
	waitUntil(t, "only the channel and the socket to remain registered", func() bool { return sys.Processes() == 2 })
	sys.Shutdown()
	if got := registrySize(as); got != baseline {
		t.Errorf("registry holds %d processes after Shutdown, want the baseline %d", got, baseline)
	}
	as.EventStream.Unsubscribe(sub)
	if n := deadLetters.Load(); n != 0 {
		t.Errorf("%d dead letters, want none", n)
	}
	as.Shutdown()
}
