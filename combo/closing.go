package combo

import (
	"sync"
	"sync/atomic"

	"github.com/troupe-rpc/troupe/internal/callrt"
	"github.com/troupe-rpc/troupe/internal/stats"
)

// owner is how a combo channel that owns sub-channels closes them: a call in flight keeps what
// it needs alive until it ends, so Close refuses new calls at once (the channel's closed flag,
// which its engine's Prepare checks) and closes the owned sub-channels only once the last call
// in flight ended — at once, within Close, when none is.
type owner struct {
	rt       *callrt.Runtime
	closed   *atomic.Bool // the channel's: set by Close, checked by its calls' Prepare
	release  func() error // closes the owned sub-channels
	inflight atomic.Int64
	once     sync.Once
	err      error // release's, once it ran
	// stats is the channel's per-method metrics, which System.Stats lists until unshow.
	stats  *stats.Table
	unshow func()
	onEnd  func(*callrt.Controller, error) // a tracked call's OnEnd when it has none of its own
}

// init sets what the owner needs; a channel's constructor calls it before any call. kind names
// the channel in System.Stats.
func (o *owner) init(rt *callrt.Runtime, closed *atomic.Bool, release func() error, kind string) {
	o.rt, o.closed, o.release = rt, closed, release
	o.stats, o.unshow = rt.ShowStats(kind)
	o.onEnd = func(*callrt.Controller, error) { o.leave() }
}

// track counts a call of the channel in flight until it ends; every call's Spec goes through it.
func (o *owner) track(s *callrt.Spec) *callrt.Spec {
	o.inflight.Add(1)
	s.Stats = o.stats
	next := s.OnEnd
	if next == nil {
		s.OnEnd = o.onEnd
		return s
	}
	s.OnEnd = func(c *callrt.Controller, err error) {
		next(c, err)
		o.leave()
	}
	return s
}

// leave counts a call's end: the last call of a closed channel closes the owned sub-channels,
// on a goroutine of the System (closing a channel may wait, and the call's actor must not). Once
// Shutdown began there is no such goroutine, and no need: Shutdown stops the System's channels.
func (o *owner) leave() {
	if o.inflight.Add(-1) != 0 || !o.closed.Load() {
		return
	}
	_ = o.rt.Go(o.releaseLogged)
}

// close marks the channel closed and, with no call in flight, closes the owned sub-channels and
// returns their errors; otherwise the last call's end closes them and close returns nil, as it
// does when the channel was closed already.
func (o *owner) close() error {
	if o.closed == nil { // a channel's zero value owns nothing
		return nil
	}
	if o.closed.Swap(true) || o.inflight.Load() != 0 {
		return nil
	}
	o.once.Do(o.releaseNow)
	return o.err
}

func (o *owner) releaseNow() {
	o.unshow()
	o.err = o.release()
}

// releaseLogged releases after the last call ended, when no one waits for Close's error: it is
// logged instead.
func (o *owner) releaseLogged() {
	o.once.Do(func() {
		o.releaseNow()
		if o.err != nil {
			o.rt.Logger().Warn("combo: closing the sub-channels of a closed combo channel", "err", o.err)
		}
	})
}
