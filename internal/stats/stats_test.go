package stats

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/troupe-rpc/troupe/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestBucketsAreContiguous(t *testing.T) {
	for _, sub := range []uint{fineSub, slotSub} {
		prev := 0
		for x := uint64(1); x < 1<<20; x++ {
			i := bucketOf(x, sub)
			if i != prev && i != prev+1 {
				t.Fatalf("sub=%d: bucketOf(%d) = %d after %d, want consecutive buckets", sub, x, i, prev)
			}
			if lo, hi := lowOf(i, sub), lowOf(i+1, sub); x < lo || x >= hi {
				t.Fatalf("sub=%d: %d in bucket %d = [%d, %d)", sub, x, i, lo, hi)
			}
			prev = i
		}
	}
	if got := bucketOf(fineMax, fineSub); got != fineBuckets-1 {
		t.Fatalf("bucketOf(fineMax) = %d, want %d", got, fineBuckets-1)
	}
	if got := bucketOf(slotMax, slotSub); got != slotBuckets-1 {
		t.Fatalf("bucketOf(slotMax) = %d, want %d", got, slotBuckets-1)
	}
}

// exact returns the q-quantile of sorted samples, as summarize ranks them.
func exact(sorted []time.Duration, q float64) time.Duration {
	return sorted[rank(q, int64(len(sorted)))-1]
}

func within(t *testing.T, name string, got, want time.Duration, rel float64, floor time.Duration) {
	t.Helper()
	if d := math.Abs(float64(got - want)); d > rel*float64(want)+float64(floor) {
		t.Errorf("%s = %v, want %v within %.1f%%", name, got, want, rel*100)
	}
}

func samples(n int) []time.Duration {
	r := rand.New(rand.NewPCG(1, 2))
	out := make([]time.Duration, n)
	for i := range out {
		// log-uniform from 1 µs to 10 s, as latencies spread
		out[i] = time.Duration(math.Exp(math.Log(1e3) + r.Float64()*math.Log(1e7)))
	}
	return out
}

func TestLatencyAccuracyAgainstSortedSamples(t *testing.T) {
	sec := int64(1000)
	l := NewLatencyClock(func() int64 { return sec })
	xs := samples(20000)
	var sum time.Duration
	for _, d := range xs {
		l.Record(d, false)
		sum += d
	}
	sorted := slices.Clone(xs)
	slices.Sort(sorted)
	s := l.Snapshot()
	for _, c := range []struct {
		name  string
		sum   Summary
		width float64 // a bucket's relative width
		floor time.Duration
	}{
		{"Total", s.Total, 1.0 / (1 << fineSub), 0},
		{"LastMinute", s.LastMinute, 1.0 / (1 << slotSub), slotUnit},
	} {
		if c.sum.Count != int64(len(xs)) {
			t.Fatalf("%s.Count = %d, want %d", c.name, c.sum.Count, len(xs))
		}
		if c.sum.Max != sorted[len(sorted)-1] {
			t.Errorf("%s.Max = %v, want %v", c.name, c.sum.Max, sorted[len(sorted)-1])
		}
		within(t, c.name+".Mean", c.sum.Mean, sum/time.Duration(len(xs)), 1e-9, 1)
		within(t, c.name+".P50", c.sum.P50, exact(sorted, 0.5), c.width, c.floor)
		within(t, c.name+".P90", c.sum.P90, exact(sorted, 0.9), c.width, c.floor)
		within(t, c.name+".P99", c.sum.P99, exact(sorted, 0.99), c.width, c.floor)
		within(t, c.name+".P999", c.sum.P999, exact(sorted, 0.999), c.width, c.floor)
	}
	last := s.PerSecond[len(s.PerSecond)-1]
	if last.Start != sec || last.Calls != int64(len(xs)) {
		t.Fatalf("PerSecond[last] = %+v, want second %d with %d calls", last, sec, len(xs))
	}
	within(t, "PerSecond[last].P99", last.P99, exact(sorted, 0.99), 1.0/(1<<slotSub), slotUnit)
}

