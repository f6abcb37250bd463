package actors_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
)

const testTimeout = 10 * time.Second

// startEcho starts a troupe server with the echo service on a free loopback port; it is shut down
// when the test ends.
func startEcho(t testing.TB, svc *echoservice.Service) (*actors.Server, string) {
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
	return srv, addr.String()
}

// newSystem returns a System that is shut down, and checked to have left nothing registered, when
// the test ends.
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

func testingGOMAXPROCS() int { return runtime.GOMAXPROCS(0) }
