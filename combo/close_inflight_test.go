package combo_test

import (
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// Closing a combo channel with calls in flight: a call keeps what it needs alive until it ends.
// Close refuses new calls at once, lets the calls already started complete normally, and closes
// the owned sub-channels once the last of them ended.

// closeRuns is how many times each case closes a channel right after starting calls on it.
const closeRuns = 30

// clusterChannels returns n cluster channels to the servers the file at path lists.
func clusterChannels(t *testing.T, sys *actors.System, path string, n int) []actors.Channel {
	t.Helper()
	chs := make([]actors.Channel, n)
	for i := range chs {
		chs[i] = plain(t, sys, "file://"+path, &actors.ChannelOptions{LoadBalancer: "rr"})
	}
	return chs
}

// openChannels counts the plain channels Inspect shows: a closed channel leaves once it is
// released.
func openChannels(sys *actors.System) int {
	n := 0
	for _, c := range sys.Inspect().Children {
		if c.Kind == "channel" {
			n++
		}
	}
	return n
}

// closeRightAfterGo starts that many asynchronous calls on ch, closes it at once, and checks that
// every call succeeded with its done run exactly once, that a later call fails at once with the
// closed error, and that the owned sub-channels are released after the calls ended.
func closeRightAfterGo(t *testing.T, sys *actors.System, ch actors.Channel, calls int, check func(*actors.Controller)) {
	t.Helper()
	runs := make([]atomic.Int32, calls)
	cntls := make([]actors.Controller, calls)
	started := make([]*actors.Call, calls)
	for i := range calls {
		started[i] = ch.Go(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntls[i],
			func(*actors.Controller) { runs[i].Add(1) })
	}
	if err := ch.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	for i, c := range started {
		if err := c.Wait(); err != nil {
			t.Fatalf("call %d started before Close = %v, want success", i, err)
		}
		if n := runs[i].Load(); n != 1 {
			t.Fatalf("call %d: done ran %d times, want 1", i, n)
		}
		if check != nil {
			check(&cntls[i])
		}
	}
	start := time.Now()
	err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil)
	if wire.ErrnoOf(err) != wire.ELOGOFF || !errors.Is(err, actors.ErrClosed) {
		t.Fatalf("Call after Close = %v, want ELOGOFF and ErrClosed", err)
	}
	if took := time.Since(start); took > testTimeout/2 {
		t.Fatalf("Call after Close took %v, want it refused at once", took)
	}
	eventually(t, "the owned sub-channels to be closed", func() bool { return openChannels(sys) == 0 })
}

// brpc's destroy_channel_parallel with cluster sub-channels: five file:// cluster channels owned
// by the parallel channel, which is closed right after Go.
func TestParallelCloseRightAfterGoOnClusterChannels(t *testing.T) {
	addr := startEcho(t, nil)
	path := filepath.Join(t.TempDir(), "servers")
	writeList(t, path, addr)
	sys := newSystem(t)
	for run := range closeRuns {
		p, err := combo.NewParallelChannel(sys, &combo.ParallelOptions{Timeout: testTimeout})
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range clusterChannels(t, sys, path, 5) {
			if err := p.AddChannel(ch, combo.OwnsChannel, nil, nil); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("run %d", run)
		closeRightAfterGo(t, sys, p, 3, func(cntl *actors.Controller) {
			for i := range 5 {
				wantSub(t, cntl, i, 0)
			}
		})
	}
	noCallsLeft(t, sys)
}

// The same for a selective channel owning cluster channels, and for one owning a parallel
// channel that owns them: the rule holds at every level of nesting.
func TestSelectiveCloseRightAfterGoOnClusterChannels(t *testing.T) {
	addr := startEcho(t, nil)
	path := filepath.Join(t.TempDir(), "servers")
	writeList(t, path, addr)
	sys := newSystem(t)
	for run := range closeRuns {
		s, err := combo.NewSelectiveChannel(sys, &combo.SelectiveOptions{Timeout: testTimeout})
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range clusterChannels(t, sys, path, 2) {
			if _, err := s.AddChannel(ch, combo.OwnsChannel); err != nil {
				t.Fatal(err)
			}
		}
		p, err := combo.NewParallelChannel(sys, &combo.ParallelOptions{Timeout: testTimeout})
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range clusterChannels(t, sys, path, 3) {
			if err := p.AddChannel(ch, combo.OwnsChannel, nil, nil); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.AddChannel(p, combo.OwnsChannel); err != nil {
			t.Fatal(err)
		}
		t.Logf("run %d", run)
		closeRightAfterGo(t, sys, s, 3, nil)
	}
	noCallsLeft(t, sys)
}

// A partition channel closed right after Go: its partitions' channels live until the calls end.
func TestPartitionCloseRightAfterGo(t *testing.T) {
	addrs := []string{startEcho(t, nil), startEcho(t, nil)}
	path := filepath.Join(t.TempDir(), "servers")
	writeList(t, path, addrs[0]+" 0/2", addrs[1]+" 1/2")
	sys := newSystem(t)
	for run := range closeRuns / 3 {
		pc, err := combo.NewPartitionChannel(sys, 2, combo.SlashParser{}, "file://"+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("run %d", run)
		closeRightAfterGo(t, sys, pc, 3, func(cntl *actors.Controller) {
			wantSub(t, cntl, 0, 0)
			wantSub(t, cntl, 1, 0)
		})
	}
	noCallsLeft(t, sys)
}

// Closing a combo channel with no call in flight closes its owned sub-channels before Close
// returns, and reports their errors.
func TestCloseWithoutCallsClosesOwnedAtOnce(t *testing.T) {
	addr := startEcho(t, nil)
	sys := newSystem(t)
	owned := &closeCounter{Channel: plain(t, sys, addr, nil)}
	p, err := combo.NewParallelChannel(sys, &combo.ParallelOptions{Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AddChannel(owned, combo.OwnsChannel, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); err != nil {
		t.Fatalf("Call() = %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if n := owned.closes.Load(); n != 1 {
		t.Errorf("after Close with no call in flight, the owned sub-channel was closed %d times, want 1", n)
	}
	if err := p.Close(); err != nil || owned.closes.Load() != 1 {
		t.Errorf("second Close() = %v, owned sub-channel closed %d times, want nil and 1", err, owned.closes.Load())
	}
}
