package actors

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/troupe-rpc/troupe/wire"
)

// In-place handling: the last request of each read from a connection is handled on the
// goroutine that reads the connection, as brpc does, which saves a goroutine wake-up per call
// when a connection carries one request at a time. The requests of a quick method are handled in
// place even when more follow them: their answers collect in the write buffer and leave in one
// write once no whole request is left to read, or after maxHold. A batch of quick requests then
// costs neither a wake-up per request nor a write per answer.
//
// Whether a method is quick or slow follows a moving average of how long its handler runs
// (its cost; the first call sets it, and a method is quick only once a call was seen to be).
// Wall time on a loaded machine includes preemption and garbage collection, so one long call
// must not decide alone. So that a slow handler does not hold up the requests behind it:
//
//   - a method whose cost is slowHandler or more is handled on workers only, and the requests of
//     a method whose cost is quickHandler or more run on workers unless they are the last read;
//   - a watchdog moves a connection's reading to a new goroutine once a handler has run in place
//     longer than inPlaceHandoff, which bounds what an occasionally slow handler holds up, and
//     counts the time so far in its method's cost at once.
//
// The watchdog is one goroutine per server that ticks only while handlers run in place. A timer
// per request would wake the runtime's poller on every call, and a finer tick costs the idle
// machine measurably: both would spend the very wake-up that in-place handling saves.

// The reader's role while it handles a request in place: who reads the connection next.
const (
	roleReading int32 = iota // the reader reads
	roleInPlace              // the reader runs a handler; it reads on once the handler returns
	roleMoved                // a new goroutine took reading over; the old one ends after its handler
)

// inPlaceHandoff is how long a handler runs in place before the watchdog moves its
// connection's reading to a new goroutine: about the most a handler that is slow for the first
// time delays the requests behind it on its connection (the watchdog looks every
// inPlaceHandoff, so up to twice that).
const inPlaceHandoff = 10 * time.Millisecond

// A method whose cost is slowHandler or more never runs on the reading goroutine; one whose cost
// is quickHandler or more runs there only when its request is the last one read. An answer waits
// in the write buffer for at most about maxHold (plus the handler that runs when it is reached)
// while the reader handles the requests behind it: long enough to share a write among a dozen
// quick answers, short enough that the client is not left idle while the server answers the
// rest of a large batch (with 64 callers on a 2-processor host, 50 µs made about 6 % more calls
// per second than 200 µs, together with the client's maxYieldFrames).
const (
	slowHandler  = time.Millisecond
	quickHandler = 20 * time.Microsecond
	maxHold      = 50 * time.Microsecond
)

// observe records how long a handler of the method ran: the first call sets the method's cost,
// each later one moves it an eighth of the way.
func (m *method) observe(d time.Duration) {
	c := m.cost.Load()
	if c == 0 {
		m.cost.Store(max(int64(d), 1))
		return
	}
	m.cost.Store(c + (int64(d)-c)/8)
}

// quick reports whether the method's requests are handled in place in batches: only once a
// handler of it has been seen to be quick, so that the first batch of a slow method does not
// queue behind its first handler.
func (m *method) quick() bool {
	c := m.cost.Load()
	return c > 0 && c < int64(quickHandler)
}

// slow reports whether the method's requests are kept off the reading goroutine.
func (m *method) slow() bool { return m.cost.Load() >= int64(slowHandler) }

// inPlaceWatch is a server's watchdog over the handlers running in place.
type inPlaceWatch struct {
	srv     *Server
	starts  atomic.Int64 // handlers started in place, to tell activity from idleness
	parked  atomic.Bool  // the watchdog waits for wake
	closed  atomic.Bool  // the server is closing
	wake    chan struct{}
	quit    chan struct{}
	started sync.Once
	stop    sync.Once
}

func newInPlaceWatch(s *Server) *inPlaceWatch {
	return &inPlaceWatch{srv: s, wake: make(chan struct{}, 1), quit: make(chan struct{})}
}

