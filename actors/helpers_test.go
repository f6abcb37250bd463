package actors_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/actorstest"
	"github.com/troupe-rpc/troupe/actors/echoservice"
)

const testTimeout = 10 * time.Second

// startEcho starts an echo server on a free loopback port for the test.
func startEcho(t testing.TB, svc *echoservice.Service) (*actors.Server, string) {
	t.Helper()
	return actorstest.StartEcho(t, svc)
}

// newSystem returns a System checked to leave nothing registered when the test ends.
func newSystem(t testing.TB) *actors.System {
	t.Helper()
	return actorstest.NewSystem(t)
}

func testingGOMAXPROCS() int { return runtime.GOMAXPROCS(0) }