func TestLatencyExtremes(t *testing.T) {
	l := NewLatency()
	l.Record(-time.Second, false)
	l.Record(0, false)
	l.Record(300*time.Second, true)
	s := l.Snapshot()
	if s.Total.Count != 3 || s.Total.Max != 300*time.Second || s.Total.P50 != 0 {
		t.Fatalf("Total = %+v, want 3 calls, P50 0, Max 300s", s.Total)
	}
	if s.Total.P999 != 300*time.Second && s.Total.P999 < 100*time.Second {
		t.Fatalf("Total.P999 = %v, want the longest bucket", s.Total.P999)
	}
	if (Summary{}) != NewLatency().Snapshot().Total {
		t.Fatalf("an empty Latency's Total is not zero")
	}
}

func TestRingAdvancesWithTheClock(t *testing.T) {
	var sec atomic.Int64
	sec.Store(5000)
	l := NewLatencyClock(sec.Load)
	l.Record(time.Millisecond, false)
	l.Record(3*time.Millisecond, true)
	sec.Add(1)
	l.Record(2*time.Millisecond, false)
	s := l.Snapshot()
	if len(s.PerSecond) != Window {
		t.Fatalf("len(PerSecond) = %d, want %d", len(s.PerSecond), Window)
	}
	a, b := s.PerSecond[Window-2], s.PerSecond[Window-1]
	if a.Start != 5000 || a.Calls != 2 || a.Errors != 1 || a.Mean != 2*time.Millisecond || a.Max != 3*time.Millisecond {
		t.Fatalf("second 5000 = %+v, want 2 calls, 1 error, mean 2ms, max 3ms", a)
	}
	if b.Start != 5001 || b.Calls != 1 || b.Errors != 0 {
		t.Fatalf("second 5001 = %+v, want 1 call", b)
	}
	if s.LastMinute.Count != 3 {
		t.Fatalf("LastMinute.Count = %d, want 3", s.LastMinute.Count)
	}

	sec.Add(Window - 1) // second 5000 leaves the window, 5001 is the oldest
	if s := l.Snapshot(); s.LastMinute.Count != 1 || s.PerSecond[0].Start != 5001 || s.PerSecond[0].Calls != 1 {
		t.Fatalf("a minute later: LastMinute.Count = %d, PerSecond[0] = %+v, want 1 call in 5001", s.LastMinute.Count, s.PerSecond[0])
	}
	sec.Add(Window) // the slot of 5001 is reused for 5121 by the next record
	l.Record(time.Millisecond, false)
	s = l.Snapshot()
	if s.LastMinute.Count != 1 || s.Total.Count != 4 || s.PerSecond[Window-1].Calls != 1 {
		t.Fatalf("two minutes later: LastMinute.Count = %d, Total.Count = %d, want 1 and 4", s.LastMinute.Count, s.Total.Count)
	}
	var calls int64
	for _, x := range s.PerSecond {
		calls += x.Calls
	}
	if calls != 1 {
		t.Fatalf("calls over PerSecond = %d, want 1 (old slots must not count)", calls)
	}
}

func TestErrorsByCode(t *testing.T) {
	var e Errors
	if e.Snapshot() != nil {
		t.Fatalf("empty Errors.Snapshot() != nil")
	}
	for range 3 {
		e.Add(wire.ELIMIT)
	}
	e.Add(wire.ERPCTIMEDOUT)
	e.Add(0)
	for c := range errorSlots + 5 {
		e.Add(wire.Errno(5000 + c))
	}
	m := e.Snapshot()
	if m[wire.ELIMIT] != 3 || m[wire.ERPCTIMEDOUT] != 1 || m[wire.EINTERNAL] != 1 {
		t.Fatalf("Snapshot() = %v, want ELIMIT:3 ERPCTIMEDOUT:1 EINTERNAL:1", m)
	}
	var total int64
	for _, n := range m {
		total += n
	}
	if total != 3+1+1+errorSlots+5 || m[OtherErrors] != 3+5 {
		t.Fatalf("Snapshot() = %v: total %d, other %d, want %d and %d", m, total, m[OtherErrors], 3+1+1+errorSlots+5, 8)
	}
}

