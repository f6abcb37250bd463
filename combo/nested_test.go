package combo_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// Combo channels nest: any of them is a sub-channel of any other, to any depth, and a deadline
// or a cancel reaches the sub-calls of sub-calls.

// nest builds, on the server at addr, a parallel channel whose sub-channels are: a parallel
// channel of 3 plain channels, a selective channel of 2 plain channels, and a plain channel.
func nest(t *testing.T, sys *actors.System, opts *combo.ParallelOptions, addr string) *combo.ParallelChannel {
	t.Helper()
	outer, err := combo.NewParallelChannel(sys, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = outer.Close() })
	inner := newPChan(t, sys, &combo.ParallelOptions{Timeout: -1}, addr, 3, nil, nil)
	sel := newSChan(t, sys, nil, plain(t, sys, addr, nil), plain(t, sys, addr, nil))
	for _, ch := range []actors.Channel{inner, sel, plain(t, sys, addr, nil)} {
		if err := outer.AddChannel(ch, combo.OwnsChannel, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	return outer
}

func TestNestedSuccess(t *testing.T) {
	svc := &echoservice.Service{}
	addr := startEcho(t, svc)
	sys := newSystem(t)
	outer := nest(t, sys, nil, addr)
	var cntl actors.Controller
	resp := &echopb.EchoResponse{}
	if err := outer.Call(t.Context(), echoservice.Method, echoReq("deep"), resp, &cntl); err != nil {
		t.Fatalf("Call() = %v, want success", err)
	}
	if resp.GetMessage() != "deep" || cntl.SubCount() != 3 {
		t.Fatalf("message %q, SubCount() = %d, want deep and 3", resp.GetMessage(), cntl.SubCount())
	}
	for i := range 3 {
		wantSub(t, &cntl, i, 0)
	}
	inner, sel := cntl.Sub(0), cntl.Sub(1)
	if inner.SubCount() != 3 || sel.SubCount() != 1 || cntl.Sub(2).SubCount() != 0 {
		t.Fatalf("SubCounts = %d, %d, %d, want 3, 1, 0", inner.SubCount(), sel.SubCount(), cntl.Sub(2).SubCount())
	}
	for j := range 3 {
		wantSub(t, inner, j, 0)
		if inner.Sub(j).RemoteSide() != addr {
			t.Errorf("Sub(0).Sub(%d).RemoteSide() = %q, want %q", j, inner.Sub(j).RemoteSide(), addr)
		}
	}
	wantSub(t, sel, 0, 0)
	if sel.RemoteSide() != addr {
		t.Errorf("Sub(1).RemoteSide() = %q, want %q", sel.RemoteSide(), addr)
	}
	if n := svc.Requests(); n != 5 {
		t.Errorf("server got %d requests, want 5", n)
	}
	noCallsLeft(t, sys)
}

// A parallel channel inside a selective channel: the selective call's Sub(0) is the parallel
// call's controller, with its own sub-calls.
func TestParallelInsideSelective(t *testing.T) {
	addr := startEcho(t, nil)
	sys := newSystem(t)
	s := newSChan(t, sys, nil, newPChan(t, sys, nil, addr, 3, nil, nil))
	var cntl actors.Controller
	if err := s.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl); err != nil {
		t.Fatalf("Call() = %v, want success", err)
	}
	wantSub(t, &cntl, 0, 0)
	for j := range 3 {
		wantSub(t, cntl.Sub(0), j, 0)
	}
	noCallsLeft(t, sys)
}

