package console

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/rpcz"
	"github.com/troupe-rpc/troupe/wire"
)

// MethodRow is one method of a server or a client channel on /status: now (the last complete
// second) and over the last minute.
type MethodRow struct {
	Method string `json:"method"`
	// QPS is the calls that ended in the last complete second; QPSMinute the average over the
	// last minute's complete seconds (those since the first call, for a method younger than
	// that).
	QPS       float64 `json:"qps"`
	QPSMinute float64 `json:"qps_minute"`
	Calls     int64   `json:"calls"` // since start
	// Errors counts the failed calls since start, by code name; ErrorsMinute those of the last
	// minute.
	Errors       map[string]int64 `json:"errors,omitempty"`
	ErrorCount   int64            `json:"error_count"`
	ErrorsMinute int64            `json:"errors_minute"`
	InFlight     int64            `json:"in_flight"` // concurrency: calls (requests in handlers) now
	Retries      int64            `json:"retries,omitempty"`
	Backups      int64            `json:"backups,omitempty"`
	Rejected     int64            `json:"rejected,omitempty"`
	// P99Now is the p99 latency of the last complete second; Minute and Total summarize the
	// last minute and everything since start.
	P99Now time.Duration       `json:"p99_now_ns"`
	Minute actors.LatencyStats `json:"minute"`
	Total  actors.LatencyStats `json:"total"`
	// PerSecond is calls per second over the last minute, oldest first.
	PerSecond []float64 `json:"per_second"`
}

func methodRow(m *actors.MethodStats) MethodRow {
	row := MethodRow{Method: m.Method, Calls: m.Calls, ErrorCount: m.ErrorCount(), InFlight: m.InFlight,
		Retries: m.Retries, Backups: m.Backups, Rejected: m.Rejected, Minute: m.LastMinute, Total: m.Latency}
	for code, n := range m.Errors {
		if row.Errors == nil {
			row.Errors = map[string]int64{}
		}
		row.Errors[codeName(code)] += n
	}
	var complete int64 // the calls of the complete seconds
	first := -1        // the first second with calls: a younger method averages over its life
	last := len(m.PerSecond) - 2
	for i, s := range m.PerSecond {
		row.PerSecond = append(row.PerSecond, float64(s.Calls))
		row.ErrorsMinute += s.Errors
		if i > last {
			continue // the current second, not over yet
		}
		complete += s.Calls
		if s.Calls > 0 && first < 0 {
			first = i
		}
		if i == last {
			row.QPS, row.P99Now = float64(s.Calls), s.P99
		}
	}
	if first >= 0 {
		row.QPSMinute = float64(complete) / float64(last-first+1)
	}
	return row
}

func codeName(code wire.Errno) string {
	if code == -1 {
		return "other"
	}
	if code.Known() {
		return code.Name()
	}
	return strconv.Itoa(int(code))
}

// ServerStatus is one server on /status.
type ServerStatus struct {
	Server      string      `json:"server"` // its listening addresses
	State       string      `json:"state"`
	InFlight    int64       `json:"in_flight"`
	Connections int         `json:"connections"`
	Overcrowded int64       `json:"overcrowded"`
	Dropped     int64       `json:"dropped"`
	Methods     []MethodRow `json:"methods"`
}

// ChannelStatus is one client channel on /status.
type ChannelStatus struct {
	Name     string      `json:"name"`
	Target   string      `json:"target"`
	InFlight int64       `json:"in_flight"`
	Methods  []MethodRow `json:"methods"`
}

// Status is the data of /status.
type Status struct {
	Uptime   time.Duration   `json:"uptime_ns"`
	Servers  []ServerStatus  `json:"servers"`
	Channels []ChannelStatus `json:"channels"`
}

func (c *Console) statusData(*http.Request) (any, error) {
	out := Status{Uptime: time.Since(c.start)}
	for _, s := range c.serverList() {
		st, node := s.Stats(), s.Inspect()
		ss := ServerStatus{Server: node.Name, State: node.State, InFlight: st.InFlight,
			Connections: len(st.Connections), Overcrowded: st.Overcrowded, Dropped: st.Dropped}
		for i := range st.Methods {
			ss.Methods = append(ss.Methods, methodRow(&st.Methods[i]))
		}
		out.Servers = append(out.Servers, ss)
	}
	if c.sys != nil {
		for _, ch := range c.sys.Stats().Channels {
			cs := ChannelStatus{Name: ch.Name, Target: ch.Target, InFlight: ch.InFlight}
			for i := range ch.Methods {
				cs.Methods = append(cs.Methods, methodRow(&ch.Methods[i]))
			}
			out.Channels = append(out.Channels, cs)
		}
	}
	return out, nil
}

