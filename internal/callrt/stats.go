package callrt

import (
	"github.com/troupe-rpc/troupe/internal/stats"
	"github.com/troupe-rpc/troupe/wire"
)

// beginStats counts the call in flight in its channel's per-method records, when the channel
// keeps them ([Spec.Stats]).
func (c *Call) beginStats(t *stats.Table) {
	if t != nil {
		c.stats = t.Get(c.method)
		c.stats.Begin()
	}
}

// endStats records the call's end: its latency, error code, retries and backup request. It runs
// once the Controller holds the result.
func (c *Call) endStats() {
	if m := c.stats; m != nil {
		code := c.cntl.code
		if code == 0 && c.cntl.err != nil {
			code = wire.EINTERNAL // as Finish makes of an error without a brpc code
		}
		m.Retried(c.cntl.retried, c.cntl.backup)
		m.EndAt(c.begin.Add(c.cntl.latency).Unix(), c.cntl.latency, code)
	}
}
