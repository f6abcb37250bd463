// Package actorstest has what troupe's tests and examples' tests share: echo servers on free
// loopback ports that stop when the test ends, a System checked to leave nothing registered,
// an address nothing listens on, waiting for a condition, and replacing a file the way an
// operator's tool does. Everything here fails the test (t.Fatal) rather than returning errors.
package actorstest

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// Timeout bounds every wait of the helpers.
const Timeout = 10 * time.Second

// EchoRequest returns an echo request carrying msg.
func EchoRequest(msg string) *echopb.EchoRequest {
	return &echopb.EchoRequest{Message: proto.String(msg)}
}

// StartEcho starts a troupe server with svc (an attachment-echoing service when nil) on a free
// loopback port and shuts it down when the test ends.
func StartEcho(t testing.TB, svc *echoservice.Service) (*actors.Server, string) {
	t.Helper()
	return StartEchoWith(t, nil, svc)
}

// StartEchoWith is StartEcho with a Server made with opts.
func StartEchoWith(t testing.TB, opts *actors.ServerOptions, svc *echoservice.Service) (*actors.Server, string) {
	t.Helper()
	srv, err := actors.NewServer(opts)
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
		ctx, cancel := context.WithTimeout(context.Background(), Timeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown() = %v", err)
		}
	})
	return srv, addr.String()
}

// StartEchoServers starts n echo servers, server i answering with server_index i.
func StartEchoServers(t testing.TB, n int) ([]*echoservice.Service, []string) {
	t.Helper()
	svcs := make([]*echoservice.Service, n)
	addrs := make([]string, n)
	for i := range n {
		svcs[i] = &echoservice.Service{Index: int32(i), EchoAttachment: true}
		_, addrs[i] = StartEcho(t, svcs[i])
	}
	return svcs, addrs
}

// NewSystem returns a System that is shut down, and checked to have left nothing registered,
// when the test ends.
func NewSystem(t testing.TB) *actors.System {
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

// DeadAddr returns a loopback address a server listened on a moment ago: connecting to it is
// refused.
func DeadAddr(t testing.TB) string {
	t.Helper()
	srv, err := actors.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_ = srv.Shutdown(context.Background())
	return addr.String()
}

// Eventually polls cond until it holds, failing the test after Timeout.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ReplaceFile writes lines to path atomically (a temporary file renamed over it), as an
// operator's tool would change a server list.
func ReplaceFile(t testing.TB, path string, lines ...string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
