package actors_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/actorstest"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// recordingPolicy is a BackupPolicy that records what the channel asks it: the Controllers it
// was asked about, and when DoBackup was first asked (asked closes).
type recordingPolicy struct {
	delay time.Duration
	send  bool

	mu       sync.Mutex
	delays   []*actors.Controller
	backups  int
	ends     map[*actors.Controller]int
	asked    chan struct{}
	askedOne sync.Once
}

func newRecordingPolicy(delay time.Duration, send bool) *recordingPolicy {
	return &recordingPolicy{delay: delay, send: send, ends: map[*actors.Controller]int{}, asked: make(chan struct{})}
}

func (p *recordingPolicy) Delay(cntl *actors.Controller) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delays = append(p.delays, cntl)
	return p.delay
}

func (p *recordingPolicy) DoBackup(*actors.Controller) bool {
	p.mu.Lock()
	p.backups++
	p.mu.Unlock()
	p.askedOne.Do(func() { close(p.asked) })
	return p.send
}

func (p *recordingPolicy) OnCallEnd(cntl *actors.Controller) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ends[cntl]++
}

func (p *recordingPolicy) counts() (delays, backups, ends int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, n := range p.ends {
		ends += n
	}
	return len(p.delays), p.backups, ends
}

// gateServer is a loopback server whose Echo answers only once the test opens its gate (or the
// connection closes), counting the requests it received.
type gateServer struct {
	addr     string
	requests atomic.Int64
	gate     chan struct{}
	once     sync.Once
}

func startGateServer(t *testing.T) *gateServer {
	t.Helper()
	g := &gateServer{gate: make(chan struct{})}
	srv, err := actors.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	err = actors.Handle(srv, echoservice.Method, func(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		g.requests.Add(1)
		select {
		case <-g.gate:
			return &echopb.EchoResponse{Message: req.Message}, nil
		case <-ctx.Done():
			return nil, &wire.Error{Code: wire.ELOGOFF, Text: "connection closed while waiting"}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	a, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.addr = a.String()
	t.Cleanup(func() {
		g.open()
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown() = %v", err)
		}
	})
	return g
}

func (g *gateServer) open() { g.once.Do(func() { close(g.gate) }) }

// waitClosed waits for ch to close within the test timeout.
func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(testTimeout):
		t.Fatalf("%s did not happen within %v", what, testTimeout)
	}
}

func TestBackupPolicyAndBackupRequestAreExclusive(t *testing.T) {
	sys := newSystem(t)
	_, err := sys.NewChannel("127.0.0.1:1", &actors.ChannelOptions{BackupRequest: time.Millisecond,
		BackupPolicy: newRecordingPolicy(time.Millisecond, true)})
	if err == nil || !strings.Contains(err.Error(), "BackupRequest") || !strings.Contains(err.Error(), "BackupPolicy") {
		t.Fatalf("NewChannel(BackupRequest and BackupPolicy) = %v, want an error naming both", err)
	}
}

// A policy whose DoBackup says no keeps the backup request back: the call waits for its first
// attempt, and the server sees one request.
func TestBackupPolicyDoBackupFalsePreventsTheBackup(t *testing.T) {
	g := startGateServer(t)
	p := newRecordingPolicy(5*time.Millisecond, false)
	ch, err := newSystem(t).NewChannel(g.addr, &actors.ChannelOptions{BackupPolicy: p, Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	var cntl actors.Controller
	call := ch.Go(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl, nil)
	waitClosed(t, p.asked, "DoBackup")
	g.open()
	if err := waitDone(t, call); err != nil {
		t.Fatalf("Call() = %v", err)
	}
	if cntl.HasBackupRequest() || cntl.RetriedCount() != 0 {
		t.Errorf("HasBackupRequest, RetriedCount = %v, %d; want false, 0", cntl.HasBackupRequest(), cntl.RetriedCount())
	}
	if n := g.requests.Load(); n != 1 {
		t.Errorf("server requests = %d, want 1", n)
	}
	if d, b, e := p.counts(); d != 1 || b != 1 || e != 1 {
		t.Errorf("Delay, DoBackup, OnCallEnd asked %d, %d, %d times; want 1, 1, 1", d, b, e)
	}
}

// The policy's Delay arms the backup request, which goes once DoBackup agrees; a Controller's
// own delay wins over the policy's.
func TestBackupPolicyDelayIsUsed(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cntlDelay time.Duration
		askDelay  int
	}{
		{"the policy's delay", 0, 1},
		{"the Controller's delay", 5 * time.Millisecond, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := startGateServer(t)
			p := newRecordingPolicy(5*time.Millisecond, true)
			if tc.cntlDelay != 0 {
				p.delay = time.Hour // would never fire within the test
			}
			ch, err := newSystem(t).NewChannel(g.addr, &actors.ChannelOptions{BackupPolicy: p, Timeout: testTimeout})
			if err != nil {
				t.Fatal(err)
			}
			var cntl actors.Controller
			cntl.SetBackupRequest(tc.cntlDelay)
			call := ch.Go(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl, nil)
			waitClosed(t, p.asked, "DoBackup")
			actorstest.Eventually(t, "the backup request reaching the server", func() bool { return g.requests.Load() == 2 })
			g.open()
			if err := waitDone(t, call); err != nil {
				t.Fatalf("Call() = %v", err)
			}
			if !cntl.HasBackupRequest() || cntl.RetriedCount() != 1 {
				t.Errorf("HasBackupRequest, RetriedCount = %v, %d; want true, 1", cntl.HasBackupRequest(), cntl.RetriedCount())
			}
			if d, _, _ := p.counts(); d != tc.askDelay {
				t.Errorf("Delay asked %d times, want %d", d, tc.askDelay)
			}
			if tc.askDelay == 1 && p.delays[0] != &cntl {
				t.Errorf("Delay asked about %p, want the call's Controller %p", p.delays[0], &cntl)
			}
		})
	}
}

