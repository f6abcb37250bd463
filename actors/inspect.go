package actors

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/troupe-rpc/troupe/internal/callrt"
	"github.com/troupe-rpc/troupe/internal/human"
)

// Node is one actor in the tree [System.Inspect] returns: what it is, what it is doing, its
// counters, and its children. It is a snapshot; nothing in it changes after Inspect returned.
type Node struct {
	Kind     string           `json:"kind"`               // "system", "channels", "channel", "partitioner", "calls", "call", "sub-call", "sockets", "socket"
	Name     string           `json:"name"`               // the actor's id or address
	State    string           `json:"state,omitempty"`    // what it is doing: "waiting for response from 127.0.0.1:8000", "connected"
	Age      time.Duration    `json:"age_ns,omitempty"`   // time since the actor started
	Counters map[string]int64 `json:"counters,omitempty"` // e.g. in_flight, succeeded, failed, pending, writes, frames
	LastErr  string           `json:"last_err,omitempty"` // the last error it saw, if any
	// A call's method, channel target, deadline (a sub-call's is its parent's; zero: none),
	// the time left until it when the tree was taken, and log id (0: none set).
	Method   string        `json:"method,omitempty"`
	Channel  string        `json:"channel,omitempty"`
	Deadline time.Time     `json:"deadline,omitzero"`
	TimeLeft time.Duration `json:"time_left_ns,omitempty"`
	LogID    int64         `json:"log_id,omitempty"`
	Children []*Node       `json:"children,omitempty"`
}

// Inspect returns the live tree of the System's actors: its channels with their counters, the
// calls in flight with their method, age and what each waits on, and the sockets with their
// address, connection state and pending attempts. The root's goroutines counter counts every
// goroutine the System owns: its sockets' readers, dialers and writers, the one that waits for
// its calls' deadlines (from the first deadline on, on Linux), and the work of combo channels
// that must not run in an actor. It is cheap enough to call in production, but
// it walks the whole actor registry: call it for a person, not on a hot path.
func (s *System) Inspect() *Node {
	now := time.Now()
	if !s.usable() {
		return &Node{Kind: "system", State: "not initialized: make it with NewSystem"}
	}
	root := &Node{Kind: "system", Name: s.name, State: s.state(), Age: now.Sub(s.started),
		Counters: map[string]int64{"in_flight": s.rt.InFlight(), "goroutines": s.rt.Goroutines()}}
	root.Children = []*Node{s.inspectChannels(now), s.inspectCalls(now), s.inspectSockets(now)}
	return root
}

func (s *System) state() string {
	if s.closed() {
		return "shut down"
	}
	return "running"
}

// inspectable is a channel built outside this package (a combo channel, a partitioner) that its
// package lists among the channels of [System.Inspect].
type inspectable interface {
	Inspect() *Node
}

func (s *System) inspectChannels(now time.Time) *Node {
	s.mu.Lock()
	chans := make([]*PlainChannel, 0, len(s.channels))
	for ch := range s.channels {
		chans = append(chans, ch)
	}
	s.mu.Unlock()
	n := &Node{Kind: "channels", Name: "channels"}
	for _, ch := range chans {
		n.Children = append(n.Children, ch.inspect(now))
	}
	for _, x := range s.rt.Shown() {
		if in, ok := x.(inspectable); ok {
			if node := in.Inspect(); node != nil {
				n.Children = append(n.Children, node)
			}
		}
	}
	sortNodes(n.Children)
	return n
}

func (ch *PlainChannel) inspect(now time.Time) *Node {
	state := "open"
	if ch.closed.Load() {
		state = "closed"
	}
	n := &Node{Kind: "channel", Name: ch.pid.Id, State: state + " → " + ch.target, Age: now.Sub(ch.born),
		Counters: map[string]int64{"in_flight": ch.inflight.Load(), "succeeded": ch.succeeded.Load(), "failed": ch.failed.Load()}}
	if e := ch.lastErr.Load(); e != nil {
		n.LastErr = *e
	}
	if cl := ch.cluster; cl != nil {
		n.State += " " + cl.bal.Name()
		if snap := cl.snap.Load(); snap != nil {
			n.Counters["servers"] = int64(len(snap.servers))
			down := 0
			for _, s := range snap.servers {
				if s.Down {
					down++
				}
			}
			n.Counters["down"] = int64(down)
		} else {
			n.State += " (waiting for the first server list)"
		}
	}
	return n
}

func (s *System) inspectCalls(now time.Time) *Node {
	n := &Node{Kind: "calls", Name: "calls"}
	for _, c := range s.rt.Calls(now) {
		n.Children = append(n.Children, callNode(c, now))
	}
	return n
}

