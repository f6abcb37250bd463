package combo_test

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
// servers and a real file edited while calls run.
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
	d, err := combo.NewDynamicPartitionChannel(sys, combo.SlashParser{}, "file://"+path, &combo.PartitionOptions{FailLimit: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	waitFor(t, "both schemes", func() bool { s := d.Schemes(); return s[3] == 1 && s[4] == 1 })

	var fails atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := d.Call(context.Background(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); err != nil {
					fails.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()
	measure := func() [3]float64 {
		var before [3]int64
		for i, s := range svcs {
			before[i] = s.Requests()
		}
		time.Sleep(1500 * time.Millisecond)
		var got [3]float64
		for i, s := range svcs {
			got[i] = float64(s.Requests() - before[i])
		}
		return got
	}
	// Schemes are picked at random per call: over the few thousand calls of a window the
	// ratio's standard deviation is about 3%, so 15% tells a wrong weighting from chance.
	within := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want)/want > 0.15 {
			t.Errorf("%s = %.3f, want %.3f ± 15%%", what, got, want)
		}
	}
	time.Sleep(200 * time.Millisecond)
	r := measure()
	t.Logf("stage 1 (3 partitions on A, 4 on B): A=%v B=%v C=%v", r[0], r[1], r[2])
	within("B/A", r[1]/r[0], 4.0/3)

	writeList(t, path, append(stage1, c+" 0/4", c+" 1/4", c+" 2/4", c+" 3/4")...)
	waitFor(t, "C in the 4-partition scheme", func() bool { return d.Schemes()[4] == 2 })
	time.Sleep(300 * time.Millisecond)
	r = measure()
	t.Logf("stage 2 (C joins the 4 partitions): A=%v B=%v C=%v", r[0], r[1], r[2])
	within("B/A", r[1]/r[0], 4.0/3)
	within("C/A", r[2]/r[0], 4.0/3)

	writeList(t, path, a+" 0/3", a+" 1/3", "# "+a+" 2/3", b+" 0/4", b+" 1/4", b+" 2/4", b+" 3/4",
		c+" 0/4", c+" 1/4", c+" 2/4", c+" 3/4")
	waitFor(t, "the 3-partition scheme to lose its capacity", func() bool { return d.Schemes()[3] == 0 })
	time.Sleep(300 * time.Millisecond)
	r = measure()
	t.Logf("stage 3 (A's 2/3 commented out): A=%v B=%v C=%v", r[0], r[1], r[2])
	if r[0] != 0 {
		t.Errorf("A got %v calls after its scheme lost a partition, want 0", r[0])
	}
	if n := fails.Load(); n != 0 {
		t.Fatalf("%d calls failed during the migration; first: %v", n, firstErr.Load())
	}
	_ = fmt.Sprint()
}
