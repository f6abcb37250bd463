package etcd_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// etcdServer is a real etcd (Debian's etcd-server) on loopback, in a data dir of its own.
type etcdServer struct {
	bin, dir           string
	clientURL, peerURL string
	Endpoint           string   // "127.0.0.1:port", for clients
	sec                *etcdTLS // nil: plain
	cmd                *exec.Cmd
	exited             chan struct{}
	logFile            *os.File
}

// etcdBinary finds etcd, or says how to install it.
func etcdBinary() (string, error) {
	if p, err := exec.LookPath("etcd"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/etcd"); err == nil {
		return "/usr/bin/etcd", nil
	}
	return "", errors.New("no etcd binary on PATH or at /usr/bin/etcd: run `make tools-etcd` " +
		"(installs Debian's etcd-server); the etcd tests need a real etcd")
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// etcdTLS is how a test's etcd serves its clients over TLS: its flags (certificate files), and
// the configuration of a client that reaches it.
type etcdTLS struct {
	flags  []string
	client *tls.Config
}

// newEtcdServer starts etcd with its data in dir, serving TLS with sec unless it is nil, and
// waits until it serves.
func newEtcdServer(dir string, sec *etcdTLS) (*etcdServer, error) {
	bin, err := etcdBinary()
	if err != nil {
		return nil, err
	}
	cport, err := freePort()
	if err != nil {
		return nil, err
	}
	pport, err := freePort()
	if err != nil {
		return nil, err
	}
	scheme := "http"
	if sec != nil {
		scheme = "https"
	}
	s := &etcdServer{bin: bin, dir: dir, sec: sec,
		clientURL: fmt.Sprintf("%s://127.0.0.1:%d", scheme, cport),
		peerURL:   fmt.Sprintf("http://127.0.0.1:%d", pport),
		Endpoint:  fmt.Sprintf("127.0.0.1:%d", cport)}
	return s, s.start()
}

// start runs etcd (again, with the same ports and data) and waits until it answers.
func (s *etcdServer) start() error {
	logFile, err := os.OpenFile(filepath.Join(s.dir, "etcd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	s.logFile = logFile
	args := []string{"--name", "default", "--data-dir", filepath.Join(s.dir, "data"),
		"--listen-client-urls", s.clientURL, "--advertise-client-urls", s.clientURL,
		"--listen-peer-urls", s.peerURL, "--initial-advertise-peer-urls", s.peerURL,
		"--initial-cluster", "default=" + s.peerURL, "--initial-cluster-state", "new"}
	if s.sec != nil {
		args = append(args, s.sec.flags...)
	}
	s.cmd = exec.Command(s.bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	if err := s.cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	cmd, exited := s.cmd, make(chan struct{})
	s.exited = exited
	go func() { cmd.Wait(); close(exited) }()
	if err := s.waitReady(); err != nil {
		s.stop()
		log, _ := os.ReadFile(logFile.Name())
		return fmt.Errorf("etcd at %s: %w; its log:\n%s", s.Endpoint, err, log)
	}
	return nil
}

// waitReady waits until etcd answers a Get, or exits, or 20s pass.
func (s *etcdServer) waitReady() error {
	cli, err := s.client()
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	exited := s.exited
	go func() {
		select {
		case <-exited:
			cancel()
		case <-ctx.Done():
		}
	}()
	_, err = cli.Get(ctx, "ready")
	if err != nil && isClosed(exited) {
		return errors.New("etcd exited")
	}
	return err
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// client returns a client of the server that logs nowhere.
func (s *etcdServer) client() (*clientv3.Client, error) {
	cfg := clientv3.Config{Endpoints: []string{s.Endpoint}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()}
	if s.sec != nil {
		cfg.TLS = s.sec.client
	}
	return clientv3.New(cfg)
}

// stop sends SIGTERM and waits for etcd to exit (SIGKILL after 10s).
func (s *etcdServer) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
	s.logFile.Close()
}

// startEtcd starts an etcd of the test's own, stopped at cleanup.
func startEtcd(t *testing.T) *etcdServer {
	t.Helper()
	s, err := newEtcdServer(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	return s
}

// The etcd that tests share, started by the first that needs it and stopped by TestMain.
var shared struct {
	once sync.Once
	srv  *etcdServer
	dir  string
	err  error
}

// sharedEtcd returns the shared etcd, starting it on first use.
func sharedEtcd(t *testing.T) *etcdServer {
	t.Helper()
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "naming-etcd-")
		if shared.err == nil {
			shared.srv, shared.err = newEtcdServer(shared.dir, nil)
		}
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.srv
}

// stopSharedEtcd stops the shared etcd if one was started, and removes its data.
func stopSharedEtcd() {
	if shared.srv != nil {
		shared.srv.stop()
	}
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
}