// ServerConnections is one server's connections on /connections.
type ServerConnections struct {
	Server      string                   `json:"server"`
	Connections []actors.ServerConnStats `json:"connections"`
}

// SocketRow is one client socket on /connections.
type SocketRow struct {
	actors.SocketStats
	State   string `json:"state"`
	Pending int64  `json:"pending"` // attempts waiting for their answers
	LastErr string `json:"last_err,omitempty"`
}

// Connections is the data of /connections.
type Connections struct {
	Servers []ServerConnections `json:"servers"`
	Sockets []SocketRow         `json:"sockets"`
}

func (c *Console) connectionsData(*http.Request) (any, error) {
	var out Connections
	for _, s := range c.serverList() {
		st := s.Stats()
		out.Servers = append(out.Servers, ServerConnections{Server: s.Inspect().Name, Connections: st.Connections})
	}
	if c.sys != nil {
		nodes := map[string]*actors.Node{}
		if socks := c.sys.Inspect().Find(func(n *actors.Node) bool { return n.Kind == "sockets" }); socks != nil {
			for _, n := range socks.Children {
				nodes[n.Name] = n
			}
		}
		for _, sk := range c.sys.Stats().Sockets {
			row := SocketRow{SocketStats: sk}
			if n := nodes[sk.Addr]; n != nil {
				row.State, row.Pending, row.LastErr = n.State, n.Counters["pending"], n.LastErr
			}
			out.Sockets = append(out.Sockets, row)
		}
	}
	return out, nil
}

// InspectView is the data of /inspect: the live trees.
type InspectView struct {
	System  *actors.Node   `json:"system,omitempty"`
	Servers []*actors.Node `json:"servers,omitempty"`
	Refresh int            `json:"-"`
}

func (c *Console) inspectData(r *http.Request) (any, error) {
	out := InspectView{Refresh: 2}
	if v := r.URL.Query().Get("refresh"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 3600 {
			return nil, fmt.Errorf("refresh=%q: want seconds from 0 (never) to 3600", v)
		}
		out.Refresh = n
	}
	if c.sys != nil {
		out.System = c.sys.Inspect()
	}
	for _, s := range c.serverList() {
		out.Servers = append(out.Servers, s.Inspect())
	}
	return out, nil
}

// Overview is the data of the index page.
type Overview struct {
	Uptime   time.Duration `json:"uptime_ns"`
	Servers  []string      `json:"servers"`
	Channels int           `json:"channels"`
	InFlight int64         `json:"in_flight"` // client calls in flight
	Sockets  int           `json:"sockets"`
	Rpcz     bool          `json:"rpcz"` // whether calls are recorded for /rpcz
}

func (c *Console) indexData(*http.Request) (any, error) {
	out := Overview{Uptime: time.Since(c.start), Rpcz: len(c.recorders()) > 0}
	for _, s := range c.serverList() {
		out.Servers = append(out.Servers, s.Inspect().Name)
	}
	if c.sys != nil {
		st := c.sys.Stats()
		out.Channels, out.Sockets = len(st.Channels), len(st.Sockets)
		for _, ch := range st.Channels {
			out.InFlight += ch.InFlight
		}
	}
	return out, nil
}

// RpczView is the data of /rpcz: the recent traces the filters select, or one trace.
type RpczView struct {
	Enabled bool `json:"enabled"` // some recorder is there
	// The filters, as given.
	MinMS  string `json:"min_ms,omitempty"`
	Code   string `json:"code,omitempty"`
	LogID  string `json:"log_id,omitempty"`
	Method string `json:"method,omitempty"`
	Open   bool   `json:"open,omitempty"` // calls still in flight are listed too
	Limit  int    `json:"limit"`
	// Offered counts the calls and requests offered to the recorders, Sampled those they kept.
	Offered int64        `json:"offered"`
	Sampled int64        `json:"sampled"`
	Traces  []*rpcz.Span `json:"traces,omitempty"`
	Trace   *TraceView   `json:"trace,omitempty"`
}

// TraceView is one trace on /rpcz?id=: its root's spans on a timeline, and the other local
// roots of the same trace (a server's request the call reached, in this process).
type TraceView struct {
	Root    *rpcz.Span      `json:"root"`
	Rows    []TimelineRow   `json:"-"`
	Related []*rpcz.Span    `json:"related,omitempty"`
	Scale   []time.Duration `json:"-"`
}

// TimelineRow is a span on a trace's timeline: its depth, and its bar's place in percent.
type TimelineRow struct {
	Span        *rpcz.Span
	Depth       int
	Indent      int // pixels
	Left, Width float64
}

const defaultRpczLimit = 100

