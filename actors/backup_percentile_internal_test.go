package actors

import (
	"strings"
	"testing"
	"time"
)

func TestLatencyBuckets(t *testing.T) {
	prev := -1
	for us := int64(0); us < 1<<20; us += 1 + us/64 {
		d := time.Duration(us) * time.Microsecond
		i := latencyBucket(d)
		if i < prev || i >= latencyBuckets {
			t.Fatalf("latencyBucket(%v) = %d after %d, want non-decreasing and < %d", d, i, prev, latencyBuckets)
		}
		prev = i
		top := bucketTop(i)
		if top <= d || (us >= 8 && float64(top-d) > 0.125*float64(d)+float64(time.Microsecond)) {
			t.Fatalf("bucketTop(latencyBucket(%v)) = %v, want above it by at most 12.5%%", d, top)
		}
	}
	if i := latencyBucket(1000 * time.Hour); i != latencyBuckets-1 {
		t.Errorf("latencyBucket(1000h) = %d, want the last bucket %d", i, latencyBuckets-1)
	}
	if i := latencyBucket(-time.Second); i != 0 {
		t.Errorf("latencyBucket(-1s) = %d, want 0", i)
	}
}

func TestPercentileBackupDelay(t *testing.T) {
	for _, tc := range []struct {
		percentile float64
		lo, hi     time.Duration
	}{
		{0.8, time.Millisecond, time.Millisecond * 9 / 8},
		{0.95, 100 * time.Millisecond, 100 * time.Millisecond * 9 / 8},
	} {
		p, err := PercentileBackup(PercentileBackupOptions{Percentile: tc.percentile, MinSamples: 500, Fallback: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 499 {
			if d := p.Delay(nil); d != time.Second {
				t.Fatalf("after %d samples: Delay() = %v, want the fallback 1s", i, d)
			}
			p.observe(sample(i))
		}
		for i := 499; i < 5000; i++ { // beyond halveAbove: the histogram is halved on the way
			p.observe(sample(i))
		}
		if d := p.Delay(nil); d < tc.lo || d > tc.hi {
			t.Errorf("Percentile %v of 90%% 1ms and 10%% 100ms: Delay() = %v, want in [%v, %v]", tc.percentile, d, tc.lo, tc.hi)
		}
		if held := p.held.Load(); held > 2*halveAbove {
			t.Errorf("the histogram holds %d samples, want at most %d", held, 2*halveAbove)
		}
	}
}

// sample is the latency of call i: 1 in 10 is slow.
func sample(i int) time.Duration {
	if i%10 == 0 {
		return 100 * time.Millisecond
	}
	return time.Millisecond
}

func TestPercentileBackupBudget(t *testing.T) {
	p, err := PercentileBackup(PercentileBackupOptions{MaxExtraLoad: 0.5, Reserve: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if !p.DoBackup(nil) {
			t.Fatalf("DoBackup() #%d of a new policy = false, want true (Reserve 3)", i+1)
		}
	}
	if p.DoBackup(nil) {
		t.Fatal("DoBackup() with the reserve spent = true, want false")
	}
	p.OnCallEnd(nil)
	if p.DoBackup(nil) {
		t.Fatal("DoBackup() after one call at MaxExtraLoad 0.5 = true, want false")
	}
	p.OnCallEnd(nil)
	if !p.DoBackup(nil) {
		t.Fatal("DoBackup() after two calls at MaxExtraLoad 0.5 = false, want true")
	}
	for range 100 {
		p.OnCallEnd(nil)
	}
	n := 0
	for p.DoBackup(nil) {
		n++
	}
	if n != 3 {
		t.Errorf("after 100 calls: %d backups allowed, want Reserve = 3 (the most the budget holds)", n)
	}
}

func TestPercentileBackupOptions(t *testing.T) {
	for _, tc := range []struct {
		o     PercentileBackupOptions
		field string
	}{
		{PercentileBackupOptions{Percentile: 1}, "Percentile"},
		{PercentileBackupOptions{Percentile: -0.5}, "Percentile"},
		{PercentileBackupOptions{MaxExtraLoad: 1.5}, "MaxExtraLoad"},
		{PercentileBackupOptions{MaxExtraLoad: -0.1}, "MaxExtraLoad"},
		{PercentileBackupOptions{Reserve: -1}, "Reserve"},
		{PercentileBackupOptions{MinSamples: -1}, "MinSamples"},
		{PercentileBackupOptions{Fallback: -time.Second}, "Fallback"},
	} {
		if _, err := PercentileBackup(tc.o); err == nil || !strings.Contains(err.Error(), "PercentileBackupOptions."+tc.field) {
			t.Errorf("PercentileBackup(%+v) = %v, want an error naming %s", tc.o, err, tc.field)
		}
	}
	p, err := PercentileBackup(PercentileBackupOptions{})
	if err != nil {
		t.Fatalf("PercentileBackup(zero options) = %v", err)
	}
	if p.opts.Percentile != DefaultBackupPercentile || p.opts.MaxExtraLoad != DefaultBackupMaxExtraLoad ||
		p.opts.Reserve != DefaultBackupReserve || p.opts.MinSamples != DefaultBackupMinSamples || p.opts.Fallback != 0 {
		t.Errorf("PercentileBackup(zero options) took %+v, want the defaults", p.opts)
	}
	if d := p.Delay(nil); d != 0 {
		t.Errorf("a new policy without Fallback: Delay() = %v, want 0 (no backups)", d)
	}
}
