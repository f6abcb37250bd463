package main

import (
	"context"
	"crypto/tls"
	"net"
	"path/filepath"
	"strings"
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
	write := func(name string, c tls.Certificate) (certFile, keyFile, caFile string) {
		certFile, keyFile, caFile, err := ca.WriteFiles(dir, name, c)
		if err != nil {
			t.Fatal(err)
		}
		return certFile, keyFile, caFile
	}
	serverCert, err := ca.Sign(testcert.Leaf{Name: "server", Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	clientCert, err := ca.Sign(testcert.Leaf{Name: "client", Client: true})
	if err != nil {
		t.Fatal(err)
	}
	scf, skf, caFile := write("server", serverCert)
	ccf, ckf, _ := write("client", clientCert)
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

// The -etcd_* flags become the etcd scheme's Options; a half-given certificate or a user
// without a name is an error naming the flag.
func TestEtcdOptionsFromFlags(t *testing.T) {
	ca, err := testcert.NewCA("etcd flags CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Sign(testcert.Leaf{Name: "client", Client: true})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, caFile, err := ca.WriteFiles(t.TempDir(), "client", cert)
	if err != nil {
		t.Fatal(err)
	}
	o, err := etcdOptions(caFile, certFile, keyFile, "root:s3:cret")
	if err != nil {
		t.Fatalf("etcdOptions(all flags) = %v", err)
	}
	if o.TLS == nil || o.TLS.RootCAs == nil || len(o.TLS.Certificates) != 1 || o.Username != "root" || o.Password != "s3:cret" {
		t.Errorf("etcdOptions(all flags) = %+v, want TLS with the CA and the certificate, user root, password s3:cret", o)
	}
	if o, err := etcdOptions("", "", "", "reader"); err != nil || o.TLS != nil || o.Username != "reader" || o.Password != "" {
		t.Errorf("etcdOptions(user only) = %+v, %v; want plain TCP and user reader without a password", o, err)
	}
	for _, tt := range []struct {
		name                      string
		caFile, certFile, keyFile string
		user, want                string
	}{
		{"a certificate without its key", "", certFile, "", "", "-etcd_tls_*"},
		{"a password without a name", "", "", "", ":secret", "-etcd_user"},
		{"a missing CA file", filepath.Join(t.TempDir(), "none.pem"), "", "", "", "-etcd_tls_*"},
	} {
		if _, err := etcdOptions(tt.caFile, tt.certFile, tt.keyFile, tt.user); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("etcdOptions(%s) = %v, want an error naming %s", tt.name, err, tt.want)
		}
	}
}
