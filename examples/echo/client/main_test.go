package main

import (
	"context"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func startServer(t *testing.T) string {
	t.Helper()
	srv, err := actors.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := (&echoservice.Service{EchoAttachment: true}).Register(srv); err != nil {
		t.Fatal(err)
	}
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return addr.String()
}

func TestClientCallsTheServer(t *testing.T) {
	c := config{server: startServer(t), timeout: time.Second, maxRetry: 1, attachment: "foo",
		interval: time.Millisecond, count: 3, message: "hello"}
	if err := run(c); err != nil {
		t.Fatalf("run() = %v", err)
	}
}

func TestClientReportsFailure(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := config{server: addr, timeout: 100 * time.Millisecond, interval: time.Millisecond, count: 2, message: "x"}
	if err := run(c); err == nil {
		t.Fatal("run() against no server = nil, want an error")
	}
	c.server = "127.0.0.1:99999"
	if err := run(c); err == nil {
		t.Fatal("run() with a bad address = nil, want an error")
	}
}

func TestClientOverACluster(t *testing.T) {
	server := "list://" + startServer(t) + "," + startServer(t)
	c := config{server: server, loadBalancer: "rr", timeout: time.Second, maxRetry: 1,
		interval: time.Millisecond, count: 4, message: "hello", backup: 50 * time.Millisecond}
	if err := run(c); err != nil {
		t.Fatalf("run() = %v", err)
	}
	c.loadBalancer = "nonesuch"
	if err := run(c); err == nil {
		t.Fatal("run() with an unknown load balancer = nil, want an error")
	}
}
