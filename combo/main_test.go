package combo_test

import (
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/actorstest"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testTimeout = 10 * time.Second

func echoReq(msg string) *echopb.EchoRequest { return &echopb.EchoRequest{Message: proto.String(msg)} }

// startEcho starts an echo server on a free loopback port for the test.
func startEcho(t testing.TB, svc *echoservice.Service) string {
	t.Helper()
	_, addr := actorstest.StartEcho(t, svc)
	return addr
}

// newSystem returns a System checked to leave nothing registered when the test ends.
func newSystem(t testing.TB) *actors.System {
	t.Helper()
	return actorstest.NewSystem(t)
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
