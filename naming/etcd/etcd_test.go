package etcd_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/troupe-rpc/troupe/naming"
	"github.com/troupe-rpc/troupe/naming/etcd"
)

// etcdURL returns the etcd:// URL of a prefix of the test's own on srv.
func etcdURL(t *testing.T, srv *etcdServer) (url, prefix string) {
	prefix = "/naming-test/" + strings.ReplaceAll(t.Name(), "/", "_")
	return "etcd://" + srv.Endpoint + prefix, prefix
}

// register registers node under prefix, closing the registration at cleanup.
func register(t *testing.T, srv *etcdServer, prefix string, node naming.ServerNode, ttl time.Duration) *etcd.Registration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	reg, err := etcd.Register(ctx, []string{srv.Endpoint}, prefix, node, ttl, nil)
	if err != nil {
		t.Fatalf("Register(%v) = %v, want no error", node, err)
	}
	t.Cleanup(func() { reg.Close() })
	return reg
}

// etcdClient returns a client of srv, closed at cleanup.
func etcdClient(t *testing.T, srv *etcdServer) *clientv3.Client {
	t.Helper()
	cli, err := srv.client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func TestEtcdRegisteredServersAppear(t *testing.T) {
	srv := sharedEtcd(t)
	url, prefix := etcdURL(t, srv)
	w := watch(t, mustNew(t, url, nil, nil))
	if got := w.next(t); len(got) != 0 {
		t.Fatalf("first list of %s = %v, want []", url, got)
	}
	start := time.Now()
	a := register(t, srv, prefix, naming.ServerNode{Addr: "127.0.0.1:8000", Tag: "50"}, 10*time.Second)
	w.waitFor(t, nodes("127.0.0.1:8000 50"))
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("registration seen after %v, want < 2s (pushed by the watch)", d)
	}
	if want := prefix + "/127.0.0.1:8000 50"; a.Key() != want {
		t.Errorf("Key() = %q, want %q", a.Key(), want)
	}
	register(t, srv, prefix+"/", naming.ServerNode{Addr: "[::1]:8001", Tag: "blue green"}, 10*time.Second)
	w.waitFor(t, nodes("127.0.0.1:8000 50", "[::1]:8001 blue green"))
	if err := a.Close(); err != nil {
		t.Errorf("Close() = %v, want nil", err)
	}
	w.waitFor(t, nodes("[::1]:8001 blue green"))
	select {
	case <-a.Done():
	default:
		t.Errorf("Done() not closed after Close")
	}
}

