package actors

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/troupe-rpc/troupe/internal/human"
	"github.com/troupe-rpc/troupe/internal/stats"
)

// Inspect returns the server as a tree a person reads, like [System.Inspect] does for a client:
// the server with its listeners and counters; its methods, each with the requests in its
// handler, its concurrency limit and what it answered; and its connections, each with its
// client, age, requests, bytes, writes and what its reader does (reading, or running a handler
// in place). It is a snapshot; a Server's zero value gives a node that says so.
func (s *Server) Inspect() *Node {
	if s == nil || s.idle == nil {
		return &Node{Kind: "server", State: "not initialized: make it with NewServer"}
	}
	now := time.Now()
	s.mu.Lock()
	var addrs []string
	for l := range s.listeners {
		addrs = append(addrs, l.Addr().String())
	}
	type methodView struct {
		name  string
		limit limitStats
		stats *stats.Method // nil when metrics are disabled
	}
	methods := make([]methodView, 0, len(s.methods))
	for name, m := range s.methods {
		methods = append(methods, methodView{name, m.limit.stats(), m.stats})
	}
	conns := make([]*serverConn, 0, len(s.conns))
	for sc := range s.conns {
		conns = append(conns, sc)
	}
	s.mu.Unlock()
	sort.Strings(addrs)
	sort.Slice(methods, func(i, j int) bool { return methods[i].name < methods[j].name })

	state := "serving"
	switch {
	case s.closing.Load():
		state = "stopping"
	case len(addrs) == 0:
		state = "not listening"
	}
	root := &Node{Kind: "server", Name: strings.Join(addrs, " "), State: state,
		Counters: map[string]int64{"in_flight": s.inflight.Load(), "connections": int64(len(conns)),
			"overcrowded": s.crowded.Load(), "dropped": s.dropped.Load()}}
	if root.Name == "" {
		root.Name = "server"
	}

	mn := &Node{Kind: "methods", Name: "methods"}
	for _, m := range methods {
		n := &Node{Kind: "method", Name: m.name, Counters: map[string]int64{}}
		if m.limit.Max > 0 {
			kind := ""
			if m.limit.Auto {
				kind = " (auto)"
			}
			n.State = "max_concurrency=" + strconv.FormatInt(m.limit.Max, 10) + kind
			n.Counters["limit_rejected"] = m.limit.Rejected
		}
		if m.stats != nil { // the counters only: Inspect needs no latency summaries
			calls, inFlight, _, _, rejected := m.stats.Counts()
			var errs int64
			for _, c := range m.stats.Errors() {
				errs += c
			}
			n.Counters["in_flight"], n.Counters["calls"], n.Counters["errors"], n.Counters["rejected"] = inFlight, calls, errs, rejected
		}
		mn.Children = append(mn.Children, n)
	}

	cn := &Node{Kind: "connections", Name: "connections"}
	for _, sc := range conns {
		cs := sc.stats(now)
		n := &Node{Kind: "connection", Name: cs.Remote, State: sc.readerState(now), Age: cs.Age,
			Counters: map[string]int64{"requests": cs.Requests, "in_handlers": cs.InHandlers,
				"bytes_in": cs.BytesIn, "bytes_out": cs.BytesOut, "writes": cs.Writes}}
		if cs.TLS {
			n.State += " (TLS)"
		}
		cn.Children = append(cn.Children, n)
	}
	sortNodes(cn.Children)
	root.Children = []*Node{mn, cn}
	return root
}

// readerState says what the connection's reader does: reads, or runs a handler in place (and
// for how long).
func (sc *serverConn) readerState(now time.Time) string {
	if sc.role.Load() == roleInPlace {
		if m := sc.inPlace.Load(); m != nil {
			since := time.Unix(0, sc.since.Load())
			return "running " + m.name + " in place for " + human.Age(now.Sub(since))
		}
	}
	return "reading"
}
