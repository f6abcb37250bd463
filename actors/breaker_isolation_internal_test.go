package actors

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// startFailingServer serves an echo that fails every call with EINTERNAL.
func startFailingServer(t *testing.T) string {
	t.Helper()
	srv, err := NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	err = Handle(srv, echoMethod, func(context.Context, *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		return nil, wire.Errorf(wire.EINTERNAL, "failing on purpose")
	})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return addr.String()
}

// Three trips in a row of a single server's breaker isolate it for 100, 200 and 400 ms: only
// the health checker, when the isolation time is over, revives the server, and while it is
// isolated calls fail at once with EHOSTDOWN.
func TestBreakerIsolationDurations(t *testing.T) {
	addr := startFailingServer(t)
	revived := make(chan time.Duration, 16)
	hook := func(a string, d time.Duration) {
		if a == addr {
			revived <- d
		}
	}
	reviveHook.Store(&hook)
	defer reviveHook.Store(nil)
	sys, err := NewSystem(&SystemOptions{CircuitBreaker: CircuitBreakerOptions{
		ShortWindow: 10, ShortErrorPercent: 10, LongWindow: 20, LongErrorPercent: 10}})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Shutdown()
	ch, err := sys.NewChannel(addr, &ChannelOptions{EnableCircuitBreaker: true, MaxRetry: NoRetry,
		HealthCheckInterval: time.Hour, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	req := &echopb.EchoRequest{Message: proto.String("x")}
	var got []time.Duration
	for trip := range 3 {
		for i := 0; ; i++ {
			if i > 1000 {
				t.Fatalf("trip %d: 1000 failing calls and the server is not isolated", trip+1)
			}
			var cntl Controller
			_ = ch.Call(context.Background(), echoMethod, req, &echopb.EchoResponse{}, &cntl)
			if cntl.ErrorCode() == wire.EHOSTDOWN {
				break
			}
		}
		select {
		case d := <-revived:
			got = append(got, d)
		case <-time.After(10 * time.Second):
			t.Fatalf("trip %d: the server was not revived", trip+1)
		}
	}
	for i, want := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond} {
		if got[i] < want || got[i] >= want+time.Second {
			t.Errorf("isolation %d lasted %v, want %v (isolations: %v)", i+1, got[i], want, got)
		}
	}
	t.Logf("isolations: %v", got)
}

// With a half-open window, the first error after a revival trips the breaker again.
func TestBreakerHalfOpenWindow(t *testing.T) {
	p := defaultBreakerParams()
	p.halfOpenWindow = 3
	b := newBreaker(p)
	b.trip(time.Now())
	b.reset()
	for range 2 {
		if b.feed(0, time.Millisecond) {
			t.Fatal("a success in the half-open window tripped the breaker")
		}
	}
	if !b.feed(wire.EINTERNAL, time.Millisecond) {
		t.Fatal("an error in the half-open window did not trip the breaker")
	}
	b.reset()
	for range 3 {
		b.feed(0, time.Millisecond)
	}
	if b.feed(wire.EINTERNAL, time.Millisecond) {
		t.Fatal("an error after the half-open window tripped the breaker at once")
	}
}
