package etcd_test

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/troupe-rpc/troupe/internal/testcert"
	"github.com/troupe-rpc/troupe/naming"
	"github.com/troupe-rpc/troupe/naming/etcd"
)

// startTLSEtcd starts an etcd of the test's own that serves its clients over TLS only and
// accepts only clients with a certificate its CA signed. It returns the server, the TLS
// configuration of a client it accepts, and one that trusts it but has no certificate.
func startTLSEtcd(t *testing.T) (srv *etcdServer, good, noCert *tls.Config) {
	t.Helper()
	dir := t.TempDir()
	ca, err := testcert.NewCA("etcd test CA")
	if err != nil {
		t.Fatal(err)
	}
	serverCert, err := ca.Sign(testcert.Leaf{Name: "etcd", Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	clientCert, err := ca.Sign(testcert.Leaf{Name: "troupe-client", Client: true})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, caFile, err := ca.WriteFiles(dir, "server", serverCert)
	if err != nil {
		t.Fatal(err)
	}
	good = &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{clientCert}}
	sec := &etcdTLS{client: good, flags: []string{
		"--cert-file", certFile, "--key-file", keyFile, "--trusted-ca-file", caFile, "--client-cert-auth"}}
	srv, err = newEtcdServer(dir, sec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.stop)
	return srv, good, &tls.Config{RootCAs: ca.Pool()}
}

// registerWith is Register with opts, bounded by limit.
func registerWith(srv *etcdServer, prefix string, node naming.ServerNode, opts *etcd.Options, limit time.Duration) (*etcd.Registration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	return etcd.Register(ctx, []string{srv.Endpoint}, prefix, node, 10*time.Second, opts)
}

// Register and the etcd:// scheme reach an etcd that serves TLS and asks for client
// certificates; without TLS, or without a client certificate, Register fails.
func TestEtcdOverTLS(t *testing.T) {
	srv, good, noCert := startTLSEtcd(t)
	url, prefix := etcdURL(t, srv)
	opts := &etcd.Options{TLS: good}
	w := watch(t, mustNew(t, url, opts, nil))
	w.next(t)
	reg, err := registerWith(srv, prefix, naming.ServerNode{Addr: "127.0.0.1:8100"}, opts, waitLimit)
	if err != nil {
		t.Fatalf("Register over TLS = %v, want no error", err)
	}
	t.Cleanup(func() { reg.Close() })
	w.waitFor(t, nodes("127.0.0.1:8100"))
	// The etcd client retries a refused handshake until the deadline: a short one will do.
	for name, o := range map[string]*etcd.Options{"plain TCP": nil, "no client certificate": {TLS: noCert}} {
		if reg, err := registerWith(srv, prefix, naming.ServerNode{Addr: "127.0.0.1:8101"}, o, time.Second); err == nil {
			reg.Close()
			t.Errorf("Register with %s to a TLS etcd = nil error, want an error", name)
		}
	}
}

// With authentication enabled in etcd, Register and the etcd:// scheme authenticate with the
// Options' user and password; a wrong password or none fails with etcd's reason.
func TestEtcdWithAuthentication(t *testing.T) {
	srv := startEtcd(t)
	cli := etcdClient(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if _, err := cli.UserAdd(ctx, "root", "root-secret"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.UserGrantRole(ctx, "root", "root"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.AuthEnable(ctx); err != nil {
		t.Fatal(err)
	}
	url, prefix := etcdURL(t, srv)
	opts := &etcd.Options{Username: "root", Password: "root-secret"}
	w := watch(t, mustNew(t, url, opts, nil))
	w.next(t)
	reg, err := registerWith(srv, prefix, naming.ServerNode{Addr: "127.0.0.1:8200", Tag: "a"}, opts, waitLimit)
	if err != nil {
		t.Fatalf("Register with the right password = %v, want no error", err)
	}
	t.Cleanup(func() { reg.Close() })
	w.waitFor(t, nodes("127.0.0.1:8200 a"))
	for _, tt := range []struct {
		name string
		opts *etcd.Options
		want string
	}{
		{"a wrong password", &etcd.Options{Username: "root", Password: "wrong"}, "authentication failed"},
		{"no user", nil, "user name"},
	} {
		reg, err := registerWith(srv, prefix, naming.ServerNode{Addr: "127.0.0.1:8201"}, tt.opts, waitLimit)
		if err == nil {
			reg.Close()
			t.Errorf("Register with %s = nil error, want an error", tt.name)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Register with %s = %v, want an error saying %q", tt.name, err, tt.want)
		}
	}
}

// Options are checked before anything is dialled.
func TestEtcdOptionsErrors(t *testing.T) {
	bad := &etcd.Options{Password: "secret"}
	ctx := context.Background()
	if reg, err := etcd.Register(ctx, []string{"127.0.0.1:2379"}, "/p", naming.ServerNode{Addr: "127.0.0.1:1"}, time.Second, bad); err == nil || !strings.Contains(err.Error(), "Password is set without a Username") {
		if reg != nil {
			reg.Close()
		}
		t.Errorf("Register(Password without Username) = %v, want an error naming it", err)
	}
	_, err := naming.New("etcd://127.0.0.1:2379/p", &naming.Options{Schemes: map[string]naming.Builder{"etcd": etcd.Scheme(bad)}})
	if err == nil || !strings.Contains(err.Error(), "Password is set without a Username") {
		t.Errorf("New(etcd:// with Password without Username) = %v, want an error naming it", err)
	}
}
