package lb

import (
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// recovery is brpc's DefaultClusterRecoverPolicy: after a selection found no usable server, calls
// are accepted with probability q/minWorking, q being the number of usable servers, until q has
// stayed the same and non-zero for more than hold.
//
// The usable count is taken from the Picker's snapshot, which is immutable, so it is always
// current (brpc recounts at most every 10ms).
type recovery struct {
	minWorking int64
	hold       time.Duration
	now        clock
	on         atomic.Bool
	last       atomic.Pointer[usableSince]
}

// usableSince is the usable count seen while recovering and when it took that value.
type usableSince struct {
	usable int64
	since  time.Time
}

func newRecovery(minWorking, holdSeconds int64) *recovery {
	return &recovery{
		minWorking: minWorking,
		hold:       time.Duration(holdSeconds) * time.Second,
		now:        time.Now,
	}
}

// start enters the recovering state; a nil recovery does nothing.
func (c *recovery) start() {
	if c != nil && !c.on.Load() {
		c.on.Store(true)
	}
}

// reject reports whether a selection over a snapshot with usable servers is turned away.
func (c *recovery) reject(usable int) bool {
	if c == nil || !c.on.Load() {
		return false
	}
	q := int64(usable)
	now := c.now()
	last := c.last.Load()
	if last != nil && last.usable == q && q != 0 && now.Sub(last.since) > c.hold {
		c.stop()
		return false
	}
	if last == nil || last.usable != q {
		c.last.CompareAndSwap(last, &usableSince{usable: q, since: now})
	}
	return rand.Int64N(c.minWorking) >= q
}

// stop leaves the recovering state and forgets the usable count.
func (c *recovery) stop() {
	if c.on.CompareAndSwap(true, false) {
		c.last.Store(nil)
	}
}
