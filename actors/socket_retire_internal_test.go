package actors

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// An attempt that reaches a socket no channel uses any more (a call that picked it from a list
// just replaced) fails at once with EFAILEDSOCKET, which the call retries: while the socket
// finishes its last call, and after it stopped.
func TestAttemptToRetiredSocketFailsAtOnce(t *testing.T) {
	release := make(chan struct{})
	addr := startEchoServer(t, release)
	sys, err := NewSystem(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Shutdown()
	ch, err := sys.NewChannel(addr, &ChannelOptions{Timeout: 10 * time.Second, MaxRetry: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	req := &echopb.EchoRequest{Message: proto.String("x")}
	last := ch.Go(context.Background(), echoMethod, req, &echopb.EchoResponse{}, nil, nil)
	sk := ch.sock
	waitUntil(t, "the last call to reach the socket", func() bool { return sk.pending.len() == 1 })
	sys.releaseSocket(sk) // as a cluster does when the server leaves its list
	waitUntil(t, "the socket to close its door", sk.retiring.Load)
	refused := func(when string) {
		t.Helper()
		var cntl Controller
		err := ch.Call(context.Background(), echoMethod, req, &echopb.EchoResponse{}, &cntl)
		var we *wire.Error
		if !errors.As(err, &we) || we.Code != wire.EFAILEDSOCKET || !strings.Contains(we.Text, "closing") {
			t.Fatalf("%s: call = %v, want EFAILEDSOCKET naming the closing connection", when, err)
		}
		if cntl.RetriedCount() != 2 {
			t.Errorf("%s: RetriedCount = %d, want 2: EFAILEDSOCKET is retried", when, cntl.RetriedCount())
		}
	}
	refused("while the last call runs")
	close(release)
	if err := last.Wait(); err != nil {
		t.Errorf("the call in flight when the socket retired: %v", err)
	}
	waitUntil(t, "the socket to stop", func() bool { return sk.state.Load() == sockClosed })
	refused("after the socket stopped")
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
