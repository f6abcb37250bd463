package actors

import (
	"io"
	"net"
	"runtime"
	"sync/atomic"
	"time"
)

// DefaultReadPoll is how long a connection's reader polls its socket for an answer due soon
// before it parks: see [SystemOptions.ReadPoll] and [ServerOptions.ReadPoll]. It covers a quick
// round trip on virtual machines whose cross-processor wake-ups cost 70 µs or more, where 50 µs
// polls ran out before most answers came; a reader whose polls keep finding nothing backs off.
const DefaultReadPoll = 100 * time.Microsecond

// readPoll resolves a ReadPoll option: 0 is the default, a negative value none.
func readPoll(d time.Duration) time.Duration {
	switch {
	case d == 0:
		return DefaultReadPoll
	case d < 0:
		return 0
	}
	return d
}

// pollers counts the readers polling now, in the whole process: at most maxPollers poll at
// once, so that many connections with a lone caller each cannot take every processor.
var pollers atomic.Int32

// maxPollers is half the processors, at least one.
func maxPollers() int32 { return int32(max(1, runtime.GOMAXPROCS(0)/2)) }

// takePoller takes a polling slot, if one is free.
func takePoller() bool {
	if pollers.Add(1) > maxPollers() {
		pollers.Add(-1)
		return false
	}
	return true
}

func releasePoller() { pollers.Add(-1) }

// pollingConn is a connection whose reader, when expect reports that data is due soon, polls
// the socket with non-blocking reads for up to d before it parks in Go's network poller. A
// parked reader is woken by another thread, which on a virtual machine costs tens of µs: for a
// lone caller, more than its whole call. expect is called by the reading goroutine only.
type pollingConn struct {
	net.Conn
	d       time.Duration
	expect  func() bool
	poll    func(b []byte) (n int, again bool, err error) // one non-blocking read
	polled  int                                           // reads that polling served
	misses  int                                           // polls in a row that found nothing
	backoff int                                           // reads let go after the last miss
	skip    int                                           // reads left to let go without polling
}

// Read polls while data is expected and a polling slot is free, then reads as usual. After
// pollMisses polls in a row that found nothing, the reader lets the next 1, 3, 7 … up to
// maxPollBackoff reads go without polling, one poll between each, so that a connection whose
// data does not come soon stops costing CPU; a poll that finds data ends the backoff. A lone
// caller's answers now and then take longer than a poll (a collection, a busy peer), and
// backing off at the first miss cost such a caller a sixth of its calls.
func (p *pollingConn) Read(b []byte) (int, error) {
	if len(b) > 0 && p.expect() && p.mayPoll() && takePoller() {
		n, done, err := p.spin(b)
		releasePoller()
		if done {
			p.polled++
			p.misses, p.backoff = 0, 0
			return n, err
		}
		if p.misses++; p.misses >= pollMisses {
			p.backoff = min(2*p.backoff+1, maxPollBackoff)
			p.skip = p.backoff
		}
	}
	return p.Conn.Read(b)
}

// pollMisses is how many polls in a row find nothing before the reader backs off, and
// maxPollBackoff the most reads it then lets go without polling.
const (
	pollMisses     = 4
	maxPollBackoff = 63
)

// mayPoll reports whether this read may poll, counting down the reads the backoff skips.
func (p *pollingConn) mayPoll() bool {
	if p.skip > 0 {
		p.skip--
		return false
	}
	return true
}

// spin reads until data comes, the socket ends or fails, or d passed; done is false only when
// nothing came in time. An error ends the polling read with it: the kernel reports a reset
// once, and the ordinary read after it would find a plain end of file.
func (p *pollingConn) spin(b []byte) (n int, done bool, err error) {
	end := time.Now().Add(p.d)
	for i := 0; ; i++ {
		n, again, err := p.poll(b)
		switch {
		case n > 0:
			return n, true, nil
		case !again && err == nil:
			return 0, true, io.EOF
		case !again:
			return 0, true, &net.OpError{Op: "read", Net: p.LocalAddr().Network(), Source: p.LocalAddr(), Addr: p.RemoteAddr(), Err: err}
		case i%8 == 7 && time.Now().After(end):
			return 0, false, nil
		}
	}
}

// answerRounds tells a single connection's reader whether its calls come one at a time. A round
// is the answers delivered between two moments when no call waits; a lone round has one answer:
// the client makes one call at a time. After a lone round the reader yields to the caller it
// readied, and polls for the next answer; after a round of several, it does neither: the callers
// it readied run on other threads soon enough, and with calls overlapping, "one call waits" is a
// moment between two callers, not a lone caller whose answer is due. (Yielding and polling
// whenever one call waited cost eight overlapping callers 5 – 14 % of their calls.) It is the
// client's side of the server's loneRequest.
type answerRounds struct {
	n    int  // answers delivered in the round so far
	lone bool // the last round ended was a lone one
}

// delivered counts an answer handed to its call; last reports that no call waits now, which ends
// the round. It reports whether a lone round just ended.
func (r *answerRounds) delivered(last bool) bool {
	r.n++
	if !last {
		return false
	}
	r.lone, r.n = r.n == 1, 0
	return r.lone
}
