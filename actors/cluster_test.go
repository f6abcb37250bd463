package actors_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/actorstest"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/naming"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// echoServers starts n echo servers, server i reporting index i.
func echoServers(t *testing.T, n int) ([]*echoservice.Service, []string) {
	t.Helper()
	return actorstest.StartEchoServers(t, n)
}

// writeFile replaces path's content atomically, as an operator's tool would.
func writeFile(t *testing.T, path string, lines ...string) {
	t.Helper()
	actorstest.ReplaceFile(t, path, lines...)
}

// eventually polls cond until it holds or the test timeout passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	actorstest.Eventually(t, what, cond)
}

// load makes calls from a few goroutines until stop is closed and records every failure.
type load struct {
	wg       sync.WaitGroup
	stop     chan struct{}
	ok, fail atomic.Int64
	mu       sync.Mutex
	errs     []error
}

func startLoad(t *testing.T, ch actors.Channel, workers int) *load {
	l := &load{stop: make(chan struct{})}
	for range workers {
		l.wg.Go(func() {
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				err := ch.Call(context.Background(), echoservice.Method, echoReq("load"), &echopb.EchoResponse{}, nil)
				if err != nil {
					l.fail.Add(1)
					l.mu.Lock()
					l.errs = append(l.errs, err)
					l.mu.Unlock()
				} else {
					l.ok.Add(1)
				}
			}
		})
	}
	t.Cleanup(l.finish)
	return l
}

func (l *load) finish() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

