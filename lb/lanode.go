package lb

import (
	"math"
	"sync"
	"sync/atomic"
)

const (
	laScale        = math.MaxInt64 / 72_000_000 / 127 // brpc's WEIGHT_SCALE ≈ 1.0e9
	laMinWeight    = 1000                             // brpc's -min_weight
	laMinShare     = 100                              // a weight is at least the mean / laMinShare
	laMaxWeight    = 1 << 48                          // so that 2^15 servers cannot overflow the total
	laWindow       = 128                              // samples kept per server
	punishInflight = 1.5                              // brpc's -punish_inflight_ratio
	punishError    = 1.2                              // brpc's -punish_error_ratio
)

// laSample is one entry of a server's window: the latency summed over every sample pushed so
// far, and when this one ended, in microseconds since the balancer's epoch.
type laSample struct {
	cumLatency int64
	end        int64
}

// laNode is what la learned about one address. It outlives snapshots: a Build keeps the nodes
// of the addresses it keeps. Pick reads the atomics; Feedback updates the window under mu.
type laNode struct {
	base     atomic.Int64 // weight from the window, before in-flight punishment
	latency  atomic.Int64 // mean latency in µs; 0 before the first sample
	inflight atomic.Int64 // attempts picked and not yet fed back
	beginSum atomic.Int64 // sum of their begin times, µs since epoch

	mu     sync.Mutex
	window [laWindow]laSample
	head   int // index of the oldest sample
	size   int
}

func newLANode(base int64) *laNode {
	n := &laNode{}
	n.base.Store(base)
	return n
}

// weight returns the node's weight at now: its base, scaled down by 1.5·latency/age when its
// in-flight attempts started on average more than 1.5·latency ago, and at least floor.
func (n *laNode) weight(now, floor int64) int64 {
	w := n.base.Load()
	if c := n.inflight.Load(); c > 0 {
		lat := n.latency.Load()
		age := now - n.beginSum.Load()/c
		if punish := int64(float64(lat) * punishInflight); lat > 0 && age >= punish {
			w = int64(float64(w) * float64(punish) / float64(age))
		}
	}
	return max(w, floor)
}

// lowerTo caps the base weight at w (a Down server comes back no heavier than the mean).
func (n *laNode) lowerTo(w int64) {
	for {
		old := n.base.Load()
		if old <= w || n.base.CompareAndSwap(old, w) {
			return
		}
	}
}

// start records an attempt that began at begin.
func (n *laNode) start(begin int64) {
	n.inflight.Add(1)
	n.beginSum.Add(begin)
}

// done forgets an attempt that began at begin, unless none is in flight.
func (n *laNode) done(begin int64) {
	for {
		c := n.inflight.Load()
		if c <= 0 {
			return
		}
		if n.inflight.CompareAndSwap(c, c-1) {
			n.beginSum.Add(-begin)
			return
		}
	}
}

// record adds the outcome of one attempt that ended at end, in µs since the epoch. As brpc,
// it ignores an attempt of no positive latency, and leaves the weight alone when the window
// spans no time.
func (n *laNode) record(f *Feedback, end int64) {
	latency := f.Latency.Microseconds()
	if latency <= 0 {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case !f.Failed:
		n.push(latency, end)
	case n.size == 0:
		n.push(max(errorLatency(f, latency), f.Timeout.Microseconds()), end)
	default:
		newest := &n.window[n.newest()]
		newest.cumLatency += errorLatency(f, latency)
		newest.end = end
	}
	n.recompute(end)
}

func (n *laNode) newest() int { return (n.head + n.size - 1) % laWindow }

func (n *laNode) push(latency, end int64) {
	cum := latency
	if n.size > 0 {
		cum += n.window[n.newest()].cumLatency
	}
	if n.size == laWindow {
		n.head = (n.head + 1) % laWindow
		n.size--
	}
	n.size++
	n.window[n.newest()] = laSample{cumLatency: cum, end: end}
}

// recompute sets latency and base from the window: base = scale·qps/latency, qps counted over
// the window once it is full or spans a second, 1 before.
func (n *laNode) recompute(end int64) {
	newest, oldest := n.window[n.newest()], n.window[n.head]
	latency, qps := newest.cumLatency, 1.0
	if n.size > 1 {
		span := end - oldest.end
		if span <= 0 {
			return
		}
		k := int64(n.size - 1)
		if n.size == laWindow || span >= 1e6 {
			qps = max(1, float64(k)*1e6/float64(span))
		}
		latency = (newest.cumLatency - oldest.cumLatency) / k
	}
	if latency <= 0 {
		return
	}
	n.latency.Store(latency)
	n.base.Store(int64(min(laScale*qps/float64(latency), laMaxWeight)))
}

// errorLatency is the latency a failed attempt counts for, brpc's mix of 1.2×latency and the
// call's timeout by retry position: (left·1.2·latency + done·timeout)/(done+left), done =
// Retried and left = MaxRetry−Retried, or done=1, left=0 (the timeout) when MaxRetry is 0.
// Without a timeout it is 1.2×latency.
func errorLatency(f *Feedback, latency int64) int64 {
	errLat := float64(latency) * punishError
	timeout := float64(f.Timeout.Microseconds())
	if timeout <= 0 {
		return int64(errLat)
	}
	done, left := 1.0, 0.0
	if f.MaxRetry > 0 {
		done = float64(min(max(f.Retried, 0), f.MaxRetry))
		left = float64(f.MaxRetry) - done
	}
	return int64((left*errLat + done*timeout) / (done + left))
}
