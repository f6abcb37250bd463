package actors

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// clientLogLimiter rate-limits what the client side logs about its connections (a server
// isolated or revived, a connection broken): at most one line per kind per interval, the next
// line of a kind saying how many were suppressed before it. A server that sends garbage on every
// connection therefore costs a log line a second, not one per connection. Lines name the problem
// and the server; they never quote more of the peer's bytes than an error's text does.
type clientLogLimiter struct {
	log      *slog.Logger
	interval time.Duration
	now      func() time.Time

	mu    sync.Mutex
	kinds map[string]*logKind
}

// logKind is the state of one kind of line.
type logKind struct {
	last       time.Time // when a line of the kind was last written
	suppressed int       // lines dropped since
}

// clientLogInterval is how often a kind of line may be written.
const clientLogInterval = time.Second

func newClientLogLimiter(log *slog.Logger) *clientLogLimiter {
	return &clientLogLimiter{log: log, interval: clientLogInterval, now: time.Now, kinds: map[string]*logKind{}}
}

// warn logs a warning of the given kind unless one was logged less than the interval ago.
func (l *clientLogLimiter) warn(kind, msg string, args ...any) {
	l.write(slog.LevelWarn, kind, msg, args)
}

// info logs at level Info, limited as warn is.
func (l *clientLogLimiter) info(kind, msg string, args ...any) {
	l.write(slog.LevelInfo, kind, msg, args)
}

func (l *clientLogLimiter) write(level slog.Level, kind, msg string, args []any) {
	if l == nil || !l.log.Enabled(context.Background(), level) {
		return
	}
	l.mu.Lock()
	k := l.kinds[kind]
	if k == nil {
		k = &logKind{}
		l.kinds[kind] = k
	}
	now := l.now()
	if !k.last.IsZero() && now.Sub(k.last) < l.interval {
		k.suppressed++
		l.mu.Unlock()
		return
	}
	suppressed := k.suppressed
	k.last, k.suppressed = now, 0
	l.mu.Unlock()
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	l.log.Log(context.Background(), level, msg, args...)
}

// logBroken logs a connection that failed while open.
func (a *socketActor) logBroken(err error) {
	if a.stopping {
		return
	}
	a.sk.sys.clientLog.warn("broken", "troupe: connection broken", "addr", a.sk.addr, "err", err.Error())
}
