package actors

import (
	"math"
	"sync"
	"time"

	"github.com/troupe-rpc/troupe/wire"
)

// The circuit breaker is brpc's: each server connection keeps two exponential moving averages of
// the cost of errors relative to the latency of successes, a long window that tolerates a low
// error rate and a short one that reacts to a burst. When either says the error rate is too
// high, the server is isolated — its connection closed, load balancers skip it — and health
// checking brings it back after an isolation time that doubles when it breaks again soon.
// Channels opt in with ChannelOptions.EnableCircuitBreaker; the state belongs to the socket, so
// every opted-in channel of the System feeds and sees the same breaker.

// breakerParams are the tunables, with brpc's defaults in defaultBreakerParams; a System takes
// them from SystemOptions.CircuitBreaker.
type breakerParams struct {
	longWindow, shortWindow int     // samples
	longPct, shortPct       float64 // tolerated error rate, percent
	minIsolation            time.Duration
	maxIsolation            time.Duration
	minErrorCost            time.Duration // error cost below this decays to zero at a success
	maxFailedLatencyMult    float64       // an error costs at most this many mean latencies
	halfOpenWindow          int           // attempts after a reset that must all succeed; 0: off
}

func defaultBreakerParams() breakerParams {
	return breakerParams{longWindow: 3000, shortWindow: 1500, longPct: 5, shortPct: 10,
		minIsolation: 100 * time.Millisecond, maxIsolation: 30 * time.Second,
		minErrorCost: 500 * time.Microsecond, maxFailedLatencyMult: 2}
}

const breakerEpsilon = 0.02

// emaRecorder is one window of the breaker.
type emaRecorder struct {
	window     int
	pct        float64
	alpha      float64
	samples    int     // samples seen, counted up to the window (warm-up)
	warmErrors int     // errors during warm-up
	latency    float64 // EMA of successful latencies, µs; 0 until the first success
	errorCost  float64 // EMA of error costs, µs
	minCost    float64
	maxMult    float64
}

func newRecorder(window int, pct float64, p breakerParams) emaRecorder {
	return emaRecorder{window: window, pct: pct, alpha: math.Pow(breakerEpsilon, 1/float64(window)),
		minCost: float64(p.minErrorCost.Microseconds()), maxMult: p.maxFailedLatencyMult}
}

// add records one attempt and reports whether the error rate is still tolerable.
func (r *emaRecorder) add(failed bool, latencyUs float64) bool {
	if r.samples < r.window {
		r.samples++
		if failed {
			if float64(r.warmErrors) >= float64(r.window)*r.pct/100 {
				return false
			}
			r.warmErrors++
		}
	}
	if !failed {
		if r.latency == 0 {
			r.latency = latencyUs
		} else {
			r.latency = r.latency*r.alpha + latencyUs*(1-r.alpha)
		}
		if r.errorCost < r.minCost {
			r.errorCost = 0
		} else {
			r.errorCost *= r.alpha
		}
		return true
	}
	cost := latencyUs
	if r.latency > 0 {
		cost = math.Min(latencyUs, r.maxMult*r.latency)
	}
	r.errorCost += cost
	limit := r.latency * float64(r.window) * r.pct / 100 * (1 + breakerEpsilon)
	return r.latency == 0 || r.errorCost <= limit
}

// breaker is a socket's circuit breaker. It is safe for concurrent use: calls feed it from their
// own actors.
type breaker struct {
	mu         sync.Mutex
	params     breakerParams
	long       emaRecorder
	short      emaRecorder
	broken     bool
	isolation  time.Duration // of the current or last break
	lastReset  time.Time
	lastBroken time.Time
	halfOpen   int // attempts left that must succeed, after a reset with a half-open window
}

func newBreaker(p breakerParams) *breaker {
	b := &breaker{params: p, isolation: p.minIsolation}
	b.long, b.short = newRecorder(p.longWindow, p.longPct, p), newRecorder(p.shortWindow, p.shortPct, p)
	return b
}

// feed records an attempt's outcome. It returns true exactly when this outcome broke the circuit;
// the caller then isolates the server for isolationTime(). ELIMIT (a server shedding load on
// purpose) is not counted, nor is EHOSTDOWN: an attempt refused because the server is isolated
// says nothing new about it (in brpc such attempts never reach the server's socket).
func (b *breaker) feed(code wire.Errno, latency time.Duration) (tripped bool) {
	if code == wire.ELIMIT || code == wire.EHOSTDOWN {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.broken {
		return false
	}
	us := float64(latency.Microseconds())
	failed := code != 0
	if b.halfOpen > 0 {
		if failed {
			b.halfOpen = 0
			b.trip(time.Now())
			return true
		}
		b.halfOpen--
	}
	okLong := b.long.add(failed, us)
	okShort := b.short.add(failed, us)
	if okLong && okShort {
		return false
	}
	b.trip(time.Now())
	return true
}

// trip marks the breaker broken and sets the isolation time: doubled when the last reset was
// recent, back to the minimum otherwise.
func (b *breaker) trip(now time.Time) {
	b.broken = true
	if !b.lastBroken.IsZero() && now.Sub(b.lastReset) < b.params.maxIsolation {
		b.isolation = min(2*b.isolation, b.params.maxIsolation)
	} else {
		b.isolation = b.params.minIsolation
	}
	b.lastBroken = now
}

// isolationTime returns how long the server stays isolated after its last break.
func (b *breaker) isolationTime() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.isolation
}

// reset closes the circuit again after the server was revived, with fresh windows.
func (b *breaker) reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.broken {
		return
	}
	b.broken = false
	b.lastReset = time.Now()
	b.halfOpen = b.params.halfOpenWindow
	b.long = newRecorder(b.params.longWindow, b.params.longPct, b.params)
	b.short = newRecorder(b.params.shortWindow, b.params.shortPct, b.params)
}
