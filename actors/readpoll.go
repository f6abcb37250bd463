package actors

import (
	"net"
	"runtime"
	"sync/atomic"
	"time"
)

// DefaultReadPoll is how long a connection's reader polls its socket for an answer due soon
// before it parks: see [SystemOptions.ReadPoll] and [ServerOptions.ReadPoll].
const DefaultReadPoll = 50 * time.Microsecond

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
	d      time.Duration
	expect func() bool
	poll   func(b []byte) (n int, again bool, err error) // one non-blocking read
	polled int                                           // reads that polling served
}

// Read polls while data is expected and a polling slot is free, then reads as usual.
func (p *pollingConn) Read(b []byte) (int, error) {
	if len(b) > 0 && p.expect() && takePoller() {
		n, done, err := p.spin(b)
		releasePoller()
		if done {
			p.polled++
			return n, err
		}
	}
	return p.Conn.Read(b)
}

// spin reads until data comes, the socket fails or d passed; done is false when nothing came.
func (p *pollingConn) spin(b []byte) (n int, done bool, err error) {
	end := time.Now().Add(p.d)
	for i := 0; ; i++ {
		n, again, err := p.poll(b)
		switch {
		case n > 0:
			return n, true, nil
		case !again:
			return 0, false, err // EOF or an error: the ordinary read reports it
		case i%8 == 7 && time.Now().After(end):
			return 0, false, nil
		}
	}
}
