package callrt

import (
	"sort"
	"time"

	"github.com/troupe-rpc/troupe/mailbox"
)

// CallInfo is a snapshot of a call for Inspect.
type CallInfo struct {
	Kind     string // "call" or "sub-call"
	ID       string
	State    string // "example.EchoService.Echo → 127.0.0.1:8000: waiting for response from …"
	Age      time.Duration
	Method   string
	Target   string    // the channel's target
	Deadline time.Time // the call's deadline, a sub-call's parent's; zero: none
	Retries  int       // attempts after the first, when the engine counts them
	LogID    int64
	HasLogID bool
	Children []*CallInfo
}

var stateNames = [...]string{"starting", "running", "done"}

// Calls returns the calls in flight that have no parent, each with its children.
func (rt *Runtime) Calls(now time.Time) []*CallInfo {
	var out []*CallInfo
	// info reads each call while the Registry holds it: a finished call's memory may be reused.
	rt.lights.Each(func(l *mailbox.Light) {
		if c, ok := l.Handler().(*Call); ok && l.Parent() == nil {
			out = append(out, c.info(l, now))
		}
	})
	sortInfos(out)
	return out
}

func (c *Call) info(l *mailbox.Light, now time.Time) *CallInfo {
	st := c.state.Load()
	state := stateNames[st]
	if st == callRunning {
		if s, ok := c.engine.(Statuser); ok {
			state = s.Status()
		} else if p := c.status.Load(); p != nil {
			state = *p
		}
	}
	kind := "call"
	if c.parent != nil {
		kind = "sub-call"
	}
	n := &CallInfo{Kind: kind, ID: l.ID(), State: c.method + " → " + c.target + ": " + state, Age: now.Sub(c.begin),
		Method: c.method, Target: c.target, Deadline: c.EffectiveDeadline()}
	n.LogID, n.HasLogID = c.cntl.LogID()
	if r, ok := c.engine.(RetryCounter); ok {
		n.Retries = r.Retries()
	}
	for _, child := range l.Children() {
		if cc, ok := child.Handler().(*Call); ok {
			n.Children = append(n.Children, cc.info(child, now))
		}
	}
	sortInfos(n.Children)
	return n
}

func sortInfos(ns []*CallInfo) {
	sort.Slice(ns, func(i, j int) bool { return ns[i].ID < ns[j].ID })
}