func TestEtcdLeaseExpiry(t *testing.T) {
	srv := sharedEtcd(t)
	url, prefix := etcdURL(t, srv)
	w := watch(t, mustNew(t, url, nil, nil))
	w.next(t)
	// A registration whose process died: a lease nobody keeps alive.
	cli := etcdClient(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	lease, err := cli.Grant(ctx, 2)
	if err != nil {
		t.Fatalf("Grant(2) = %v, want no error", err)
	}
	if _, err := cli.Put(ctx, prefix+"/127.0.0.1:9000", "127.0.0.1:9000", clientv3.WithLease(lease.ID)); err != nil {
		t.Fatalf("Put() = %v, want no error", err)
	}
	w.waitFor(t, nodes("127.0.0.1:9000"))
	w.waitWithin(t, nodes(), 2*time.Second+waitLimit)
}

func TestEtcdValueSyntax(t *testing.T) {
	srv := sharedEtcd(t)
	url, prefix := etcdURL(t, srv)
	cli := etcdClient(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	for key, value := range map[string]string{
		"a": "127.0.0.1:1 tag one  # comment", "b": "10.39.2.300:8000", "c": "127.0.0.1:1 tag one", "d": " 127.0.0.1:2",
	} {
		if _, err := cli.Put(ctx, prefix+"/"+key, value); err != nil {
			t.Fatalf("Put(%s) = %v, want no error", key, err)
		}
	}
	log, buf := newLog()
	w := watch(t, mustNew(t, url, nil, &naming.Options{Logger: log}))
	if got, want := w.next(t), nodes("127.0.0.1:1 tag one", "127.0.0.1:2"); !slices.Equal(got, want) {
		t.Errorf("list of %s = %v, want %v", url, got, want)
	}
	buf.waitFor(t, prefix+"/b:1")
}

func TestEtcdUnreachable(t *testing.T) {
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	log, buf := newLog()
	url := fmt.Sprintf("etcd://127.0.0.1:%d/svc", port)
	w := watch(t, mustNew(t, url, &etcd.Options{Logger: log, DialTimeout: 200 * time.Millisecond}, nil))
	if got := w.next(t); len(got) != 0 {
		t.Errorf("first list of unreachable %s = %v, want []", url, got)
	}
	buf.waitFor(t, "etcd unreachable")
	w.none(t, 500*time.Millisecond)
}

func TestEtcdOutage(t *testing.T) {
	srv := startEtcd(t)
	url, prefix := etcdURL(t, srv)
	log, buf := newLog()
	w := watch(t, mustNew(t, url, &etcd.Options{Logger: log, DialTimeout: 500 * time.Millisecond}, nil))
	w.next(t)
	register(t, srv, prefix, naming.ServerNode{Addr: "127.0.0.1:7001"}, 30*time.Second)
	w.waitFor(t, nodes("127.0.0.1:7001"))

	srv.stop()
	w.none(t, time.Second) // the last list is kept: no report, in particular no empty list
	if err := srv.start(); err != nil {
		t.Fatal(err)
	}
	register(t, srv, prefix, naming.ServerNode{Addr: "127.0.0.1:7002"}, 30*time.Second)
	w.waitFor(t, nodes("127.0.0.1:7001", "127.0.0.1:7002"))
	t.Logf("logged during the outage:\n%s", buf)
}

func TestNewEtcdErrors(t *testing.T) {
	for _, url := range []string{"etcd://127.0.0.1:2379", "etcd://127.0.0.1:2379/", "etcd://127.0.0.1/svc",
		"etcd:///svc", "etcd://127.0.0.1:2379,bad:host:1/svc"} {
		opts := &naming.Options{Schemes: map[string]naming.Builder{"etcd": etcd.Scheme(nil)}}
		if _, err := naming.New(url, opts); err == nil {
			t.Errorf("New(%q) = nil error, want an error", url)
		}
	}
}

func TestSchemeBadDialTimeout(t *testing.T) {
	opts := &naming.Options{Schemes: map[string]naming.Builder{"etcd": etcd.Scheme(&etcd.Options{DialTimeout: -time.Second})}}
	_, err := naming.New("etcd://127.0.0.1:2379/svc", opts)
	if err == nil || !strings.Contains(err.Error(), "DialTimeout = -1s") {
		t.Errorf("New(etcd://…, DialTimeout: -1s) = %v, want an error naming DialTimeout and -1s", err)
	}
}

func TestSchemeOwnLogger(t *testing.T) {
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	own, ownBuf := newLog()
	channels, channelsBuf := newLog()
	url := fmt.Sprintf("etcd://127.0.0.1:%d/svc", port)
	w := watch(t, mustNew(t, url, &etcd.Options{Logger: own, DialTimeout: 100 * time.Millisecond},
		&naming.Options{Logger: channels}))
	w.next(t)
	ownBuf.waitFor(t, "etcd unreachable")
	if s := channelsBuf.String(); s != "" {
		t.Errorf("naming.Options.Logger got %q, want nothing (etcd.Options.Logger is set)", s)
	}
}

func TestRegisterErrors(t *testing.T) {
	ctx := context.Background()
	good := naming.ServerNode{Addr: "127.0.0.1:1"}
	for _, tt := range []struct {
		name      string
		endpoints []string
		node      naming.ServerNode
		ttl       time.Duration
	}{
		{"bad address", []string{"127.0.0.1:2379"}, naming.ServerNode{Addr: "10.39.2.300:8000"}, time.Second},
		{"zero ttl", []string{"127.0.0.1:2379"}, good, 0},
		{"no endpoint", nil, good, time.Second},
		{"bad endpoint", []string{"127.0.0.1"}, good, time.Second},
	} {
		if reg, err := etcd.Register(ctx, tt.endpoints, "/p", tt.node, tt.ttl, nil); err == nil {
			reg.Close()
			t.Errorf("Register(%s) = nil error, want an error", tt.name)
		}
	}
}

func TestRegisterUnreachable(t *testing.T) {
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	ep := net.JoinHostPort("127.0.0.1", fmt.Sprint(port))
	if reg, err := etcd.Register(ctx, []string{ep}, "/p", naming.ServerNode{Addr: "127.0.0.1:1"}, time.Second, nil); err == nil {
		reg.Close()
		t.Errorf("Register(unreachable %s) = nil error, want an error", ep)
	}
}

func TestEtcdComesUp(t *testing.T) {
	srv := startEtcd(t)
	url, prefix := etcdURL(t, srv)
	cli := etcdClient(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if _, err := cli.Put(ctx, prefix+"/127.0.0.1:7003", "127.0.0.1:7003"); err != nil {
		t.Fatalf("Put() = %v, want no error", err)
	}
	srv.stop()
	log, buf := newLog()
	w := watch(t, mustNew(t, url, &etcd.Options{Logger: log, DialTimeout: 200 * time.Millisecond}, nil))
	if got := w.next(t); len(got) != 0 {
		t.Errorf("first list with etcd down = %v, want []", got)
	}
	buf.waitFor(t, "etcd unreachable")
	if err := srv.start(); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, nodes("127.0.0.1:7003"))
}
