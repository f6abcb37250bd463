package actors_test

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// brpc's backup_request test: one server that answers in 300ms (brpc's takes 50ms; the margin
// keeps the 10ms backup timer ahead of the answer on a loaded machine), a backup after 10ms, one
// retry.
func TestBackupRequestToTheSameServer(t *testing.T) {
	_, ch := newChannel(t, &echoservice.Service{Sleep: 300 * time.Millisecond}, &actors.ChannelOptions{
		MaxRetry: 1, BackupRequest: 10 * time.Millisecond, Timeout: testTimeout})
	var cntl actors.Controller
	if err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl); err != nil {
		t.Fatalf("Call() = %v", err)
	}
	if !cntl.HasBackupRequest() || cntl.RetriedCount() != 1 {
		t.Fatalf("HasBackupRequest, RetriedCount = %v, %d; want true, 1", cntl.HasBackupRequest(), cntl.RetriedCount())
	}
}

func TestBackupRequestWinsOnAnotherServer(t *testing.T) {
	// The slow server holds a request for a minute (or until it shuts down): a call it answered
	// would take that long.
	slow := &echoservice.Service{Index: 0, Sleep: time.Minute}
	fast := &echoservice.Service{Index: 1}
	_, slowAddr := startEcho(t, slow)
	_, fastAddr := startEcho(t, fast)
	sys := newSystem(t)
	ch, err := sys.NewChannel("list://"+slowAddr+","+fastAddr, &actors.ChannelOptions{LoadBalancer: "rr",
		BackupRequest: 20 * time.Millisecond, Timeout: testTimeout, MaxRetry: 1})
	if err != nil {
		t.Fatal(err)
	}
	backups := 0
	for range 10 {
		var cntl actors.Controller
		resp := &echopb.EchoResponse{}
		if err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), resp, &cntl); err != nil {
			t.Fatalf("Call() = %v", err)
		}
		if !cntl.HasBackupRequest() {
			continue
		}
		backups++
		if resp.GetServerIndex() != 1 || cntl.Latency() >= testTimeout/2 || cntl.RemoteSide() != fastAddr {
			t.Fatalf("backup call answered by server %d (%s) after %v; want the fast one, long before the slow one's minute", resp.GetServerIndex(), cntl.RemoteSide(), cntl.Latency())
		}
	}
	if backups == 0 {
		t.Fatal("no call of 10 sent a backup request, though rr sends about half to the slow server")
	}
}

// With no retry left, a backup request is not sent and the call waits for its first attempt
// within its deadline (brpc would fail it with EBACKUPREQUEST at the backup time). The server
// answers in 300ms, well after the 20ms deadline of the second call even on a loaded machine.
func TestBackupWithoutRetryQuotaWaitsForTheFirstAttempt(t *testing.T) {
	const answer = 300 * time.Millisecond
	_, ch := newChannel(t, &echoservice.Service{Sleep: answer}, &actors.ChannelOptions{
		MaxRetry: actors.NoRetry, BackupRequest: 5 * time.Millisecond, Timeout: testTimeout})
	var cntl actors.Controller
	if err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl); err != nil {
		t.Fatalf("Call() = %v", err)
	}
	if cntl.HasBackupRequest() || cntl.RetriedCount() != 0 || cntl.Latency() < answer {
		t.Fatalf("HasBackupRequest=%v RetriedCount=%d Latency=%v", cntl.HasBackupRequest(), cntl.RetriedCount(), cntl.Latency())
	}
	// A backup delay beyond the deadline is never sent, and the deadline holds.
	cntl.Reset()
	cntl.SetBackupRequest(time.Second)
	cntl.SetTimeout(20 * time.Millisecond)
	err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl)
	if !errors.Is(err, wire.ERPCTIMEDOUT) || cntl.HasBackupRequest() {
		t.Fatalf("Call() = %v, HasBackupRequest=%v; want ERPCTIMEDOUT without a backup", err, cntl.HasBackupRequest())
	}
}

// retryInternal retries EINTERNAL, which brpc's default policy does not.
type retryInternal struct{ calls atomic.Int32 }

func (p *retryInternal) DoRetry(_ *actors.Controller, err error) bool {
	p.calls.Add(1)
	return wire.ErrnoOf(err) == wire.EINTERNAL
}

func TestCustomRetryPolicy(t *testing.T) {
	svc := &echoservice.Service{}
	policy := &retryInternal{}
	_, ch := newChannel(t, svc, &actors.ChannelOptions{RetryPolicy: policy, MaxRetry: 2})
	req := echoReq("x")
	req.FailCode = proto.Int32(int32(wire.EINTERNAL))
	var cntl actors.Controller
	err := ch.Call(t.Context(), echoservice.Method, req, &echopb.EchoResponse{}, &cntl)
	if wire.ErrnoOf(err) != wire.EINTERNAL || cntl.RetriedCount() != 2 || svc.Requests() != 3 {
		t.Fatalf("Call() = %v after %d retries and %d requests; want EINTERNAL after 2 and 3", err, cntl.RetriedCount(), svc.Requests())
	}
}

