package callrt

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/troupe-rpc/troupe/mailbox"
)

// deadlineTimer sends msgTimeout to the call actor it is armed for. A call that finishes before
// its deadline gives the timer back for a later call, which spares every such call a timer and a
// closure.
type deadlineTimer struct {
	t      *time.Timer
	target atomic.Pointer[mailbox.Light]
}

var deadlineTimers sync.Pool

func (dt *deadlineTimer) fire() {
	if l := dt.target.Load(); l != nil {
		l.Send(msgTimeout)
	}
}

// armDeadline starts a deadline timer that fires at d from now for l.
func armDeadline(d time.Duration, l *mailbox.Light) *deadlineTimer {
	if dt, ok := deadlineTimers.Get().(*deadlineTimer); ok {
		dt.target.Store(l)
		dt.t.Reset(d)
		return dt
	}
	dt := &deadlineTimer{}
	dt.target.Store(l)
	dt.t = time.AfterFunc(d, dt.fire)
	return dt
}

// stop stops the timer and, unless it fired already, keeps it for reuse. A timer that fired
// may still be sending to its call, so it is left to the garbage collector.
func (dt *deadlineTimer) stop() {
	if dt.t.Stop() {
		dt.target.Store(nil)
		deadlineTimers.Put(dt)
	}
}
