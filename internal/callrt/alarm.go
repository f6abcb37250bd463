package callrt

import "time"

// timerAlarm is an alarm on a Go timer, where no timerfd can be had. Its methods are called
// with the deadlines' lock held.
type timerAlarm struct {
	ring func()
	t    *time.Timer
}

func (a *timerAlarm) set(d time.Duration) {
	if a.t == nil {
		a.t = time.AfterFunc(d, a.ring)
		return
	}
	a.t.Reset(d)
}

func (a *timerAlarm) stop() {
	if a.t != nil {
		a.t.Stop()
	}
}
