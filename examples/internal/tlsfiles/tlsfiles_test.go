package tlsfiles

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/troupe-rpc/troupe/internal/testcert"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// writeFiles writes c's certificate and key, and the CA, as PEM files in dir.
func writeFiles(t *testing.T, dir string, ca *testcert.CA, c tls.Certificate, name string) (certFile, keyFile, caFile string) {
	t.Helper()
	certFile, keyFile, caFile, err := ca.WriteFiles(dir, name, c)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, caFile
}

func TestServerAndClientConfigs(t *testing.T) {
	ca, err := testcert.NewCA("files CA")
	if err != nil {
		t.Fatal(err)
	}
	first, err := ca.Sign(testcert.Leaf{Name: "first", Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile, caFile := writeFiles(t, dir, ca, first, "server")
	srv, err := Server(certFile, keyFile, caFile)
	if err != nil {
		t.Fatal(err)
	}
	if srv.ClientAuth != tls.RequireAndVerifyClientCert || srv.ClientCAs == nil {
		t.Errorf("Server(with -tls_ca) asks ClientAuth %v, want client certificates verified", srv.ClientAuth)
	}
	got, err := srv.GetCertificate(nil)
	if err != nil || got.Leaf == nil && len(got.Certificate) == 0 {
		t.Fatalf("GetCertificate() = %v, %v", got, err)
	}
	// A renewed certificate written over the files is served from the next handshake on.
	second, err := ca.Sign(testcert.Leaf{Name: "second", Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, ca, second, "server")
	later := time.Now().Add(time.Minute)
	for _, f := range []string{certFile, keyFile} {
		if err := os.Chtimes(f, later, later); err != nil {
			t.Fatal(err)
		}
	}
	renewed, err := srv.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(renewed.Certificate[0]) != string(second.Certificate[0]) {
		t.Error("GetCertificate() after the files changed still serves the first certificate")
	}

	cli, err := Client(caFile, "", "", "localhost")
	if err != nil || cli.RootCAs == nil || cli.ServerName != "localhost" {
		t.Fatalf("Client(ca, server name) = %+v, %v", cli, err)
	}
	if c, err := Client("", "", "", ""); c != nil || err != nil {
		t.Errorf("Client() without flags = %v, %v, want nil, nil", c, err)
	}
	if c, err := Server("", "", ""); c != nil || err != nil {
		t.Errorf("Server() without flags = %v, %v, want nil, nil", c, err)
	}
}

func TestFlagErrors(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		err  func() error
		want string
	}{
		{"server cert without key", func() error { _, err := Server(junk, "", ""); return err }, "-tls_cert and -tls_key go together"},
		{"server cert that is not PEM", func() error { _, err := Server(junk, junk, ""); return err }, "-tls_cert/-tls_key"},
		{"missing CA file", func() error { _, err := Client(filepath.Join(dir, "none.pem"), "", "", ""); return err }, "-tls_ca"},
		{"CA file without a certificate", func() error { _, err := Client(junk, "", "", ""); return err }, "no PEM certificate"},
		{"client key without cert", func() error { _, err := Client("", "", junk, ""); return err }, "-tls_cert and -tls_key go together"},
	} {
		if err := tc.err(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one with %q", tc.name, err, tc.want)
		}
	}
}
