package stats

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Buckets are log-linear (HDR-like): values below 2<<sub have a bucket each; above, every power
// of two is split into 1<<sub buckets of equal width, so a bucket is at most 1/(1<<sub) of its
// lower bound wide.

// bucketOf returns the bucket of x for sub sub-bucket bits.
func bucketOf(x uint64, sub uint) int {
	n := bits.Len64(x)
	if n <= int(sub)+1 {
		return int(x)
	}
	s := uint(n) - sub - 1
	return int(s<<sub) + int(x>>s)
}

// lowOf returns the smallest value of bucket i for sub sub-bucket bits.
func lowOf(i int, sub uint) uint64 {
	if i < 2<<sub {
		return uint64(i)
	}
	s := uint(i>>sub) - 1
	return uint64(i-int(s<<sub)) << s
}

// midOf returns the middle of bucket i: the value a percentile falling in it reports.
func midOf(i int, sub uint) uint64 {
	lo, hi := lowOf(i, sub), lowOf(i+1, sub)
	return lo + (hi-lo-1)/2
}

// Histogram precision: 32 buckets per power of two (at most 3.1 % wide, a reported percentile
// within 1.6 % of the true one) over nanoseconds, up to 2^37 ns (137 s); longer latencies count
// in the last bucket, and Max keeps their exact value.
const (
	fineSub     = 5
	fineMax     = 1<<37 - 1
	fineBuckets = (37-fineSub-1)<<fineSub + 2<<fineSub
)

// Histogram counts latencies since it was made. The zero value is ready; it must not be copied.
type Histogram struct {
	count   atomic.Int64
	sum     atomic.Int64 // nanoseconds
	max     atomic.Int64
	buckets [fineBuckets]atomic.Int64
}

// Record counts d; a negative d counts as 0.
func (h *Histogram) Record(d time.Duration) {
	ns := max(int64(d), 0)
	h.buckets[bucketOf(uint64(min(ns, fineMax)), fineSub)].Add(1)
	h.count.Add(1)
	h.sum.Add(ns)
	storeMax(&h.max, ns)
}

// storeMax raises m to v if v is larger.
func storeMax(m *atomic.Int64, v int64) {
	for {
		cur := m.Load()
		if v <= cur || m.CompareAndSwap(cur, v) {
			return
		}
	}
}

// Snapshot returns the histogram's summary.
func (h *Histogram) Snapshot() Summary {
	var counts [fineBuckets]int64
	for i := range h.buckets {
		counts[i] = h.buckets[i].Load()
	}
	return summarize(counts[:], fineSub, h.sum.Load(), h.max.Load(), 1)
}

// Summary describes a set of latencies. A percentile is the middle of the bucket it falls in,
// never above Max.
type Summary struct {
	Count                          int64
	Mean, P50, P90, P99, P999, Max time.Duration
}

// summarize computes a Summary from bucket counts; unit is the duration of one bucket unit.
func summarize(counts []int64, sub uint, sum, maxV int64, unit time.Duration) Summary {
	var total int64
	for _, c := range counts {
		total += c
	}
	if total == 0 {
		return Summary{}
	}
	s := Summary{Count: total, Mean: time.Duration(sum / total), Max: time.Duration(maxV)}
	qs := [...]float64{0.5, 0.9, 0.99, 0.999}
	out := [...]*time.Duration{&s.P50, &s.P90, &s.P99, &s.P999}
	var seen int64
	q := 0
	for i, c := range counts {
		seen += c
		for q < len(qs) && seen >= rank(qs[q], total) {
			*out[q] = min(time.Duration(midOf(i, sub))*unit, s.Max)
			q++
		}
		if q == len(qs) {
			break
		}
	}
	return s
}

// rank returns how many of total values are at or below the q-quantile (at least 1).
func rank(q float64, total int64) int64 {
	return max(int64(math.Ceil(q*float64(total))), 1)
}
