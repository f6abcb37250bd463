package main

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/examples/internal/tlsfiles"
	"github.com/troupe-rpc/troupe/internal/testcert"
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

// TestClientOverTLS: with the TLS flags' config the client calls a server that requires TLS with
// client certificates; without it, every call fails and run says so.
func TestClientOverTLS(t *testing.T) {
	ca, err := testcert.NewCA("example CA")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, c tls.Certificate) (string, string) {
		certPEM, keyPEM, err := testcert.PEM(c)
		if err != nil {
			t.Fatal(err)
		}
		cf, kf := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
		if err := os.WriteFile(cf, certPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(kf, keyPEM, 0o600); err != nil {
			t.Fatal(err)
		}
		return cf, kf
	}
	caFile := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(caFile, ca.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	serverCert, err := ca.Sign(testcert.Leaf{Name: "server", Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	clientCert, err := ca.Sign(testcert.Leaf{Name: "client", Client: true})
	if err != nil {
		t.Fatal(err)
	}
	scf, skf := write("server", serverCert)
	ccf, ckf := write("client", clientCert)
	serverTLS, err := tlsfiles.Server(scf, skf, caFile)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := actors.NewServer(&actors.ServerOptions{TLS: serverTLS, RequireTLS: true})
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

	clientTLS, err := tlsfiles.Client(caFile, ccf, ckf, "")
	if err != nil {
		t.Fatal(err)
	}
	c := config{server: addr.String(), timeout: 10 * time.Second, maxRetry: 1, interval: time.Millisecond, count: 2,
		message: "secure", tls: clientTLS}
	if err := run(c); err != nil {
		t.Fatalf("run() over mutual TLS = %v", err)
	}
	c.tls = nil
	if err := run(c); err == nil {
		t.Fatal("run() without TLS against a server that requires it = nil, want an error")
	}
}
