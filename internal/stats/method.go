package stats

import (
	"sync/atomic"
	"time"

	"github.com/troupe-rpc/troupe/wire"
)

// errorSlots is how many distinct error codes an [Errors] tells apart; beyond them, codes count
// under [OtherErrors].
const errorSlots = 32

// OtherErrors is the code under which [Errors] counts the codes it has no room left for.
const OtherErrors wire.Errno = -1

// Errors counts errors by brpc code in a small open-addressing table of atomics: recording takes
// no lock and allocates nothing. The zero value is ready; it must not be copied.
type Errors struct {
	codes  [errorSlots]atomic.Int32 // 0: free
	counts [errorSlots]atomic.Int64
	other  atomic.Int64
}

// Add counts one error of code (a code of 0 counts as EINTERNAL, as a call failed).
func (e *Errors) Add(code wire.Errno) {
	if code == 0 {
		code = wire.EINTERNAL
	}
	c := int32(code)
	start := uint32(c) * 2654435761 % errorSlots
	for i := range uint32(errorSlots) {
		j := (start + i) % errorSlots
		switch e.codes[j].Load() {
		case c:
			e.counts[j].Add(1)
			return
		case 0:
			if e.codes[j].CompareAndSwap(0, c) || e.codes[j].Load() == c {
				e.counts[j].Add(1)
				return
			}
		}
	}
	e.other.Add(1)
}

// Snapshot returns the counts by code; nil when there were none.
func (e *Errors) Snapshot() map[wire.Errno]int64 {
	var m map[wire.Errno]int64
	put := func(code wire.Errno, n int64) {
		if n == 0 {
			return
		}
		if m == nil {
			m = map[wire.Errno]int64{}
		}
		m[code] += n
	}
	for j := range e.codes {
		if c := e.codes[j].Load(); c != 0 {
			put(wire.Errno(c), e.counts[j].Load())
		}
	}
	put(OtherErrors, e.other.Load())
	return m
}

// Method is what one side records about the calls of one method: how many started, are in
// flight, ended with which error, took how long; on a client the retries and backup requests,
// on a server the requests rejected by a concurrency limit. Make it with [NewMethod]; it is safe
// for concurrent use.
type Method struct {
	Name     string
	calls    atomic.Int64
	inflight atomic.Int64
	retries  atomic.Int64
	backups  atomic.Int64
	rejected atomic.Int64
	errors   Errors
	latency  *Latency
	observe  func(time.Duration, wire.Errno)

	// Tag is what the owner of the record attached to it when it was made (see [Table]); it is
	// not changed afterwards.
	Tag any
}

// NewMethod returns the empty record of method name; clock is as for [NewLatencyClock].
func NewMethod(name string, clock func() int64) *Method {
	return &Method{Name: name, latency: NewLatencyClock(clock)}
}

// Begin counts a call in flight.
func (m *Method) Begin() { m.inflight.Add(1) }

// End counts a call begun with [Method.Begin] that ended after d with code (0: success).
func (m *Method) End(d time.Duration, code wire.Errno) { m.EndAt(m.latency.now(), d, code) }

// EndAt is End for a call that ended in Unix second sec, which the caller knows already; a
// Method on a clock of its own ([NewMethod]) takes the clock's second instead.
func (m *Method) EndAt(sec int64, d time.Duration, code wire.Errno) {
	m.inflight.Add(-1)
	m.doneAt(sec, d, code)
}

// Done counts a call that ended after d with code (0: success), without Begin.
func (m *Method) Done(d time.Duration, code wire.Errno) { m.doneAt(m.latency.now(), d, code) }

func (m *Method) doneAt(sec int64, d time.Duration, code wire.Errno) {
	if m.latency.clock != nil {
		sec = m.latency.clock()
	}
	m.calls.Add(1)
	if code != 0 {
		m.errors.Add(code)
	}
	m.latency.RecordAt(sec, d, code != 0)
	if m.observe != nil {
		m.observe(d, code)
	}
}

// Observe makes fn see every latency and code recorded by End and Done. It must be called before
// the record is shared.
func (m *Method) Observe(fn func(time.Duration, wire.Errno)) { m.observe = fn }

// Counts returns the record's counters without the latencies: cheaper than a [Method.Snapshot].
func (m *Method) Counts() (calls, inFlight, retries, backups, rejected int64) {
	return m.calls.Load(), m.inflight.Load(), m.retries.Load(), m.backups.Load(), m.rejected.Load()
}

// Errors returns the counts of errors by code; nil when there were none.
func (m *Method) Errors() map[wire.Errno]int64 { return m.errors.Snapshot() }

// Retried counts n retries and a backup request if backup.
func (m *Method) Retried(n int, backup bool) {
	if n > 0 {
		m.retries.Add(int64(n))
	}
	if backup {
		m.backups.Add(1)
	}
}

// Reject counts a request refused with code before it was handled (ELIMIT): a call and an
// error, but no latency.
func (m *Method) Reject(code wire.Errno) {
	m.rejected.Add(1)
	m.calls.Add(1)
	m.errors.Add(code)
}

// MethodSnapshot is what a [Method] recorded.
type MethodSnapshot struct {
	Name                                        string
	Calls, InFlight, Retries, Backups, Rejected int64
	Errors                                      map[wire.Errno]int64
	Latency                                     LatencySnapshot
}

// Snapshot returns what m recorded.
func (m *Method) Snapshot() MethodSnapshot {
	return MethodSnapshot{Name: m.Name, Calls: m.calls.Load(), InFlight: m.inflight.Load(),
		Retries: m.retries.Load(), Backups: m.backups.Load(), Rejected: m.rejected.Load(),
		Errors: m.errors.Snapshot(), Latency: m.latency.Snapshot()}
}
