package stats

import (
	"sync"
	"sync/atomic"
	"time"
)

// The per-second ring keeps, for each of the last 60 seconds, the calls, errors, latency sum and
// maximum, and a coarser histogram: 8 buckets per power of two (at most 12.5 % wide, a reported
// percentile within about 6 %) over units of 1024 ns, up to 2^27 units (137 s). A slot costs 840
// bytes, the ring 50 KiB.
const (
	Window      = 60 // seconds the ring keeps
	slotSub     = 3
	slotShift   = 10 // nanoseconds to the slot histogram's units
	slotMax     = 1<<27 - 1
	slotBuckets = (27-slotSub-1)<<slotSub + 2<<slotSub
	slotUnit    = time.Duration(1 << slotShift)
	unsetSecond = -1 << 62
)

// slot is one second of the ring.
type slot struct {
	sec     atomic.Int64 // the Unix second it counts; unsetSecond before its first
	calls   atomic.Int64
	errors  atomic.Int64
	sum     atomic.Int64
	max     atomic.Int64
	buckets [slotBuckets]atomic.Uint32
}

// ring is the last Window seconds, slot sec%Window holding second sec.
type ring struct {
	mu    sync.Mutex // taken to reset a slot for a new second
	slots [Window]slot
}

func (r *ring) init() {
	for i := range r.slots {
		r.slots[i].sec.Store(unsetSecond)
	}
}

// record counts a call of second sec that took d.
func (r *ring) record(sec int64, ns int64, failed bool) {
	s := &r.slots[uint64(sec)%Window]
	if s.sec.Load() != sec {
		r.advance(s, sec)
	}
	s.buckets[bucketOf(uint64(min(ns>>slotShift, slotMax)), slotSub)].Add(1)
	if failed {
		s.errors.Add(1)
	}
	s.calls.Add(1)
	s.sum.Add(ns)
	storeMax(&s.max, ns)
}

// advance resets slot s for second sec, unless a later second holds it already. A record racing
// the reset may be lost, at most once a second.
func (r *ring) advance(s *slot, sec int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.sec.Load() >= sec {
		return
	}
	s.calls.Store(0)
	s.errors.Store(0)
	s.sum.Store(0)
	s.max.Store(0)
	for i := range s.buckets {
		s.buckets[i].Store(0)
	}
	s.sec.Store(sec)
}

// Second is one second of the ring.
type Second struct {
	Start     int64 // Unix second
	Calls     int64
	Errors    int64
	Mean, P99 time.Duration
	Max       time.Duration
}

// seconds returns the seconds of (now-Window, now], oldest first, with zeros for seconds without
// calls, and the summary of all of them.
func (r *ring) seconds(now int64) ([]Second, Summary) {
	out := make([]Second, Window)
	var all [slotBuckets]int64
	var sum, maxV int64
	for i := range out {
		sec := now - Window + 1 + int64(i)
		out[i].Start = sec
		s := &r.slots[uint64(sec)%Window]
		if s.sec.Load() != sec {
			continue
		}
		var counts [slotBuckets]int64
		for b := range s.buckets {
			counts[b] = int64(s.buckets[b].Load())
			all[b] += counts[b]
		}
		ssum, smax := s.sum.Load(), s.max.Load()
		sum += ssum
		maxV = max(maxV, smax)
		sm := summarize(counts[:], slotSub, ssum, smax, slotUnit)
		out[i].Calls, out[i].Errors = s.calls.Load(), s.errors.Load()
		out[i].Mean, out[i].P99, out[i].Max = sm.Mean, sm.P99, sm.Max
	}
	return out, summarize(all[:], slotSub, sum, maxV, slotUnit)
}

// emptySeconds returns the seconds of (now-Window, now] without calls.
func emptySeconds(now int64) []Second {
	out := make([]Second, Window)
	for i := range out {
		out[i].Start = now - Window + 1 + int64(i)
	}
	return out
}
