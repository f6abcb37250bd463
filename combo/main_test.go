package combo_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testTimeout = 10 * time.Second

func echoReq(msg string) *echopb.EchoRequest { return &echopb.EchoRequest{Message: proto.String(msg)} }

// startEcho starts a troupe echo server on a free loopback port, shut down when the test ends.
func startEcho(t testing.TB, svc *echoservice.Service) string {
	t.Helper()
	srv, err := actors.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if svc == nil {
		svc = &echoservice.Service{EchoAttachment: true}
	}
	if err := svc.Register(srv); err != nil {
		t.Fatal(err)
	}
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown() = %v", err)
		}
	})
	return addr.String()
}

// newSystem returns a System shut down, and checked to have left nothing registered, when the
// test ends.
func newSystem(t testing.TB) *actors.System {
	t.Helper()
	sys, err := actors.NewSystem(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sys.Shutdown()
		if n := sys.Processes(); n != 0 {
			t.Errorf("after Shutdown, %d troupe processes remain registered", n)
		}
	})
	return sys
}

// plain returns a channel to addr.
func plain(t testing.TB, sys *actors.System, addr string, opts *actors.ChannelOptions) *actors.PlainChannel {
	t.Helper()
	ch, err := sys.NewChannel(addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// noCallsLeft fails unless only channels and sockets remain registered: every call actor of a
// finished call is gone.
func noCallsLeft(t testing.TB, sys *actors.System) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		tree := sys.Inspect()
		if tree.Find(func(n *actors.Node) bool { return n.Kind == "call" || n.Kind == "sub-call" }) == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("call actors left behind:\n%s", tree)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
