package combo_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/actorstest"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

const lookupMethod = "example.EchoService.Lookup"

// startEchoAs starts an echo server that also answers the methods named (with the echo).
func startEchoAs(t *testing.T, svc *echoservice.Service, methods ...string) string {
	t.Helper()
	srv, err := actors.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Register(srv); err != nil {
		t.Fatal(err)
	}
	for _, m := range methods {
		if err := actors.Handle(srv, m, svc.Echo); err != nil {
			t.Fatal(err)
		}
	}
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return addr.String()
}

// One client, a strategy per method (Finagle's MethodBuilder): Echo fans out over a hashing
// partitioner, Lookup goes to one partition of a custom partitioner, and each method keeps its
// own timeout and retries.
func TestMethodChannel(t *testing.T) {
	sys := newSystem(t)
	chans := make([]actors.Channel, 3)
	byShard := map[int]actors.Channel{}
	for i := range chans {
		ch := plain(t, sys, startEchoAs(t, &echoservice.Service{Index: int32(i)}, lookupMethod), &actors.ChannelOptions{MaxRetry: actors.NoRetry})
		t.Cleanup(func() { ch.Close() })
		chans[i], byShard[i] = ch, ch
	}
	fanOut := newPartitioner(t, sys, chans, nil)
	lookup := customEcho(nil)[echoservice.Method]
	one, err := combo.NewCustomPartitioner(sys, byShard, map[string]combo.CustomMethod{lookupMethod: lookup}, &combo.CustomOptions{Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	const slowMethod = "example.EchoService.Slow"
	// The server answers Slow after the request's sleep_us; the channel's own deadline is a
	// minute, so only the method's timeout ends a call early.
	slowCh := plain(t, sys, startEchoAs(t, &echoservice.Service{}, slowMethod), &actors.ChannelOptions{Timeout: time.Minute})
	defer slowCh.Close()
	deadCh := plain(t, sys, actorstest.DeadAddr(t), &actors.ChannelOptions{MaxRetry: actors.NoRetry})
	defer deadCh.Close()
	const deadMethod = "example.EchoService.Dead"

	mc, err := combo.NewMethodBuilder(sys).
		Method(echoservice.Method, combo.MethodConfig{Channel: fanOut}).
		Method(lookupMethod, combo.MethodConfig{Channel: one}).
		Method(slowMethod, combo.MethodConfig{Channel: slowCh, Timeout: 50 * time.Millisecond}).
		Method(deadMethod, combo.MethodConfig{Channel: deadCh, MaxRetry: 2}).
		Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	var resp echopb.EchoResponse
	keys := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	if err := mc.Call(ctx, echoservice.Method, echoReq(strings.Join(keys, ",")), &resp, nil); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(resp.GetMessage(), ";") + 1; n < 2 {
		t.Errorf("Echo through the hashing partitioner = %q, want answers of several partitions", resp.GetMessage())
	}
	if s := fanOut.Stats(); s["fan_out"] < 2 {
		t.Errorf("hashing Stats = %v", s)
	}
	if err := mc.Call(ctx, lookupMethod, echoReq("2:x"), &resp, nil); err != nil || resp.GetMessage() != "2:x" {
		t.Errorf("Lookup through the custom partitioner = %q, %v; want \"2:x\"", resp.GetMessage(), err)
	}
	if s := one.Stats(); s["calls"] != 1 || s["fan_out"] != 1 {
		t.Errorf("custom Stats = %v", s)
	}

	slowReq := func(d time.Duration) *echopb.EchoRequest {
		req := echoReq("s")
		req.SleepUs = proto.Int32(int32(d.Microseconds()))
		return req
	}
	begin := time.Now()
	err = mc.Call(ctx, slowMethod, slowReq(time.Minute), &resp, nil)
	if took := time.Since(begin); wire.ErrnoOf(err) != wire.ERPCTIMEDOUT || took > testTimeout/2 {
		t.Errorf("Slow with the method's 50 ms timeout: %v after %v, want ERPCTIMEDOUT at once, not after the server's minute", err, took)
	}
	var cntl actors.Controller
	cntl.SetTimeout(2 * time.Second) // the call's own setting wins over the method's
	if err := mc.Call(ctx, slowMethod, slowReq(300*time.Millisecond), &resp, &cntl); err != nil {
		t.Errorf("Slow with the Controller's 2 s timeout: %v", err)
	}

	var dc actors.Controller
	if err := mc.Call(ctx, deadMethod, echoReq("d"), &resp, &dc); err == nil || dc.RetriedCount() != 2 {
		t.Errorf("Dead with the method's 2 retries: %v, retried %d times", err, dc.RetriedCount())
	}

	err = mc.Call(ctx, "example.EchoService.Nope", echoReq("n"), &resp, nil)
	if !errors.Is(err, combo.ErrUnknownMethod) || wire.ErrnoOf(err) != wire.ENOMETHOD {
		t.Errorf("unknown method: %v, want ENOMETHOD and ErrUnknownMethod", err)
	}

	// As a sub-channel: the parallel call's children go through the method's channel.
	pc, err := combo.NewParallelChannel(sys, &combo.ParallelOptions{Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for range 2 {
		if err := pc.AddChannel(mc, combo.DoesntOwnChannel, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := pc.Call(ctx, lookupMethod, echoReq("1:y"), &resp, nil); err != nil {
		t.Errorf("Lookup through a parallel channel: %v", err)
	}
	if err := pc.Call(ctx, "example.EchoService.Nope", echoReq("n"), &resp, nil); wire.ErrnoOf(err) == 0 {
		t.Errorf("unknown method through a parallel channel: %v, want a failure", err)
	}
	noCallsLeft(t, sys)
}

func TestMethodBuilderErrors(t *testing.T) {
	sys := newSystem(t)
	ch := plain(t, sys, actorstest.DeadAddr(t), nil)
	defer ch.Close()
	for name, b := range map[string]*combo.MethodBuilder{
		"nil system":      combo.NewMethodBuilder(nil).Method("m", combo.MethodConfig{Channel: ch}),
		"nothing":         combo.NewMethodBuilder(sys),
		"empty name":      combo.NewMethodBuilder(sys).Method("", combo.MethodConfig{Channel: ch}),
		"nil channel":     combo.NewMethodBuilder(sys).Method("m", combo.MethodConfig{}),
		"twice":           combo.NewMethodBuilder(sys).Method("m", combo.MethodConfig{Channel: ch}).Method("m", combo.MethodConfig{Channel: ch}),
		"default nil":     combo.NewMethodBuilder(sys).Default(combo.MethodConfig{}),
		"default twice":   combo.NewMethodBuilder(sys).Default(combo.MethodConfig{Channel: ch}).Default(combo.MethodConfig{Channel: ch}),
		"first error won": combo.NewMethodBuilder(sys).Method("", combo.MethodConfig{}).Method("m", combo.MethodConfig{Channel: ch}),
	} {
		if _, err := b.Build(); err == nil || !strings.Contains(err.Error(), "combo") {
			t.Errorf("%s: Build() = %v, want an error", name, err)
		}
	}
	mc, err := combo.NewMethodBuilder(sys).Default(combo.MethodConfig{Channel: ch, Timeout: time.Second}).Build()
	if err != nil {
		t.Fatal(err)
	}
	var cntl actors.Controller
	err = mc.Call(context.Background(), "any.Service.Method", echoReq("x"), &echopb.EchoResponse{}, &cntl)
	if err == nil || errors.Is(err, combo.ErrUnknownMethod) {
		t.Errorf("default route to a dead server: %v, want the connection's failure", err)
	}
	if d, ok := cntl.Timeout(); !ok || d != time.Second {
		t.Errorf("Controller timeout = %v, %v; want the default's 1s", d, ok)
	}

	// Negative values mean none, as everywhere.
	mc, err = combo.NewMethodBuilder(sys).Method(echoservice.Method,
		combo.MethodConfig{Channel: ch, Timeout: actors.NoTimeout, MaxRetry: -2}).Build()
	if err != nil {
		t.Fatalf("NoTimeout and a negative MaxRetry: Build() = %v, want a channel", err)
	}
	cntl.Reset()
	_ = mc.Call(context.Background(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl)
	if d, ok := cntl.Timeout(); !ok || d >= 0 {
		t.Errorf("Controller timeout = %v, %v; want none (negative)", d, ok)
	}
	if _, ok := cntl.Deadline(); ok || cntl.RetriedCount() != 0 {
		t.Errorf("call with no timeout and no retry: deadline set = %v, retried %d; want none, 0", ok, cntl.RetriedCount())
	}
}
