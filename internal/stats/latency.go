package stats

import (
	"sync/atomic"
	"time"
)

// Latency records the latencies of calls: since it was made ([Histogram]) and over the last
// minute, second by second. Make it with [NewLatency]; it must not be copied. Its ring of
// seconds (50 KiB) is made by the first call recorded, so that a method never called (a
// server's method nobody uses, say) costs only its histogram.
type Latency struct {
	all   Histogram
	ring  atomic.Pointer[ring]
	clock func() int64 // the current Unix second
}

// NewLatency returns an empty Latency on the wall clock.
func NewLatency() *Latency { return NewLatencyClock(nil) }

// NewLatencyClock returns an empty Latency whose seconds come from clock (Unix seconds); nil is
// the wall clock.
func NewLatencyClock(clock func() int64) *Latency {
	return &Latency{clock: clock}
}

// seconds returns the ring, made on first use.
func (l *Latency) seconds() *ring {
	if r := l.ring.Load(); r != nil {
		return r
	}
	r := new(ring)
	r.init()
	if l.ring.CompareAndSwap(nil, r) {
		return r
	}
	return l.ring.Load()
}

func (l *Latency) now() int64 {
	if l.clock != nil {
		return l.clock()
	}
	return time.Now().Unix()
}

// Record counts a call that took d and failed or not, ending now.
func (l *Latency) Record(d time.Duration, failed bool) { l.RecordAt(l.now(), d, failed) }

// RecordAt counts a call that took d and failed or not, ending in Unix second sec: a caller that
// has the time already saves reading the clock.
func (l *Latency) RecordAt(sec int64, d time.Duration, failed bool) {
	l.all.Record(d)
	l.seconds().record(sec, max(int64(d), 0), failed)
}

// LatencySnapshot is what a [Latency] recorded.
type LatencySnapshot struct {
	Total      Summary  // since the Latency was made
	LastMinute Summary  // over the last Window seconds, the current one included
	PerSecond  []Second // the last Window seconds, oldest first, the current one last
}

// Snapshot returns what l recorded.
func (l *Latency) Snapshot() LatencySnapshot {
	var secs []Second
	var last Summary
	if r := l.ring.Load(); r != nil {
		secs, last = r.seconds(l.now())
	} else {
		secs = emptySeconds(l.now())
	}
	return LatencySnapshot{Total: l.all.Snapshot(), LastMinute: last, PerSecond: secs}
}

// Count returns the number of latencies recorded since l was made.
func (l *Latency) Count() int64 { return l.all.count.Load() }
