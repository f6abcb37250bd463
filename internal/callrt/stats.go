package callrt

import (
	"strconv"

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

// ChannelStats is the per-method records of a channel that is not a plain channel (a combo
// channel), listed with [Runtime.Show] so that the System's Stats finds it.
type ChannelStats struct {
	Name  string // "parallel-3": the channel's kind and a number
	Kind  string // "parallel", "selective"
	Table *stats.Table
}

// SetStatsTables makes newTable the maker of combo channels' per-method records: it gets the
// channel's name and returns nil when metrics are disabled. It is set once, before any channel
// is made; without it, every combo channel gets a plain table.
func (rt *Runtime) SetStatsTables(newTable func(name string) *stats.Table) { rt.newTable = newTable }

// ShowStats makes and lists the records of a channel of kind; remove unlists them. It returns a
// nil table, and lists nothing, when metrics are disabled.
func (rt *Runtime) ShowStats(kind string) (t *stats.Table, remove func()) {
	name := kind + "-" + strconv.FormatInt(rt.statsSeq.Add(1), 10)
	if rt.newTable != nil {
		t = rt.newTable(name)
	} else {
		t = stats.NewTable(nil, nil)
	}
	if t == nil {
		return nil, func() {}
	}
	return t, rt.Show(&ChannelStats{Name: name, Kind: kind, Table: t})
}
