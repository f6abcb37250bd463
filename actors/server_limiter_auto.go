package actors

import (
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/troupe-rpc/troupe/wire"
)

// The auto limiter's constants are brpc's defaults for the flags named after each, except the
// last three, which are troupe's own (see autoLimiter).
const (
	autoSampleWindow       = time.Second            // -auto_cl_sample_window_size_ms=1000
	autoMinSamples         = 100                    // -auto_cl_min_sample_count=100
	autoMaxSamples         = 200                    // -auto_cl_max_sample_count=200
	autoSamplingInterval   = 100 * time.Microsecond // -auto_cl_sampling_interval_ms=0.1
	autoInitialMax         = 40                     // -auto_cl_initial_max_concurrency=40
	autoRemeasureInterval  = 50 * time.Second       // -auto_cl_noload_latency_remeasure_interval_ms=50000
	autoEMAAlpha           = 0.1                    // -auto_cl_alpha_factor_for_ema=0.1
	autoFailPunishRatio    = 1.0                    // -auto_cl_fail_punish_ratio=1.0 (-auto_cl_enable_error_punish=true)
	autoMaxExploreRatio    = 0.3                    // -auto_cl_max_explore_ratio=0.3
	autoMinExploreRatio    = 0.06                   // -auto_cl_min_explore_ratio=0.06
	autoExploreRatioStep   = 0.02                   // -auto_cl_change_rate_of_explore_ratio=0.02
	autoRemeasureReduce    = 0.9                    // -auto_cl_reduce_ratio_while_remeasure=0.9
	autoFluctuationFactor  = 1.0                    // -auto_cl_latency_fluctuation_correction_factor=1
	autoMinConcurrency     = 4                      // troupe: the floor (brpc's is -bthread_concurrency)
	autoWarmupReduce       = 0.5                    // troupe: the reduction of a start-up remeasure
	autoWarmupRemeasures   = 8                      // troupe: at most this many start-up remeasures
	autoWarmupLatencyDrop  = 0.9                    // troupe: start-up goes on while latency falls below this ratio
	autoRemeasureLatencies = 2                      // brpc: a remeasure waits this many average latencies
)

// autoLimiter is brpc's AutoConcurrencyLimiter for one method. It samples the method's answered
// requests (at most one each autoSamplingInterval) into windows of autoSampleWindow, or of
// autoMaxSamples samples if those come first; a window with fewer than autoMinSamples samples is
// dropped. At the end of each window it updates:
//
//   - the no-load latency: the window's average latency (a failed request's latency counts,
//     punished, against the successes) when that is lower than the estimate, moved by an EMA
//     with factor autoEMAAlpha, or taken as is when there is no estimate;
//   - the peak QPS: the window's successes per second when higher than the estimate, else an EMA
//     with factor autoEMAAlpha/10;
//   - the limit: noload_latency × peak_qps × (1 + explore_ratio), where explore_ratio grows by
//     autoExploreRatioStep (up to autoMaxExploreRatio) while latency stays within
//     autoMinExploreRatio of the no-load latency or QPS is below the peak, and shrinks by the
//     same step (down to autoMinExploreRatio) otherwise.
//
// Every 25 to 50 s (half of autoRemeasureInterval plus a random part of the other half), the
// limit is cut to autoRemeasureReduce of noload_latency × peak_qps; after two average latencies
// the queue has drained, the no-load latency is forgotten, and the next window measures it
// again. A window in which every sampled request failed halves the limit. Requests refused with
// ELIMIT, here or by the handler, are not sampled.
//
// Departures from brpc: the limit never goes below autoMinConcurrency (brpc's floor is the number
// of bthread workers; handlers here run on goroutines, so the floor only keeps a method that
// fails everything serving a few requests), and the limit is rounded up, not down, so that a
// small limit can still grow by the explore ratio. A window dropped for too few samples while
// the limit refused requests doubles the limit: brpc leaves it, and a limit too low to let
// autoMinSamples requests through in a window would never be measured, or raised, again. And brpc's first remeasure comes 25 to 50 s
// after start, so a method overloaded from its start keeps a no-load latency measured under
// load, and its queue, that long; here the limiter starts by remeasuring after each window,
// cutting the limit to autoWarmupReduce of noload_latency × peak_qps each time, for as long as
// the remeasured latency falls below autoWarmupLatencyDrop of the one before (queueing went
// away with the cut), at most autoWarmupRemeasures times. Under a light load this costs a few
// windows with a low limit that nothing reaches.
type autoLimiter struct {
	max        *atomic.Int64 // the methodLimit's limit, which this sets
	rejected   *atomic.Int64 // the methodLimit's count of refused requests
	base       time.Time     // times are nanoseconds since base
	succ       atomic.Int64  // successes since the window started, sampled or not
	lastSample atomic.Int64  // when the last sampled request was answered; 0: never

	mu          sync.Mutex
	win         sampleWindow
	winRejected int64   // *rejected when the window started
	minLatency  float64 // no-load latency estimate, ns; <= 0: none
	peakQPS     float64 // peak QPS estimate; < 0: none
	explore     float64
	remeasureAt int64   // when the next periodic remeasure starts
	resumeAt    int64   // a remeasure ignores samples until then; 0: none in progress
	warmup      int     // start-up remeasures left; 0: start-up over
	warmPrevMin float64 // the no-load latency before the last start-up remeasure; 0: none
}