// handleInPlace runs a request's handler on the reading goroutine (now is when it was read),
// under a context ending at deadline (unless it is zero), and leaves its answer in the write
// buffer; should the watchdog see it outlast inPlaceHandoff, a new goroutine reads on (and this
// one counts as a worker until the handler returns, then writes its answer out). It returns
// whether this goroutine still reads.
func (sc *serverConn) handleInPlace(f *wire.Frame, m *method, name string, deadline, now time.Time) bool {
	w := sc.srv.watch
	sc.inPlace.Store(m)
	sc.since.Store(now.UnixNano())
	sc.role.Store(roleInPlace)
	if w.closed.Load() {
		sc.takeOver() // the server is closing: no watchdog will look
	} else {
		w.started.Do(w.start)
		w.starts.Add(1)
		if w.parked.Load() && w.parked.CompareAndSwap(true, false) {
			w.wake <- struct{}{}
		}
	}
	sc.handle(f, m, name, deadline, true, now)
	if sc.role.CompareAndSwap(roleInPlace, roleReading) {
		return true
	}
	sc.out.flush()
	sc.srv.workers.wg.Done() // counted as a worker by takeOver
	return false
}

// takeOver moves the connection's reading to a new goroutine when a handler still runs in
// place; the new reader first writes out the answers the old one left in the write buffer. The
// reader's count in the server moves with the role (end releases it), and the old
// reader counts as a worker until its handler returns, so Shutdown need not wait for a handler
// that ignores its context. It reports whether it moved reading.
func (sc *serverConn) takeOver() bool {
	if !sc.role.CompareAndSwap(roleInPlace, roleMoved) {
		return false
	}
	sc.srv.workers.wg.Add(1) // the old reader, until its handler returns
	sc.role.Store(roleReading)
	go func() {
		sc.out.flush()
		sc.read()
	}()
	return true
}

// start runs the watchdog on a goroutine the server waits for, unless the server is closing.
func (w *inPlaceWatch) start() {
	s := w.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return
	}
	s.wg.Go(w.run)
}

// run looks at the handlers running in place every inPlaceHandoff and moves the reading of the
// connections whose handler has run longer; with none running and none started since its last
// look, it waits until one starts.
func (w *inPlaceWatch) run() {
	tick := time.NewTicker(inPlaceHandoff)
	defer tick.Stop()
	seen := w.starts.Load()
	for {
		select {
		case <-w.quit:
			return
		case <-tick.C:
		}
		busy := w.sweep(time.Now().Add(-inPlaceHandoff).UnixNano())
		if now := w.starts.Load(); busy || now != seen {
			seen = now
			continue
		}
		// Idle: wait for the next handler in place, unless one started meanwhile.
		tick.Stop()
		w.parked.Store(true)
		if w.starts.Load() != seen && w.parked.CompareAndSwap(true, false) {
			tick.Reset(inPlaceHandoff)
			continue
		}
		select {
		case <-w.quit:
			return
		case <-w.wake:
		}
		seen = w.starts.Load()
		tick.Reset(inPlaceHandoff)
	}
}

// sweep moves the reading of every connection whose handler has run in place since before
// before, and reports whether any handler still runs in place.
func (w *inPlaceWatch) sweep(before int64) (busy bool) {
	for _, sc := range w.srv.connList() {
		if sc.role.Load() != roleInPlace {
			continue
		}
		since := sc.since.Load()
		if since > before || !sc.takeOver() {
			busy = true
			continue
		}
		// The handler is not done, but already too slow to run in place: the requests of its
		// method read next go to workers.
		if m := sc.inPlace.Load(); m != nil {
			m.observe(time.Duration(time.Now().UnixNano() - since))
		}
	}
	return busy
}

// close stops the watchdog and moves the reading of every connection whose handler still runs
// in place, so that the readers of closed connections end now.
func (w *inPlaceWatch) close() {
	w.closed.Store(true)
	w.stop.Do(func() { close(w.quit) })
	for _, sc := range w.srv.connList() {
		sc.takeOver()
	}
}
