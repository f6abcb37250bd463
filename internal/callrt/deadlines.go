package callrt

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/troupe-rpc/troupe/mailbox"
)

// deadlines holds the deadlines of a Runtime's calls in flight, in min-heaps, and one alarm
// that rings at (or before) the earliest of them; brpc's TimerThread likewise keeps every
// deadline of a process in a few buckets with one thread to wait for them. A call is added
// when it starts and removed when it finishes, under the lock of its shard (shards keep calls
// of many processors from contending); the alarm's goroutine ends the calls whose deadline
// passed with ERPCTIMEDOUT.
//
// A call that finishes leaves its heap without moving the alarm: the alarm rings at the old
// deadline, finds nothing due, and is set for the earliest deadline left, if any. Calls of one
// timeout have ever later deadlines, so the alarm is set about once per timeout, however many
// calls start, instead of a Go timer being started and stopped for each call. On Linux the
// alarm is a timerfd read through the network poller, not a Go timer: a processor with Go
// timers makes the scheduler check them each time it looks for work, and makes a thread that
// goes idle wake the network poller to recompute its sleep. One caller of an echo service on
// loopback wrote 1.2 times per call without it, the extra writes being those wake-ups; 1.03
// times with it.
//
// An idle Runtime's alarm rings at most once more, finds nothing and is not set again.
type deadlines struct {
	shards []deadlineShard
	mask   uintptr
	run    func(func()) // runs the alarm's goroutine, which Shutdown waits for

	armed  atomic.Int64 // when the alarm rings, in mono's time; 0: not set
	mu     sync.Mutex   // the alarm's: setting it, and ringing
	alarm  alarm        // nil until the first deadline
	closed bool         // the Runtime shut down: the alarm stays stopped
}

// deadlineShard is a min-heap of calls by deadline.
type deadlineShard struct {
	mu   sync.Mutex
	heap []*Call
	_    [64 - 32]byte // a cache line of its own (with the 32 bytes above)
}

// alarm rings once, set after a duration; setting it again replaces the previous setting.
type alarm interface {
	set(d time.Duration)
	stop()
}

// init makes a shard per processor, up to 64; run starts the alarm's goroutine.
func (d *deadlines) init(run func(func())) {
	n := 1
	for n < runtime.GOMAXPROCS(0) && n < 64 {
		n *= 2
	}
	d.shards, d.mask, d.run = make([]deadlineShard, n), uintptr(n-1), run
}

// monoBase is the origin of mono.
var monoBase = time.Now()

// mono returns t as nanoseconds since monoBase, on the monotonic clock when t carries it.
func mono(t time.Time) int64 { return int64(t.Sub(monoBase)) }

// shard returns the shard of c: calls are spread by address.
func (d *deadlines) shard(c *Call) *deadlineShard {
	h := uint64(uintptr(unsafe.Pointer(c))) * 0x9E3779B97F4A7C15 >> 40
	return &d.shards[uintptr(h)&d.mask]
}

// add puts c, with deadline at (in mono's time), among the deadlines, and sets the alarm
// earlier when at comes before it.
func (d *deadlines) add(c *Call, at int64) {
	s := d.shard(c)
	s.mu.Lock()
	c.dlAt = at
	s.heap = append(s.heap, c)
	s.set(len(s.heap)-1, c)
	s.up(len(s.heap) - 1)
	s.mu.Unlock()
	// An alarm that is ringing set armed to 0 before it looked at the shards: this call is
	// either among what it saw, or sets the alarm here.
	if a := d.armed.Load(); a == 0 || at < a {
		d.mu.Lock()
		if a := d.armed.Load(); (a == 0 || at < a) && !d.closed {
			d.setAlarm(at, mono(time.Now()))
		}
		d.mu.Unlock()
	}
}

// remove takes c out of the deadlines, unless the alarm took it out already to end it; it
// reports whether it did, false meaning that the alarm may still send c its timeout.
func (d *deadlines) remove(c *Call) bool {
	s := d.shard(c)
	s.mu.Lock()
	took := c.dlSlot > 0
	if took {
		s.removeAt(int(c.dlSlot) - 1)
	}
	s.mu.Unlock()
	return took
}

// maxAlarm is the longest the alarm is set for: a later deadline is looked at again then.
const maxAlarm = time.Hour

// setAlarm sets the alarm to ring at at, or in maxAlarm when at is later, with d.mu held.
func (d *deadlines) setAlarm(at, now int64) {
	if d.alarm == nil {
		d.alarm = newAlarm(d.ring, d.run)
	}
	wait := min(max(at-now, 1), int64(maxAlarm))
	d.armed.Store(now + wait)
	d.alarm.set(time.Duration(wait))
}

// ring ends the calls whose deadline passed and sets the alarm for the next deadline.
func (d *deadlines) ring() {
	var due []*mailbox.Light
	d.mu.Lock()
	d.armed.Store(0)
	now := mono(time.Now())
	next := int64(0)
	for i := range d.shards {
		s := &d.shards[i]
		s.mu.Lock()
		for len(s.heap) > 0 && s.heap[0].dlAt <= now {
			c := s.heap[0]
			s.removeAt(0)
			due = append(due, c.light.Load())
		}
		if len(s.heap) > 0 && (next == 0 || s.heap[0].dlAt < next) {
			next = s.heap[0].dlAt
		}
		s.mu.Unlock()
	}
	if next != 0 && !d.closed {
		d.setAlarm(next, now)
	}
	d.mu.Unlock()
	// A call that finished meanwhile drops the message: its actor stopped.
	for _, l := range due {
		l.Send(msgTimeout)
	}
}

// stop stops the alarm for good, once no call is left; its goroutine returns.
func (d *deadlines) stop() {
	d.mu.Lock()
	d.closed = true
	if d.alarm != nil {
		d.alarm.stop()
	}
	d.armed.Store(0)
	d.mu.Unlock()
}

// set puts c at heap index i.
func (s *deadlineShard) set(i int, c *Call) {
	s.heap[i] = c
	c.dlSlot = int32(i) + 1
}

// removeAt removes the call at heap index i.
func (s *deadlineShard) removeAt(i int) {
	h := s.heap
	last := len(h) - 1
	h[i].dlSlot = 0
	if i != last {
		s.set(i, h[last])
	}
	h[last] = nil
	s.heap = h[:last]
	if i != last {
		s.down(i)
		s.up(i)
	}
}

// swap exchanges the calls at heap indexes i and j.
func (s *deadlineShard) swap(i, j int) {
	c := s.heap[i]
	s.set(i, s.heap[j])
	s.set(j, c)
}

// up moves the call at heap index i up to its place.
func (s *deadlineShard) up(i int) {
	h := s.heap
	for i > 0 {
		p := (i - 1) / 2
		if h[p].dlAt <= h[i].dlAt {
			return
		}
		s.swap(i, p)
		i = p
	}
}

// down moves the call at heap index i down to its place.
func (s *deadlineShard) down(i int) {
	h := s.heap
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && h[r].dlAt < h[l].dlAt {
			m = r
		}
		if h[i].dlAt <= h[m].dlAt {
			return
		}
		s.swap(i, m)
		i = m
	}
}