// The outer call's deadline or cancel ends every sub-call of every level, and the call ends at
// once. The server holds every request for a minute (or until it shuts down); the deadline of
// 200ms leaves the sub-calls of every level time to start even on a loaded machine.
func TestNestedTimeoutAndCancelPropagate(t *testing.T) {
	svc := &echoservice.Service{Sleep: time.Minute}
	addr := startEcho(t, svc)
	sys := newSystem(t)
	for _, how := range []string{"timeout", "cancel"} {
		t.Run(how, func(t *testing.T) {
			opts := &combo.ParallelOptions{Timeout: 10 * time.Second}
			want := wire.ECANCELED
			if how == "timeout" {
				opts.Timeout, want = 200*time.Millisecond, wire.ERPCTIMEDOUT
			}
			outer := nest(t, sys, opts, addr)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var cntl actors.Controller
			before := svc.Requests()
			start := time.Now()
			call := outer.Go(ctx, echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl, nil)
			if how == "cancel" {
				eventually(t, "every sub-call to reach the server", func() bool { return svc.Requests() == before+5 })
				start = time.Now()
				cancel()
			}
			wantErrno(t, "Call", call.Wait(), want)
			if took := time.Since(start); took > testTimeout/2 {
				t.Errorf("Call ended %v after the %s, want at once, not when the server answers a minute later", took, how)
			}
			for i := range 3 {
				wantSub(t, &cntl, i, wire.ECANCELED)
			}
			for j := range 3 {
				wantSub(t, cntl.Sub(0), j, wire.ECANCELED)
			}
			wantSub(t, cntl.Sub(1), 0, wire.ECANCELED)
			noCallsLeft(t, sys)
		})
	}
}

// A selective channel's deadline reaches the sub-calls of a parallel channel inside it. The
// server holds every request for a minute (or until it shuts down).
func TestSelectiveTimeoutReachesNestedParallel(t *testing.T) {
	addr := startEcho(t, &echoservice.Service{Sleep: time.Minute})
	sys := newSystem(t)
	s := newSChan(t, sys, &combo.SelectiveOptions{Timeout: 200 * time.Millisecond}, newPChan(t, sys, nil, addr, 3, nil, nil))
	var cntl actors.Controller
	start := time.Now()
	err := s.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl)
	wantErrno(t, "Call", err, wire.ERPCTIMEDOUT)
	if took := time.Since(start); took > testTimeout/2 {
		t.Errorf("Call took %v, want about 200ms, not the server's minute", took)
	}
	wantSub(t, &cntl, 0, wire.ERPCTIMEDOUT)
	for j := range 3 {
		wantSub(t, cntl.Sub(0), j, wire.ECANCELED)
	}
	noCallsLeft(t, sys)
}

// Inspect shows a parallel call waiting on a stalled server, its sub-calls beneath it, and what
// each waits for.
func TestInspectParallelCall(t *testing.T) {
	svc := &echoservice.Service{Sleep: 10 * time.Second}
	addr := startEcho(t, svc)
	sys := newSystem(t)
	p := nest(t, sys, &combo.ParallelOptions{Timeout: 10 * time.Second}, addr)
	call := p.Go(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil, nil)
	eventually(t, "every sub-call to reach the server", func() bool { return svc.Requests() == 5 })
	tree := sys.Inspect()
	node := tree.Find(func(n *actors.Node) bool { return n.Kind == "call" })
	if node == nil {
		t.Fatalf("Inspect() has no call:\n%s", tree)
	}
	if !strings.Contains(node.State, "parallel channel") || !strings.Contains(node.State, "3 of 3 sub-calls pending") {
		t.Errorf("call State = %q, want it to say it waits for 3 of 3 sub-calls", node.State)
	}
	if len(node.Children) != 3 {
		t.Fatalf("call has %d children, want 3:\n%s", len(node.Children), tree)
	}
	var deepest *actors.Node
	for _, c := range node.Children {
		if c.Kind != "sub-call" {
			t.Errorf("child %s has Kind %q, want sub-call", c.Name, c.Kind)
		}
		if len(c.Children) == 3 {
			deepest = c.Children[0]
		}
	}
	if deepest == nil || deepest.Kind != "sub-call" || !strings.Contains(deepest.State, "waiting for response from "+addr) {
		t.Errorf("the inner parallel call's sub-calls do not say they wait for %s:\n%s", addr, tree)
	}
	call.Cancel()
	wantErrno(t, "Call", call.Wait(), wire.ECANCELED)
	noCallsLeft(t, sys)
}

