package actors

import (
	"fmt"
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Defaults of [PercentileBackupOptions].
const (
	DefaultBackupPercentile   = 0.99
	DefaultBackupMaxExtraLoad = 0.05
	DefaultBackupReserve      = 10
	DefaultBackupMinSamples   = 100
)

// PercentileBackupOptions configures [PercentileBackup]. The zero value of a field means its
// default. brpc has no such policy; these follow Finagle's backup requests
// (BackupRequestFilter: maxExtraLoad, a percentile of the measured latency).
type PercentileBackupOptions struct {
	// Percentile of the channel's latency after which a call sends its backup request, in
	// (0, 1). 0 means DefaultBackupPercentile (0.99): about one call in a hundred is slow enough.
	Percentile float64
	// MaxExtraLoad bounds the backup requests as a share of the channel's calls, in (0, 1]: each
	// call that ends adds MaxExtraLoad to a budget, each backup request takes 1 from it. 0 means
	// DefaultBackupMaxExtraLoad (0.05, 5% more requests).
	MaxExtraLoad float64
	// Reserve is what the budget holds when the channel is new, and the most it ever holds: a
	// cold channel can send this many backup requests before its calls earned any, and no burst
	// of backup requests is larger. 0 means DefaultBackupReserve (10); at least 1.
	Reserve int
	// MinSamples is how many successful calls the channel measures before it trusts its
	// percentile. 0 means DefaultBackupMinSamples (100).
	MinSamples int
	// Fallback is the delay used until MinSamples calls were measured. 0 (the default) means no
	// backup requests until then.
	Fallback time.Duration
}

// PercentileBackupPolicy is the [BackupPolicy] [PercentileBackup] makes.
//
// The algorithm. OnCallEnd adds each successful call's latency to a histogram of 272
// logarithmic buckets (8 per power of two of microseconds, so a bucket is at most 12.5% wide,
// up to 19 hours) held in atomic counters, and adds MaxExtraLoad to a token bucket held in an
// atomic integer (in millionths of a token), capped at Reserve. Every 64th sample, the call that
// took it walks the histogram once, stores the upper bound of the bucket where Percentile of the
// samples is reached as the delay, and, when the histogram holds more than 2048 samples, halves
// every bucket, so that the percentile follows the last few thousand calls rather than all of
// them. Delay reads the stored delay (Fallback, or none, before MinSamples successes); DoBackup
// takes one token from the bucket, or answers false when it holds less than one. The hot path
// is thus a few atomic operations and never allocates; the walk costs 272 atomic loads once per
// 64 calls.
//
// Over n calls a channel sends at most Reserve + MaxExtraLoad·n backup requests.
type PercentileBackupPolicy struct {
	opts     PercentileBackupOptions
	deposit  int64 // MaxExtraLoad, in millionths of a token
	capacity int64 // Reserve, in millionths of a token
	tokens   atomic.Int64
	delay    atomic.Int64 // the latest percentile, in nanoseconds; 0 before MinSamples samples
	samples  atomic.Int64 // successful calls measured, ever
	held     atomic.Int64 // samples in the histogram, after the halvings
	walking  atomic.Bool
	buckets  [latencyBuckets]atomic.Int64
}

const (
	tokenUnit      = 1_000_000 // millionths of a token
	latencyBuckets = 34 * 8    // covers microseconds below 2^36
	maxLatencyUs   = 1<<36 - 1
	walkEvery      = 64   // samples between two walks of the histogram
	halveAbove     = 2048 // samples the histogram holds before a walk halves it
)

// PercentileBackup returns a backup policy that sends a call's backup request once it waited
// longer than Percentile of the channel's recent calls, within a budget of MaxExtraLoad extra
// requests (see [PercentileBackupPolicy] for the algorithm). Give each channel a policy of its
// own: it measures the channel it serves. It returns an error naming a field out of range.
func PercentileBackup(opts PercentileBackupOptions) (*PercentileBackupPolicy, error) {
	o := opts
	if o.Percentile == 0 {
		o.Percentile = DefaultBackupPercentile
	}
	if !(o.Percentile > 0 && o.Percentile < 1) {
		return nil, fmt.Errorf("troupe: PercentileBackupOptions.Percentile = %v, want in (0, 1)", opts.Percentile)
	}
	if o.MaxExtraLoad == 0 {
		o.MaxExtraLoad = DefaultBackupMaxExtraLoad
	}
	if !(o.MaxExtraLoad > 0 && o.MaxExtraLoad <= 1) {
		return nil, fmt.Errorf("troupe: PercentileBackupOptions.MaxExtraLoad = %v, want in (0, 1]", opts.MaxExtraLoad)
	}
	if o.Reserve == 0 {
		o.Reserve = DefaultBackupReserve
	}
	if o.Reserve < 0 || o.Reserve > 1_000_000 {
		return nil, fmt.Errorf("troupe: PercentileBackupOptions.Reserve = %d, want in [1, 1000000]", opts.Reserve)
	}
	if o.MinSamples == 0 {
		o.MinSamples = DefaultBackupMinSamples
	}
	if o.MinSamples < 0 {
		return nil, fmt.Errorf("troupe: PercentileBackupOptions.MinSamples = %d, want > 0", opts.MinSamples)
	}
	if o.Fallback < 0 {
		return nil, fmt.Errorf("troupe: PercentileBackupOptions.Fallback = %v, want >= 0", opts.Fallback)
	}
	p := &PercentileBackupPolicy{opts: o, deposit: int64(math.Round(o.MaxExtraLoad * tokenUnit)),
		capacity: int64(o.Reserve) * tokenUnit}
	p.tokens.Store(p.capacity)
	return p, nil
}

// Delay returns the channel's latency percentile, or Fallback before MinSamples calls succeeded.
func (p *PercentileBackupPolicy) Delay(*Controller) time.Duration {
	if d := p.delay.Load(); d > 0 {
		return time.Duration(d)
	}
	return p.opts.Fallback
}

// DoBackup takes a token from the budget, and reports false when it has none.
func (p *PercentileBackupPolicy) DoBackup(*Controller) bool {
	for {
		t := p.tokens.Load()
		if t < tokenUnit {
			return false
		}
		if p.tokens.CompareAndSwap(t, t-tokenUnit) {
			return true
		}
	}
}

// OnCallEnd adds MaxExtraLoad to the budget and, for a successful call, its latency to the
// histogram.
func (p *PercentileBackupPolicy) OnCallEnd(cntl *Controller) {
	for {
		t := p.tokens.Load()
		n := min(t+p.deposit, p.capacity)
		if n == t || p.tokens.CompareAndSwap(t, n) {
			break
		}
	}
	if cntl != nil && !cntl.Failed() {
		p.observe(cntl.Latency())
	}
}

// observe adds a latency to the histogram, and walks it every walkEvery samples once MinSamples
// were taken.
func (p *PercentileBackupPolicy) observe(d time.Duration) {
	p.buckets[latencyBucket(d)].Add(1)
	p.held.Add(1)
	n := p.samples.Add(1)
	if least := int64(p.opts.MinSamples); n == least || (n > least && n%walkEvery == 0) {
		p.walk()
	}
}

// walk stores the histogram's percentile as the delay, and halves the histogram when it holds
// more than halveAbove samples. One walk runs at a time; a sample that finds one running skips
// its own.
func (p *PercentileBackupPolicy) walk() {
	if !p.walking.CompareAndSwap(false, true) {
		return
	}
	defer p.walking.Store(false)
	var total int64
	for i := range p.buckets {
		total += p.buckets[i].Load()
	}
	if total == 0 {
		return
	}
	want := int64(math.Ceil(p.opts.Percentile * float64(total)))
	var seen int64
	for i := range p.buckets {
		if seen += p.buckets[i].Load(); seen >= want {
			p.delay.Store(int64(bucketTop(i)))
			break
		}
	}
	if p.held.Load() > halveAbove {
		var removed int64
		for i := range p.buckets {
			half := p.buckets[i].Load() / 2
			p.buckets[i].Add(-half) // samples arriving meanwhile stay
			removed += half
		}
		p.held.Add(-removed)
	}
}

// latencyBucket returns the histogram bucket of a latency: microseconds below 8 have a bucket
// each, then every power of two has 8 buckets of equal width.
func latencyBucket(d time.Duration) int {
	us := min(max(d.Microseconds(), 0), maxLatencyUs)
	if us < 8 {
		return int(us)
	}
	shift := bits.Len64(uint64(us)) - 4 // us>>shift is in [8, 16)
	return shift*8 + int(us>>shift)
}

// bucketTop returns the upper bound of bucket i: the largest latency it holds, rounded up to the
// next microsecond.
func bucketTop(i int) time.Duration {
	if i < 8 {
		return time.Duration(i+1) * time.Microsecond
	}
	shift := i/8 - 1
	mantissa := int64(i - shift*8)
	return time.Duration((mantissa+1)<<shift) * time.Microsecond
}