// sampleWindow is the sampled requests of one window.
type sampleWindow struct {
	start            int64 // when its first sample came; 0: none yet
	succ, failed     int
	succNs, failedNs int64
}

// newAutoMethodLimit returns a method limit driven by an autoLimiter, starting at brpc's initial
// limit.
func newAutoMethodLimit(name string, now time.Time) *methodLimit {
	l := &methodLimit{name: name}
	l.max.Store(autoInitialMax)
	a := &autoLimiter{max: &l.max, rejected: &l.rejected, base: now.Add(-time.Nanosecond), peakQPS: -1, minLatency: -1,
		explore: autoMaxExploreRatio, warmup: autoWarmupRemeasures}
	a.remeasureAt = nextRemeasure(a.since(now))
	l.auto = a
	return l
}

func (a *autoLimiter) since(t time.Time) int64 { return int64(t.Sub(a.base)) }

// nextRemeasure returns when the periodic remeasure after now starts.
func nextRemeasure(now int64) int64 {
	half := int64(autoRemeasureInterval / 2)
	return now + half + rand.Int64N(half)
}

// onResponded learns from a request answered at end with code (0: success) after latency.
func (a *autoLimiter) onResponded(code wire.Errno, latency time.Duration, end time.Time) {
	if code == 0 {
		a.succ.Add(1)
	} else if code == wire.ELIMIT {
		return
	}
	now := a.since(end)
	last := a.lastSample.Load()
	if last != 0 && now-last < int64(autoSamplingInterval) {
		return
	}
	if a.lastSample.CompareAndSwap(last, now) {
		a.addSample(code, int64(latency), now)
	}
}

// addSample adds one sampled request to the window, and ends the window when it is complete.
func (a *autoLimiter) addSample(code wire.Errno, latency, now int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.resumeAt != 0 {
		if now < a.resumeAt {
			return // a remeasure waits for the queue to drain
		}
		a.minLatency, a.resumeAt = -1, 0
		a.remeasureAt = nextRemeasure(now)
		a.resetWindow(now)
	}
	if a.win.start == 0 {
		a.win.start = now
	}
	if code != 0 {
		a.win.failed++
		a.win.failedNs += latency
	} else {
		a.win.succ++
		a.win.succNs += latency
	}
	n, age := a.win.succ+a.win.failed, now-a.win.start
	if n < autoMinSamples {
		if age >= int64(autoSampleWindow) {
			// Too few samples for a whole window: drop it. If the limit refused requests
			// meanwhile, it is what kept the samples too few, and would never be measured
			// again: double it.
			if a.rejected.Load() > a.winRejected {
				a.setMax(2 * float64(a.max.Load()))
			}
			a.resetWindow(now)
		}
		return
	}
	if age < int64(autoSampleWindow) && n < autoMaxSamples {
		return
	}
	if a.win.succ > 0 {
		a.update(now)
	} else {
		a.setMax(float64(a.max.Load()) / 2)
	}
	a.resetWindow(now)
}

func (a *autoLimiter) resetWindow(now int64) {
	a.succ.Store(0)
	a.win = sampleWindow{start: now}
	a.winRejected = a.rejected.Load()
}

// update ends a window with successes: it updates the estimates and sets the limit.
func (a *autoLimiter) update(now int64) {
	avg := math.Ceil((float64(a.win.failedNs)*autoFailPunishRatio + float64(a.win.succNs)) / float64(a.win.succ))
	qps := 1e9 * float64(a.succ.Load()) / float64(max(now-a.win.start, 1))
	if a.minLatency <= 0 {
		a.minLatency = avg
	} else if avg < a.minLatency {
		a.minLatency = avg*autoEMAAlpha + a.minLatency*(1-autoEMAAlpha)
	}
	if qps >= a.peakQPS {
		a.peakQPS = qps
	} else {
		a.peakQPS = qps*autoEMAAlpha/10 + a.peakQPS*(1-autoEMAAlpha/10)
	}
	noload := a.minLatency * a.peakQPS / 1e9
	if a.warmup > 0 && (a.warmPrevMin == 0 || a.minLatency < a.warmPrevMin*autoWarmupLatencyDrop) {
		a.warmup--
		a.warmPrevMin = a.minLatency
		a.remeasure(now, avg, noload*autoWarmupReduce)
		return
	}
	a.warmup = 0
	if a.remeasureAt <= now {
		a.remeasure(now, avg, noload*autoRemeasureReduce)
		return
	}
	if avg <= a.minLatency*(1+autoMinExploreRatio*autoFluctuationFactor) || qps <= a.peakQPS/(1+autoMinExploreRatio) {
		a.explore = min(autoMaxExploreRatio, a.explore+autoExploreRatioStep)
	} else {
		a.explore = max(autoMinExploreRatio, a.explore-autoExploreRatioStep)
	}
	a.setMax(noload * (1 + a.explore))
}

// remeasure cuts the limit to next and ignores samples for autoRemeasureLatencies average
// latencies; the no-load latency is measured anew after that.
func (a *autoLimiter) remeasure(now int64, avg, next float64) {
	a.resumeAt = now + int64(avg)*autoRemeasureLatencies
	a.setMax(next)
}

func (a *autoLimiter) setMax(n float64) {
	a.max.Store(max(autoMinConcurrency, int64(math.Ceil(n))))
}