// rejectFirst rejects the first successful answer, as a policy that checks answers would.
type rejectFirst struct{ seen atomic.Int32 }

func (p *rejectFirst) DoRetry(_ *actors.Controller, err error) bool {
	return err == nil && p.seen.Add(1) == 1
}

func TestRetryPolicyMayRejectASuccess(t *testing.T) {
	svc := &echoservice.Service{}
	_, ch := newChannel(t, svc, &actors.ChannelOptions{RetryPolicy: &rejectFirst{}})
	var cntl actors.Controller
	if err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl); err != nil {
		t.Fatalf("Call() = %v", err)
	}
	if cntl.RetriedCount() != 1 || svc.Requests() != 2 {
		t.Fatalf("RetriedCount=%d requests=%d, want 1 and 2", cntl.RetriedCount(), svc.Requests())
	}
}

// brpc's retry_backoff test: a fixed backoff makes each retry wait.
func TestRetryBackoff(t *testing.T) {
	sys := newSystem(t)
	ch, err := sys.NewChannel(deadAddr(t), &actors.ChannelOptions{MaxRetry: 2, Timeout: 2 * time.Second,
		RetryPolicy: actors.FixedBackoff{Wait: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	var cntl actors.Controller
	err = ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl)
	if !errors.Is(err, wire.ECONNREFUSED) || cntl.RetriedCount() != 2 {
		t.Fatalf("Call() = %v after %d retries, want ECONNREFUSED after 2", err, cntl.RetriedCount())
	}
	if cntl.Latency() < 100*time.Millisecond {
		t.Fatalf("Latency() = %v, want at least 2 backoffs of 50ms", cntl.Latency())
	}
	j := actors.JitteredBackoff{Min: 10 * time.Millisecond, Max: 20 * time.Millisecond}
	for range 100 {
		if d := j.Backoff(&cntl); d < 10*time.Millisecond || d > 20*time.Millisecond {
			t.Fatalf("JitteredBackoff.Backoff() = %v, want in [10ms, 20ms]", d)
		}
	}
}

func TestTimeoutIsNeverRetried(t *testing.T) {
	_, ch := newChannel(t, &echoservice.Service{Sleep: time.Minute}, &actors.ChannelOptions{
		Timeout: 20 * time.Millisecond, RetryPolicy: actors.DefaultRetryPolicy{}})
	var cntl actors.Controller
	err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl)
	if !errors.Is(err, wire.ERPCTIMEDOUT) || cntl.RetriedCount() != 0 || !strings.Contains(err.Error(), "timeout=20ms") {
		t.Fatalf("Call() = %v after %d retries", err, cntl.RetriedCount())
	}
}

func TestCircuitBreakerIsolatesAFailingServer(t *testing.T) {
	bad := &echoservice.Service{Index: 0}
	good := &echoservice.Service{Index: 1}
	_, badAddr := startEcho(t, bad)
	_, goodAddr := startEcho(t, good)
	sys := newSystem(t)
	ch, err := sys.NewChannel("list://"+badAddr+","+goodAddr, &actors.ChannelOptions{LoadBalancer: "rr",
		EnableCircuitBreaker: true, MaxRetry: actors.NoRetry, HealthCheckInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	// The bad server fails every call it gets (the request asks it to), the good one never
	// does: requests carry fail_code only when they land on server 0, which a wrapper cannot
	// know, so instead every request asks to fail and the good server ignores it.
	good.IgnoreFailCode = true
	req := echoReq("x")
	req.FailCode = proto.Int32(int32(wire.EINTERNAL))
	for range 400 {
		_ = ch.Call(t.Context(), echoservice.Method, req, &echopb.EchoResponse{}, nil)
	}
	tree := sys.Inspect()
	sock := tree.Find(func(n *actors.Node) bool { return n.Kind == "socket" && n.Name == badAddr })
	if sock == nil || sock.Counters["breaker_trips"] == 0 {
		t.Fatalf("the failing server was never isolated:\n%s", tree)
	}
	// While the channel shows the server isolated (100ms, then health checking brings it back),
	// calls go to the good server only. A call counts when the isolation held before and after it.
	down := func() bool {
		n := sys.Inspect().Find(func(n *actors.Node) bool { return n.Kind == "channel" })
		return n != nil && n.Counters["down"] == 1
	}
	checked := 0
	for range 20 {
		if !down() {
			break
		}
		err := ch.Call(t.Context(), echoservice.Method, req, &echopb.EchoResponse{}, nil)
		if !down() {
			break
		}
		if err != nil {
			t.Fatalf("call while the failing server was isolated = %v, want it served by the good server", err)
		}
		checked++
	}
	t.Logf("%d calls made while the failing server was isolated", checked)
}