func (c *Console) rpczData(r *http.Request) (any, error) {
	q := r.URL.Query()
	recs := c.recorders()
	out := RpczView{Enabled: len(recs) > 0, MinMS: q.Get("min_ms"), Code: q.Get("code"),
		LogID: q.Get("log_id"), Method: q.Get("method"), Limit: defaultRpczLimit}
	for _, rec := range recs {
		o, s := rec.Counts()
		out.Offered += o
		out.Sampled += s
	}
	if id := q.Get("id"); id != "" {
		for _, rec := range recs {
			if root := rec.Find(id); root != nil {
				out.Trace = timeline(root)
				for _, rec := range recs {
					for _, s := range rec.Recent(rpcz.Query{TraceID: root.TraceID, Open: true}) {
						if s.SpanID != root.SpanID {
							out.Trace.Related = append(out.Trace.Related, s)
						}
					}
				}
				return out, nil
			}
		}
		return nil, fmt.Errorf("no recorded span has id %q: the ring may have dropped it", id)
	}
	out.Open = q.Get("open") != ""
	query := rpcz.Query{Method: out.Method, Open: out.Open}
	if v := out.MinMS; v != "" {
		ms, err := strconv.ParseFloat(v, 64)
		if err != nil || ms < 0 {
			return nil, fmt.Errorf("min_ms=%q: want a number of milliseconds", v)
		}
		query.MinDuration = time.Duration(ms * float64(time.Millisecond))
	}
	if v := out.LogID; v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("log_id=%q: want an integer", v)
		}
		query.LogID = id
	}
	if v := out.Code; v != "" {
		code, any, err := parseCode(v)
		if err != nil {
			return nil, err
		}
		query.Code, query.AnyError = code, any
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("limit=%q: want a positive integer", v)
		}
		out.Limit = n
	}
	for _, rec := range recs {
		out.Traces = append(out.Traces, rec.Recent(query)...)
	}
	// Newest first across recorders, by when they began.
	sort.SliceStable(out.Traces, func(i, j int) bool { return out.Traces[i].Start.After(out.Traces[j].Start) })
	if len(out.Traces) > out.Limit {
		out.Traces = out.Traces[:out.Limit]
	}
	return out, nil
}

// parseCode reads a code filter: "any" (any error), a brpc code's number or its name.
func parseCode(v string) (wire.Errno, bool, error) {
	if strings.EqualFold(v, "any") {
		return 0, true, nil
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return wire.Errno(n), false, nil
	}
	for n := wire.Errno(1); n < 3000; n++ {
		if n.Known() && strings.EqualFold(n.Name(), v) {
			return n, false, nil
		}
	}
	return 0, false, fmt.Errorf("code=%q: want \"any\", a brpc error code or its name (ERPCTIMEDOUT)", v)
}

// timeline lays root's spans out in start order under their parents, each bar placed in
// percent of the root's duration (or of the latest end under it, when a span outlived it).
func timeline(root *rpcz.Span) *TraceView {
	end := root.Start.Add(root.Duration)
	root.Walk(func(s *rpcz.Span) {
		if e := s.Start.Add(s.Duration); e.After(end) {
			end = e
		}
	})
	total := max(end.Sub(root.Start), time.Microsecond)
	tv := &TraceView{Root: root}
	var walk func(s *rpcz.Span, depth int)
	walk = func(s *rpcz.Span, depth int) {
		left := float64(s.Start.Sub(root.Start)) / float64(total) * 100
		width := max(float64(s.Duration)/float64(total)*100, 0.3)
		left = min(max(left, 0), 99.7)
		tv.Rows = append(tv.Rows, TimelineRow{Span: s, Depth: depth, Indent: 8 + 16*depth, Left: left, Width: min(width, 100-left)})
		kids := slices.Clone(s.Children)
		slices.SortStableFunc(kids, func(a, b *rpcz.Span) int { return a.Start.Compare(b.Start) })
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	walk(root, 0)
	for i := range 5 {
		tv.Scale = append(tv.Scale, total*time.Duration(i)/4)
	}
	return tv
}

// VarsView is the data of /vars: every metric whose name contains the query.
type VarsView struct {
	Query string `json:"q,omitempty"`
	Vars  []Var  `json:"vars"`
	// Every is the time between two points of a plot.
	Every time.Duration `json:"every_ns"`
}

func (c *Console) varsData(r *http.Request) (any, error) {
	q := r.URL.Query().Get("q")
	vars := c.vars.snapshot(q)
	slices.SortFunc(vars, func(a, b Var) int { return cmp.Compare(a.Name, b.Name) })
	return VarsView{Query: q, Vars: vars, Every: c.vars.every()}, nil
}