func TestMethodCountsConcurrently(t *testing.T) {
	tb := NewTable(nil, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				m := tb.Get([]string{"a", "b"}[g%2])
				m.Begin()
				code := wire.Errno(0)
				if i%10 == 0 {
					code = wire.ERPCTIMEDOUT
				}
				m.Retried(1, i%100 == 0)
				m.End(time.Duration(i)*time.Microsecond, code)
			}
		}()
	}
	wg.Wait()
	snap := tb.Snapshot()
	if len(snap) != 2 || snap[0].Name != "a" || snap[1].Name != "b" {
		t.Fatalf("Snapshot() = %d methods, want a and b", len(snap))
	}
	for _, s := range snap {
		if s.Calls != 4000 || s.InFlight != 0 || s.Errors[wire.ERPCTIMEDOUT] != 400 || s.Retries != 4000 || s.Backups != 40 || s.Latency.Total.Count != 4000 {
			t.Fatalf("%s = calls %d in flight %d errors %v retries %d backups %d count %d", s.Name, s.Calls, s.InFlight, s.Errors, s.Retries, s.Backups, s.Latency.Total.Count)
		}
	}
}

func TestTableBoundsMethods(t *testing.T) {
	tb := NewTable(nil, nil)
	for i := range MaxMethods + 10 {
		tb.Get(string(rune('a'+i%26))+string(rune(i))).Done(time.Millisecond, 0)
	}
	snap := tb.Snapshot()
	if len(snap) != MaxMethods+1 {
		t.Fatalf("methods = %d, want %d", len(snap), MaxMethods+1)
	}
	for _, s := range snap {
		if s.Name == OtherMethods && s.Calls != 10 {
			t.Fatalf("%s.Calls = %d, want 10", OtherMethods, s.Calls)
		}
	}
	tb.Get(OtherMethods).Reject(wire.ELIMIT)
}

func BenchmarkMethodEnd(b *testing.B) {
	m := NewMethod("m", nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		d := time.Duration(1)
		for pb.Next() {
			m.Begin()
			d = d*7%9_999_991 + 1000
			m.End(d, 0)
		}
	})
}

func BenchmarkTableGet(b *testing.B) {
	tb := NewTable(nil, nil)
	tb.Get("example.EchoService.Echo")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tb.Get("example.EchoService.Echo")
		}
	})
}

// BenchmarkMethodEndAt is what a call's end costs when the caller knows the second already.
func BenchmarkMethodEndAt(b *testing.B) {
	m := NewMethod("m", nil)
	sec := time.Now().Unix()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		d := time.Duration(1)
		for pb.Next() {
			m.Begin()
			d = d*7%9_999_991 + 1000
			m.EndAt(sec, d, 0)
		}
	})
}

// A method never called costs its histogram only: the ring of seconds comes with the first call.
func TestLatencyRingIsMadeByTheFirstCall(t *testing.T) {
	l := NewLatencyClock(func() int64 { return 1000 })
	if l.ring.Load() != nil {
		t.Fatal("a new Latency has its ring already")
	}
	snap := l.Snapshot()
	if len(snap.PerSecond) != Window || snap.PerSecond[Window-1].Start != 1000 || snap.LastMinute.Count != 0 {
		t.Fatalf("an unused Latency's snapshot: %d seconds, last %+v, minute %+v", len(snap.PerSecond), snap.PerSecond[Window-1], snap.LastMinute)
	}
	if l.ring.Load() != nil {
		t.Fatal("Snapshot made the ring")
	}
	l.Record(time.Millisecond, false)
	if l.ring.Load() == nil {
		t.Fatal("recording a call made no ring")
	}
	if snap := l.Snapshot(); snap.PerSecond[Window-1].Calls != 1 || snap.LastMinute.Count != 1 {
		t.Fatalf("after a call: last second %+v, minute %+v", snap.PerSecond[Window-1], snap.LastMinute)
	}
}
