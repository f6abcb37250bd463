// Package tlsfiles turns the -tls_cert, -tls_key and -tls_ca flags of the example programs into
// TLS configs, in the style of brpc's examples: PEM files, a server certificate that is read
// again when its files change (no restart to renew it), a CA that verifies the other side.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// Server returns the config of a server with the certificate and key in certFile and keyFile;
// with caFile, clients must show a certificate that CA signed (mutual TLS). All three empty: nil,
// a plain server. The certificate is read again, at the next handshake, once its file changed.
func Server(certFile, keyFile, caFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" && caFile == "" {
		return nil, nil
	}
	if certFile == "" || keyFile == "" {
		return nil, errors.New("-tls_cert and -tls_key go together")
	}
	r := &reloader{certFile: certFile, keyFile: keyFile}
	if _, err := r.get(nil); err != nil {
		return nil, err
	}
	c := &tls.Config{GetCertificate: r.get}
	if caFile != "" {
		pool, err := readPool(caFile)
		if err != nil {
			return nil, err
		}
		c.ClientAuth, c.ClientCAs = tls.RequireAndVerifyClientCert, pool
	}
	return c, nil
}

// Client returns the config of a client that verifies servers with the CA in caFile (the
// system's roots when it is empty) and, with certFile and keyFile, shows that certificate
// (mutual TLS). serverName overrides the name verified, which is otherwise the server's host.
// All empty: nil, a plain client.
func Client(caFile, certFile, keyFile, serverName string) (*tls.Config, error) {
	if caFile == "" && certFile == "" && keyFile == "" && serverName == "" {
		return nil, nil
	}
	c := &tls.Config{ServerName: serverName}
	if caFile != "" {
		pool, err := readPool(caFile)
		if err != nil {
			return nil, err
		}
		c.RootCAs = pool
	}
	if certFile != "" || keyFile != "" {
		if certFile == "" || keyFile == "" {
			return nil, errors.New("-tls_cert and -tls_key go together")
		}
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("-tls_cert/-tls_key: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

func readPool(caFile string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("-tls_ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("-tls_ca: no PEM certificate in %s", caFile)
	}
	return pool, nil
}

// reloader serves the certificate of its files, read again when either file's modification time
// changes.
type reloader struct {
	certFile, keyFile string

	mu      sync.Mutex
	cert    *tls.Certificate
	modTime [2]time.Time
}

func (r *reloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	var mt [2]time.Time
	for i, f := range []string{r.certFile, r.keyFile} {
		st, err := os.Stat(f)
		if err != nil {
			return nil, err
		}
		mt[i] = st.ModTime()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cert != nil && mt == r.modTime {
		return r.cert, nil
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		if r.cert != nil {
			return r.cert, nil // a half-written renewal: keep serving the last good one
		}
		return nil, fmt.Errorf("-tls_cert/-tls_key: %w", err)
	}
	r.cert, r.modTime = &cert, mt
	return r.cert, nil
}
