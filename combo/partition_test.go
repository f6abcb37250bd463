package combo_test

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/actorstest"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

func writeList(t *testing.T, path string, lines ...string) {
	t.Helper()
	actorstest.ReplaceFile(t, path, lines...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	actorstest.Eventually(t, what, cond)
}

func TestPartitionChannel(t *testing.T) {
	svcs := make([]*echoservice.Service, 3)
	addrs := make([]string, 3)
	for i := range svcs {
		svcs[i] = &echoservice.Service{Index: int32(i)}
		addrs[i] = startEcho(t, svcs[i])
	}
	path := filepath.Join(t.TempDir(), "servers")
	writeList(t, path,
		addrs[0]+" 0/3", addrs[1]+" 1/3", addrs[2]+" 2/3",
		addrs[0]+" 1/4",    // another scheme: ignored
		addrs[1]+" -1/3",   // bad index: skipped
		addrs[2]+" banana", // no partition: skipped
	)
	sys := newSystem(t)
	pc, err := combo.NewPartitionChannel(sys, 3, combo.SlashParser{}, "file://"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var cntl actors.Controller
	waitFor(t, "every partition to answer", func() bool {
		cntl.Reset()
		return pc.Call(t.Context(), echoservice.Method, echoReq("p"), &echopb.EchoResponse{}, &cntl) == nil
	})
	if cntl.SubCount() != 3 || pc.PartitionCount() != 3 {
		t.Fatalf("SubCount() = %d, PartitionCount() = %d, want 3", cntl.SubCount(), pc.PartitionCount())
	}
	for i := range 3 {
		if cntl.Sub(i).RemoteSide() != addrs[i] {
			t.Errorf("partition %d answered from %s, want %s", i, cntl.Sub(i).RemoteSide(), addrs[i])
		}
	}
	// Partition 2 loses its server: its sub-call fails with ENODATA.
	writeList(t, path, addrs[0]+" 0/3", addrs[1]+" 1/3")
	waitFor(t, "the empty partition to fail", func() bool {
		cntl.Reset()
		err := pc.Call(t.Context(), echoservice.Method, echoReq("p"), &echopb.EchoResponse{}, &cntl)
		return err == nil && cntl.Sub(2) != nil && cntl.Sub(2).ErrorCode() == wire.ENODATA
	})
	if _, err := combo.NewPartitionChannel(sys, 0, combo.SlashParser{}, "file://"+path, nil); err == nil {
		t.Error("NewPartitionChannel(0 partitions) = nil error")
	}
	if _, err := combo.NewPartitionChannel(sys, 3, combo.SlashParser{}, "nope://x", nil); err == nil {
		t.Error("NewPartitionChannel(unknown scheme) = nil error")
	}
}

// TestDynamicPartitionWalkthrough replays the seed's migration from 3 to 4 partitions with real
// servers and a real file edited while calls run. Each stage is measured over a fixed number of
// calls made after the channel took the edit, with nothing else in flight.
func TestDynamicPartitionWalkthrough(t *testing.T) {
	svcs := make([]*echoservice.Service, 3)
	addrs := make([]string, 3)
	for i := range svcs {
		svcs[i] = &echoservice.Service{Index: int32(i)}
		addrs[i] = startEcho(t, svcs[i])
	}
	a, b, c := addrs[0], addrs[1], addrs[2]
	path := filepath.Join(t.TempDir(), "servers")
	stage1 := []string{a + " 0/3", a + " 1/3", a + " 2/3", b + " 0/4", b + " 1/4", b + " 2/4", b + " 3/4"}
	writeList(t, path, stage1...)
	sys := newSystem(t)
	// A call fails only by the migration, not by a 500ms default deadline on a loaded machine.
	d, err := combo.NewDynamicPartitionChannel(sys, combo.SlashParser{}, "file://"+path, &combo.PartitionOptions{FailLimit: 1, Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	waitFor(t, "both schemes", func() bool { s := d.Schemes(); return s[3] == 1 && s[4] == 1 })

	const workers = 8
	var fails atomic.Int64
	var firstErr atomic.Value
	call := func() bool {
		err := d.Call(context.Background(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil)
		if err != nil {
			fails.Add(1)
			firstErr.CompareAndSwap(nil, err)
		}
		return err == nil
	}
	// migrate edits the list while calls run, waits until the channel shows the edit (taken),
	// and until a hundred calls more succeeded; it returns once every call it started ended.
	migrate := func(lines []string, what string, taken func() bool) {
		t.Helper()
		stop := make(chan struct{})
		var ok atomic.Int64
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					if call() {
						ok.Add(1)
					}
				}
			})
		}
		defer func() { close(stop); wg.Wait() }()
		writeList(t, path, lines...)
		waitFor(t, what, taken)
		after := ok.Load()
		waitFor(t, "calls to go on succeeding after the edit", func() bool { return ok.Load() >= after+100 })
	}
	// measure makes n calls from several goroutines and returns the requests each server got.
	measure := func(n int) [3]float64 {
		var before [3]int64
		for i, s := range svcs {
			before[i] = s.Requests()
		}
		var left atomic.Int64
		left.Store(int64(n))
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for left.Add(-1) >= 0 {
					call()
				}
			})
		}
		wg.Wait()
		var got [3]float64
		for i, s := range svcs {
			got[i] = float64(s.Requests() - before[i])
		}
		return got
	}
	// Schemes are picked at random per call: over 4000 calls the ratio's standard deviation is
	// about 3.5%, so 15% (over 4 of them) tells a wrong weighting from chance.
	const n = 4000
	within := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want)/want > 0.15 {
			t.Errorf("%s = %.3f, want %.3f ± 15%%", what, got, want)
		}
	}
	r := measure(n)
	t.Logf("stage 1 (3 partitions on A, 4 on B): A=%v B=%v C=%v", r[0], r[1], r[2])
	within("B/A", r[1]/r[0], 4.0/3)

	// The 4-partition scheme's capacity shows at once; each of its partitions' channels learns
	// about C on its own.
	migrate(append(stage1, c+" 0/4", c+" 1/4", c+" 2/4", c+" 3/4"), "C in every partition of the 4-partition scheme", func() bool {
		if d.Schemes()[4] != 2 {
			return false
		}
		for i := range 4 {
			if partitionServers(sys, i, 4) != 2 {
				return false
			}
		}
		return true
	})
	r = measure(n)
	t.Logf("stage 2 (C joins the 4 partitions): A=%v B=%v C=%v", r[0], r[1], r[2])
	within("B/A", r[1]/r[0], 4.0/3)
	within("C/A", r[2]/r[0], 4.0/3)

	migrate([]string{a + " 0/3", a + " 1/3", "# " + a + " 2/3", b + " 0/4", b + " 1/4", b + " 2/4", b + " 3/4",
		c + " 0/4", c + " 1/4", c + " 2/4", c + " 3/4"},
		"the 3-partition scheme to lose its capacity", func() bool { return d.Schemes()[3] == 0 })
	r = measure(n / 4)
	t.Logf("stage 3 (A's 2/3 commented out): A=%v B=%v C=%v", r[0], r[1], r[2])
	if r[0] != 0 {
		t.Errorf("A got %v calls after its scheme lost a partition, want 0", r[0])
	}
	if n := fails.Load(); n != 0 {
		t.Fatalf("%d calls failed during the migration; first: %v", n, firstErr.Load())
	}
}

// partitionServers returns how many servers the channel of partition i of an n-partition scheme
// has, as Inspect shows it (-1 when there is no such channel).
func partitionServers(sys *actors.System, i, n int) int64 {
	target := fmt.Sprintf("→ partition://%d/%d ", i, n)
	node := sys.Inspect().Find(func(nd *actors.Node) bool { return nd.Kind == "channel" && strings.Contains(nd.State, target) })
	if node == nil {
		return -1
	}
	return node.Counters["servers"]
}
