package actors

import (
	"sync"
	"time"
)

// serverLogLimiter lets a server warning through at most once per interval, and counts the
// ones it held back so that the next warning can say how many there were. Accept failures,
// refused connections and overcrowded connections can come by the thousand a second; one line a
// second says as much.
type serverLogLimiter struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// serverLogEvery is how often a rate-limited server warning is logged at most.
const serverLogEvery = time.Second

// allow reports whether a warning may be logged now and, if so, how many were held back since
// the last one that was.
func (l *serverLogLimiter) allow() (ok bool, suppressed int) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < serverLogEvery {
		l.suppressed++
		return false, 0
	}
	l.last, suppressed, l.suppressed = now, l.suppressed, 0
	return true, suppressed
}

// warnLimited logs msg with args through the server's logger if lim allows it, adding the
// number of warnings held back since the last one.
func (s *Server) warnLimited(lim *serverLogLimiter, msg string, args ...any) {
	ok, n := lim.allow()
	if !ok {
		return
	}
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	s.log.Warn(msg, args...)
}