// A Controller that turns backup requests off wins over the policy: its Delay is not asked.
func TestBackupPolicyControllerTurnsItOff(t *testing.T) {
	svc := &echoservice.Service{}
	p := newRecordingPolicy(time.Nanosecond, true)
	_, ch := newChannel(t, svc, &actors.ChannelOptions{BackupPolicy: p})
	var cntl actors.Controller
	cntl.SetBackupRequest(actors.NoBackupRequest)
	if err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl); err != nil {
		t.Fatalf("Call() = %v", err)
	}
	if d, b, e := p.counts(); d != 0 || b != 0 || e != 1 {
		t.Errorf("Delay, DoBackup, OnCallEnd asked %d, %d, %d times; want 0, 0, 1", d, b, e)
	}
}

// OnCallEnd hears of every call once, with its own Controller, successful or not, synchronous
// or not; it has run by the time the call is seen finished.
func TestBackupPolicyOnCallEndOncePerCall(t *testing.T) {
	p := newRecordingPolicy(0, true)
	_, ch := newChannel(t, &echoservice.Service{}, &actors.ChannelOptions{BackupPolicy: p, MaxRetry: actors.NoRetry})
	const n = 40
	cntls := make([]actors.Controller, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := echoReq("x")
			if i%4 == 0 {
				req.FailCode = new(int32)
				*req.FailCode = int32(wire.EINTERNAL)
			}
			if i%2 == 0 {
				_ = ch.Call(t.Context(), echoservice.Method, req, &echopb.EchoResponse{}, &cntls[i])
				return
			}
			_ = waitDone(t, ch.Go(t.Context(), echoservice.Method, req, &echopb.EchoResponse{}, &cntls[i], func(*actors.Controller) {}))
		}()
	}
	wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.ends) != n {
		t.Errorf("OnCallEnd saw %d Controllers, want %d", len(p.ends), n)
	}
	for i := range cntls {
		if k := p.ends[&cntls[i]]; k != 1 {
			t.Errorf("call %d (failed %v): OnCallEnd ran %d times, want 1", i, cntls[i].Failed(), k)
		}
	}
}

// When the original request answers while its backup request waits, the call ends and the
// socket stops waiting for the backup's answer: nothing of the call stays in its pending table,
// even if that answer never comes.
func TestBackupLeftUnansweredLeavesNothingPending(t *testing.T) {
	srv, err := actors.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	stuck := make(chan struct{})
	err = actors.Handle(srv, echoservice.Method, func(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		if n.Add(1) == 1 {
			// The original: slower than the backup delay, then answered.
			time.Sleep(200 * time.Millisecond)
			return &echopb.EchoResponse{Message: req.Message}, nil
		}
		<-stuck // the backup: held until the test ends
		return &echopb.EchoResponse{Message: req.Message}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveOn(t, srv)
	t.Cleanup(func() { close(stuck) })
	sys := newSystem(t)
	ch, err := sys.NewChannel(addr, &actors.ChannelOptions{BackupRequest: 20 * time.Millisecond, Timeout: testTimeout,
		ConnectTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	var cntl actors.Controller
	if err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl); err != nil {
		t.Fatalf("Call() = %v", err)
	}
	if !cntl.HasBackupRequest() {
		t.Fatalf("no backup request was sent within 200 ms of a 20 ms backup delay")
	}
	eventually(t, "the socket to wait for no answer", func() bool {
		s := socketNode(sys, addr)
		return s != nil && s.Counters["pending"] == 0
	})
}