// callNode shows a call: what it waits on, its method, channel, deadline and time left, log id,
// and its retries (attempts after the first, backup requests included) when its channel counts
// them.
func callNode(c *callrt.CallInfo, now time.Time) *Node {
	n := &Node{Kind: c.Kind, Name: c.ID, State: c.State, Age: c.Age, Method: c.Method, Channel: c.Target,
		Deadline: c.Deadline}
	if !c.Deadline.IsZero() {
		n.TimeLeft = c.Deadline.Sub(now)
	}
	if c.HasLogID {
		n.LogID = c.LogID
	}
	if c.Retries > 0 {
		n.Counters = map[string]int64{"retries": int64(c.Retries)}
	}
	for _, child := range c.Children {
		n.Children = append(n.Children, callNode(child, now))
	}
	return n
}

func (s *System) inspectSockets(now time.Time) *Node {
	n := &Node{Kind: "sockets", Name: "sockets"}
	for _, sk := range s.allSockets() {
		n.Children = append(n.Children, sk.inspect(now))
	}
	sortNodes(n.Children)
	return n
}

// inspect shows a socket: its state, followed by its connection type, authentication, TLS and
// Dialer unless it is the default plain single TCP connection without authenticator ("connected
// (pooled)", "connected (single, TLS)"), and counters; connections counts the connections made,
// connections_open those open now; frames counts the requests queued to be written, of which
// frames_dropped were dropped unwritten because their calls had ended first; write_yield is 1
// while the socket yields for more frames before a write, 0 while it found that writing at once
// is faster (yieldTuner).
func (sk *socket) inspect(now time.Time) *Node {
	n := &Node{Kind: "socket", Name: sk.addr, State: sockStateNames[sk.state.Load()], Age: now.Sub(sk.created),
		Counters: map[string]int64{"pending": int64(sk.pending.len()), "writes": sk.writes.Load(),
			"frames": sk.frames.Load(), "frames_dropped": sk.dropped.Load(), "connections": sk.conns.Load(), "connections_open": sk.open.Load(),
			"health_checks": sk.checks.Load(), "breaker_trips": sk.trips.Load(), "unwritten_bytes": sk.unwritten.Load(),
			"write_yield": 1}}
	if sk.pending.tune.skip.Load() {
		n.Counters["write_yield"] = 0
	}
	var how []string
	if sk.auth != nil {
		how = append(how, "with authenticator")
	}
	if sk.tls != nil {
		how = append(how, "TLS")
	}
	if sk.dialer != nil {
		how = append(how, fmt.Sprintf("dialer %T", sk.dialer))
	}
	if sk.typ != connSingle || len(how) > 0 {
		n.State += " (" + strings.Join(append([]string{sk.typ.String()}, how...), ", ") + ")"
	}
	if sk.typ == connPooled {
		n.Counters["connections_idle"] = sk.idle.Load()
		n.Counters["waiting"] = sk.waiting.Load()
	}
	if sk.down.Load() {
		n.State += " (isolated)"
	}
	if sk.retiring.Load() {
		n.State += " (retiring)" // no channel uses it: it closes after its last answer
	}
	if e := sk.lastErr.Load(); e != nil {
		n.LastErr = *e
	}
	return n
}

func sortNodes(ns []*Node) {
	sort.Slice(ns, func(i, j int) bool { return ns[i].Name < ns[j].Name })
}

// Find returns the first node of the tree (depth first, n included) for which match is true.
func (n *Node) Find(match func(*Node) bool) *Node {
	if match(n) {
		return n
	}
	for _, c := range n.Children {
		if f := c.Find(match); f != nil {
			return f
		}
	}
	return nil
}

// String prints the tree indented, one actor per line:
//
//	system troupe1 running age=2.1s in_flight=1
//	  channels
//	    channel troupe1/channels/ch-2 open → 127.0.0.1:8000 age=2.1s failed=0 in_flight=1 succeeded=10
//	  calls
//	    call troupe1/calls/call$k example.EchoService.Echo: waiting for response from 127.0.0.1:8000 age=1.5s
//	  sockets
//	    socket 127.0.0.1:8000 connected age=2.1s pending=1 …
func (n *Node) String() string {
	var b strings.Builder
	n.write(&b, 0)
	return b.String()
}

func (n *Node) write(b *strings.Builder, depth int) {
	b.WriteString(strings.Repeat("  ", depth))
	b.WriteString(n.Kind)
	if n.Name != n.Kind {
		b.WriteString(" " + n.Name)
	}
	if n.State != "" {
		b.WriteString(" " + n.State)
	}
	if n.Age > 0 {
		b.WriteString(" age=" + human.Age(n.Age))
	}
	if !n.Deadline.IsZero() {
		b.WriteString(" time_left=" + human.Age(n.TimeLeft))
	}
	if n.LogID != 0 {
		fmt.Fprintf(b, " log_id=%d", n.LogID)
	}
	keys := make([]string, 0, len(n.Counters))
	for k := range n.Counters {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(b, " %s=%d", k, n.Counters[k])
	}
	if n.LastErr != "" {
		fmt.Fprintf(b, " last_err=%q", n.LastErr)
	}
	b.WriteByte('\n')
	for _, c := range n.Children {
		c.write(b, depth+1)
	}
}