func TestListChannelBalances(t *testing.T) {
	svcs, addrs := echoServers(t, 3)
	sys := newSystem(t)
	// Generous timeouts: a loaded machine must not turn this test about balance into one about speed.
	ch, err := sys.NewChannel("list://"+strings.Join(addrs, ","), &actors.ChannelOptions{LoadBalancer: "rr",
		ConnectTimeout: 5 * time.Second, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for range 300 {
		var cntl actors.Controller
		if err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl); err != nil {
			t.Fatalf("Call() = %v", err)
		}
	}
	for i, s := range svcs {
		if n := s.Requests(); n < 50 {
			t.Errorf("server %d got %d of 300 calls under rr, want about 100", i, n)
		}
	}
	tree := sys.Inspect().String()
	if !strings.Contains(tree, "servers=3") || !strings.Contains(tree, "down=0") {
		t.Errorf("Inspect does not show the cluster:\n%s", tree)
	}
}

func TestFileChannelFollowsEditsUnderLoad(t *testing.T) {
	svcs, addrs := echoServers(t, 3)
	path := filepath.Join(t.TempDir(), "servers.txt")
	writeFile(t, path, "# two servers to start with", addrs[0], addrs[1])
	sys := newSystem(t)
	// A call may fail only by the edits, not by the 500ms default deadline on a loaded machine.
	ch, err := sys.NewChannel("file://"+path, &actors.ChannelOptions{LoadBalancer: "rr", Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	l := startLoad(t, ch, 4)
	eventually(t, "servers 0 and 1 to take calls", func() bool { return svcs[0].Requests() > 20 && svcs[1].Requests() > 20 })
	if svcs[2].Requests() != 0 {
		t.Fatalf("unlisted server 2 got %d calls", svcs[2].Requests())
	}
	writeFile(t, path, addrs[0], addrs[1], addrs[2])
	eventually(t, "the added server to take calls", func() bool { return svcs[2].Requests() > 20 })
	writeFile(t, path, addrs[1], "garbage line that is not an address", addrs[2])
	// The socket of a server that left retires once the calls it carries have their answers:
	// from then on server 0 has counted every request it will ever get from this channel.
	eventually(t, "removed server 0's socket to retire", func() bool { return socketNode(sys, addrs[0]) == nil })
	before, okBefore := svcs[0].Requests(), l.ok.Load()
	eventually(t, "200 more calls to succeed", func() bool { return l.ok.Load() >= okBefore+200 })
	if after := svcs[0].Requests(); after != before {
		t.Errorf("removed server 0 still gets calls: %d then %d", before, after)
	}
	l.finish()
	if l.fail.Load() != 0 {
		t.Fatalf("%d of %d calls failed while the list changed; first: %v", l.fail.Load(), l.ok.Load()+l.fail.Load(), l.errs[0])
	}
}

func TestKilledServerIsIsolatedThenRevived(t *testing.T) {
	svc0 := &echoservice.Service{Index: 0}
	_, addr0 := startEcho(t, svc0)
	svc1 := &echoservice.Service{Index: 1}
	srv1, addr1 := startEcho(t, svc1)
	sys := newSystem(t)
	ch, err := sys.NewChannel("list://"+addr0+","+addr1, &actors.ChannelOptions{LoadBalancer: "rr",
		HealthCheckInterval: 50 * time.Millisecond, MaxRetry: 3})
	if err != nil {
		t.Fatal(err)
	}
	l := startLoad(t, ch, 4)
	eventually(t, "both servers to take calls", func() bool { return svc0.Requests() > 10 && svc1.Requests() > 10 })
	expired, cancel := context.WithCancel(context.Background())
	cancel()
	_ = srv1.Shutdown(expired)
	down := func() bool {
		n := sys.Inspect().Find(func(n *actors.Node) bool { return n.Kind == "channel" })
		return n != nil && n.Counters["down"] == 1
	}
	eventually(t, "the killed server to be isolated", down)
	okBefore := l.ok.Load()
	eventually(t, "calls to keep succeeding on the other server", func() bool { return l.ok.Load() > okBefore+50 })

	// Restart a server on the same address: health checking brings it back.
	svc1b := &echoservice.Service{Index: 1}
	srv, err := actors.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc1b.Register(srv); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Listen(addr1); err != nil {
		t.Fatalf("restart on %s: %v", addr1, err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	eventually(t, "the restarted server to take calls again", func() bool { return svc1b.Requests() > 10 })
	l.finish()
	for _, err := range l.errs {
		if code := wire.ErrnoOf(err); !code.Temporary() {
			t.Errorf("a call failed with a non-connection error while a server died: %v", err)
		}
	}
	t.Logf("%d calls succeeded, %d failed (a call in flight on the killed server fails once it runs out of retries)", l.ok.Load(), l.fail.Load())
}

// manualScheme makes "manual://" resolve to m.
func manualScheme(m *naming.Manual) map[string]naming.Builder {
	return map[string]naming.Builder{"manual": func(string, *naming.Options) (naming.Service, error) { return m, nil }}
}

func TestCallWaitsForTheFirstServerList(t *testing.T) {
	_, addrs := echoServers(t, 1)
	m := naming.NewManual()
	sys := newSystem(t)
	ch, err := sys.NewChannel("manual://servers", &actors.ChannelOptions{LoadBalancer: "random", NamingSchemes: manualScheme(m)})
	if err != nil {
		t.Fatal(err)
	}
	call := ch.Go(t.Context(), echoservice.Method, echoReq("early"), &echopb.EchoResponse{}, nil, nil)
	eventually(t, "the call to wait for the list", func() bool {
		c := sys.Inspect().Find(func(n *actors.Node) bool { return n.Kind == "call" })
		return c != nil && strings.Contains(c.State, "waiting for the server list")
	})
	m.Update([]naming.ServerNode{{Addr: addrs[0]}})
	if err := waitDone(t, call); err != nil {
		t.Fatalf("call made before the list = %v", err)
	}
}

func TestNoUsableServer(t *testing.T) {
	m := naming.NewManual()
	sys := newSystem(t)
	ch, err := sys.NewChannel("manual://x", &actors.ChannelOptions{LoadBalancer: "rr", NamingSchemes: manualScheme(m),
		Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	err = ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil)
	if !errors.Is(err, wire.ERPCTIMEDOUT) {
		t.Errorf("Call with no list ever = %v, want ERPCTIMEDOUT", err)
	}
	m.Update(nil)
	eventually(t, "the empty list", func() bool {
		return wire.ErrnoOf(ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil)) == wire.ENODATA
	})
	dead := deadAddr(t)
	m.Update([]naming.ServerNode{{Addr: dead}})
	eventually(t, "EHOSTDOWN once the only server is isolated", func() bool {
		return wire.ErrnoOf(ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil)) == wire.EHOSTDOWN
	})
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	return actorstest.DeadAddr(t)
}

func TestClusterChannelBadInput(t *testing.T) {
	sys := newSystem(t)
	path := filepath.Join(t.TempDir(), "none.txt")
	tests := []struct {
		target, lb string
		want       string
	}{
		{"unknown://x", "rr", "list"},
		{"list://127.0.0.1:1", "nonesuch", "rr"},
		{"file://" + path, "rr", path},
		{"list://127.0.0.1:1", "rr:min_working_instances=2", "hold_seconds"},
	}
	for _, tt := range tests {
		_, err := sys.NewChannel(tt.target, &actors.ChannelOptions{LoadBalancer: tt.lb})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewChannel(%q, %q) = %v, want an error mentioning %q", tt.target, tt.lb, err, tt.want)
		}
	}
	if _, err := sys.NewChannel("list://127.0.0.1:1", &actors.ChannelOptions{LoadBalancer: "rr", HealthCheckInterval: -1}); err == nil {
		t.Error("NewChannel(HealthCheckInterval: -1) = nil error")
	}
}

func TestFilteredClusterChannel(t *testing.T) {
	svcs, addrs := echoServers(t, 2)
	sys := newSystem(t)
	ch, err := sys.NewChannel(fmt.Sprintf("list://%s enable,%s", addrs[0], addrs[1]), &actors.ChannelOptions{
		LoadBalancer: "rr",
		NamingFilter: naming.FilterFunc(func(n naming.ServerNode) bool { return n.Tag == "enable" }),
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if svcs[0].Requests() != 20 || svcs[1].Requests() != 0 {
		t.Fatalf("requests = %d, %d; want all 20 on the accepted server", svcs[0].Requests(), svcs[1].Requests())
	}
}

// TestBadWeightIsLogged: a wrr cluster whose list gives a server an invalid weight logs it once,
// as brpc logs "Invalid weight", and calls go to the servers with a weight.
func TestBadWeightIsLogged(t *testing.T) {
	_, addrs := echoServers(t, 2)
	var buf syncBuffer
	sys, err := actors.NewSystem(&actors.SystemOptions{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Shutdown()
	ch, err := sys.NewChannel("list://"+addrs[0]+" 1ab,"+addrs[1]+" 3", &actors.ChannelOptions{LoadBalancer: "wrr",
		ConnectTimeout: 5 * time.Second, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		var cntl actors.Controller
		if err := ch.Call(t.Context(), echoservice.Method, echoReq("w"), &echopb.EchoResponse{}, &cntl); err != nil {
			t.Fatalf("Call() = %v", err)
		}
		if cntl.RemoteSide() != addrs[1] {
			t.Fatalf("answered by %s, want %s, the only server with a weight", cntl.RemoteSide(), addrs[1])
		}
	}
	if out := buf.String(); strings.Count(out, "the load balancer left servers out") != 1 || !strings.Contains(out, addrs[0]) {
		t.Errorf("log = %q, want one warning naming %s", out, addrs[0])
	}
}