// Weights, as brpc's combo channels count them: a plain channel 1, a cluster channel its
// servers, a parallel channel the least of its sub-channels', a selective channel the sum.
func TestWeight(t *testing.T) {
	var addrs []string
	for range 3 {
		addrs = append(addrs, startEcho(t, nil))
	}
	sys := newSystem(t)
	one := plain(t, sys, addrs[0], nil)
	cluster := plain(t, sys, "list://"+strings.Join(addrs, ","), &actors.ChannelOptions{LoadBalancer: "rr"})
	eventually(t, "the cluster's server list", func() bool { return cluster.Weight() == 3 })
	if one.Weight() != 1 {
		t.Errorf("plain Weight() = %d, want 1", one.Weight())
	}
	p := newPChan(t, sys, nil, "", 0, nil, nil)
	s := newSChan(t, sys, nil)
	if p.Weight() != 0 || s.Weight() != 0 {
		t.Errorf("empty parallel, selective Weight() = %d, %d, want 0, 0", p.Weight(), s.Weight())
	}
	for _, ch := range []actors.Channel{cluster, one} {
		if err := p.AddChannel(ch, combo.DoesntOwnChannel, nil, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddChannel(ch, combo.DoesntOwnChannel); err != nil {
			t.Fatal(err)
		}
	}
	if p.Weight() != 1 || s.Weight() != 4 {
		t.Errorf("parallel, selective Weight() = %d, %d, want 1 (min), 4 (sum)", p.Weight(), s.Weight())
	}
	outer := newSChan(t, sys, nil, p, s)
	if outer.Weight() != 5 {
		t.Errorf("selective of (parallel 1, selective 4) Weight() = %d, want 5", outer.Weight())
	}
	both := newPChan(t, sys, nil, "", 0, nil, nil)
	for _, ch := range []actors.Channel{cluster, s} {
		if err := both.AddChannel(ch, combo.DoesntOwnChannel, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if both.Weight() != 3 {
		t.Errorf("parallel of (cluster 3, selective 4) Weight() = %d, want 3", both.Weight())
	}
}

// A parallel call passes the main call's request attachment and compression down to every
// sub-call, as brpc's sub-controllers inherit them.
func TestParallelPassesSettingsDown(t *testing.T) {
	addr := startEcho(t, nil) // echoes the attachment
	sys := newSystem(t)
	p := newPChan(t, sys, nil, addr, 3, nil, nil)
	var cntl actors.Controller
	cntl.SetRequestAttachment([]byte("att"))
	cntl.SetCompressType(wire.CompressSnappy)
	resp := &echopb.EchoResponse{}
	if err := p.Call(t.Context(), echoservice.Method, echoReq("zip"), resp, &cntl); err != nil {
		t.Fatalf("Call() = %v, want success", err)
	}
	for i := range 3 {
		wantSub(t, &cntl, i, 0)
		if got := string(cntl.Sub(i).ResponseAttachment()); got != "att" {
			t.Errorf("Sub(%d).ResponseAttachment() = %q, want att", i, got)
		}
	}
	if resp.GetMessage() != "zip" {
		t.Errorf("message = %q, want zip", resp.GetMessage())
	}
	noCallsLeft(t, sys)
}

// A selective channel with a consistent-hashing balancer sends the calls with one request code
// to one sub-channel. The request code is a point on the ring (brpc's callers hash their key
// into it), so the codes here are spread over 32 bits.
func TestSelectiveConsistentHashing(t *testing.T) {
	sys := newSystem(t)
	var subs []actors.Channel
	for i := range 3 {
		subs = append(subs, plain(t, sys, startEcho(t, &echoservice.Service{Index: int32(i)}), nil))
	}
	s := newSChan(t, sys, &combo.SelectiveOptions{LoadBalancer: "c_murmurhash"}, subs...)
	seen := map[int32]bool{}
	for i := range uint64(30) {
		code, first := i*(1<<32/30), int32(-1)
		for range 3 {
			var cntl actors.Controller
			cntl.SetRequestCode(code)
			resp := &echopb.EchoResponse{}
			if err := s.Call(t.Context(), echoservice.Method, echoReq("x"), resp, &cntl); err != nil {
				t.Fatalf("Call(code %d) = %v, want success", code, err)
			}
			if first >= 0 && resp.GetServerIndex() != first {
				t.Fatalf("code %d went to servers %d and %d, want one", code, first, resp.GetServerIndex())
			}
			first = resp.GetServerIndex()
		}
		seen[first] = true
	}
	if len(seen) < 2 {
		t.Errorf("30 request codes all went to %v, want them spread over the sub-channels", seen)
	}
	noCallsLeft(t, sys)
}
