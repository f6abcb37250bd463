package console

import (
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/troupe-rpc/troupe/actors"
)

// points is how many samples a var's plot keeps: a minute at one per second.
const points = 60

// Var is one metric on /vars: its current value and its last minute.
type Var struct {
	Name string `json:"name"`
	// Kind is "counter" (a total that only grows; its plot shows the rate per second) or
	// "gauge" (a level; its plot shows the level).
	Kind  string  `json:"kind"`
	Value float64 `json:"value"`
	// Points are the plot's values, oldest first, one per sample; fewer than 60 while the
	// console is young or the var new.
	Points []float64 `json:"points"`
}

// series is one var's samples.
type series struct {
	counter bool
	vals    [points + 1]float64 // a ring of raw samples; one more than points for the first rate
	n       int                 // samples taken
	last    int64               // the sample round that last saw the var
}

// history keeps every var's last samples; vars not seen for a minute are forgotten.
type history struct {
	mu     sync.Mutex
	vars   map[string]*series
	round  int64
	period time.Duration
	prev   time.Time
}

func newHistory() *history { return &history{vars: map[string]*series{}, period: time.Second} }

func (h *history) every() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.period
}

// record stores one round of samples.
func (h *history) record(now time.Time, samples []sample) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.prev.IsZero() {
		h.period = now.Sub(h.prev).Round(time.Millisecond)
	}
	h.prev = now
	h.round++
	for _, s := range samples {
		v := h.vars[s.name]
		if v == nil {
			v = &series{counter: s.counter}
			h.vars[s.name] = v
		}
		if v.last == h.round {
			continue // a name seen twice in a round keeps its first value
		}
		v.vals[v.n%len(v.vals)] = s.value
		v.n++
		v.last = h.round
	}
	for name, v := range h.vars {
		if h.round-v.last > points {
			delete(h.vars, name)
		}
	}
}

// snapshot returns the vars whose names contain q (all for ""), with their plots.
func (h *history) snapshot(q string) []Var {
	h.mu.Lock()
	defer h.mu.Unlock()
	secs := h.period.Seconds()
	if secs <= 0 {
		secs = 1
	}
	out := make([]Var, 0, len(h.vars))
	for name, s := range h.vars {
		if q != "" && !strings.Contains(name, q) {
			continue
		}
		v := Var{Name: name, Kind: "gauge", Value: s.vals[(s.n-1)%len(s.vals)]}
		first := max(s.n-len(s.vals), 0)
		if s.counter {
			v.Kind = "counter"
			first = max(s.n-points-1, 0)
			for i := first + 1; i < s.n; i++ {
				d := s.vals[i%len(s.vals)] - s.vals[(i-1)%len(s.vals)]
				v.Points = append(v.Points, max(d, 0)/secs)
			}
		} else {
			for i := max(first, s.n-points); i < s.n; i++ {
				v.Points = append(v.Points, s.vals[i%len(s.vals)])
			}
		}
		out = append(out, v)
	}
	return out
}

// sample is one var's value in a round.
type sample struct {
	name    string
	counter bool
	value   float64
}

var runtimeMetrics = []metrics.Sample{
	{Name: "/memory/classes/heap/objects:bytes"},
	{Name: "/gc/cycles/total:gc-cycles"},
	{Name: "/sched/goroutines:goroutines"},
}

// sample takes one round of every metric the console shows.
func (c *Console) sample(now time.Time) {
	var out []sample
	gauge := func(name string, v float64) { out = append(out, sample{name: name, value: v}) }
	counter := func(name string, v float64) { out = append(out, sample{name: name, counter: true, value: v}) }

	ms := make([]metrics.Sample, len(runtimeMetrics))
	copy(ms, runtimeMetrics)
	metrics.Read(ms)
	for _, m := range ms {
		switch m.Value.Kind() {
		case metrics.KindUint64:
			v := float64(m.Value.Uint64())
			switch m.Name {
			case "/memory/classes/heap/objects:bytes":
				gauge("process.heap_object_bytes", v)
			case "/gc/cycles/total:gc-cycles":
				counter("process.gc_cycles", v)
			case "/sched/goroutines:goroutines":
				gauge("process.goroutines", v)
			}
		}
	}

	if c.sys != nil {
		st := c.sys.Stats()
		var inflight int64
		seen := map[string]int{}
		for _, ch := range st.Channels {
			inflight += ch.InFlight
			name := ch.Target
			if strings.HasSuffix(name, " channel") { // a combo channel: its kind and number
				name = ch.Name
			}
			if seen[name]++; seen[name] > 1 {
				name += "#" + strconv.Itoa(seen[name])
			}
			for i := range ch.Methods {
				methodSamples(&out, "client."+name+"."+ch.Methods[i].Method, &ch.Methods[i], true)
			}
		}
		gauge("client.in_flight", float64(inflight))
		for _, sk := range st.Sockets {
			p := "socket." + sk.Addr + "."
			counter(p+"bytes_in", float64(sk.BytesIn))
			counter(p+"bytes_out", float64(sk.BytesOut))
			counter(p+"frames_in", float64(sk.FramesIn))
			counter(p+"frames_out", float64(sk.FramesOut))
			counter(p+"writes", float64(sk.Writes))
			counter(p+"connections", float64(sk.Connections))
			gauge(p+"connections_open", float64(sk.ConnectionsOpen))
			gauge(p+"frames_per_write", sk.FramesPerWrite)
		}
	}
	for _, s := range c.serverList() {
		st := s.Stats()
		p := "server." + serverName(s) + "."
		gauge(p+"in_flight", float64(st.InFlight))
		gauge(p+"connections", float64(len(st.Connections)))
		counter(p+"overcrowded", float64(st.Overcrowded))
		counter(p+"dropped", float64(st.Dropped))
		var in, outB, reqs int64
		for _, cs := range st.Connections {
			in, outB, reqs = in+cs.BytesIn, outB+cs.BytesOut, reqs+cs.Requests
		}
		gauge(p+"open_connections_bytes_in", float64(in))
		gauge(p+"open_connections_bytes_out", float64(outB))
		for i := range st.Methods {
			methodSamples(&out, p+st.Methods[i].Method, &st.Methods[i], false)
		}
	}
	c.vars.record(now, out)
}

// methodSamples adds a method's vars under prefix p: calls, errors and (client) retries as
// counters; in flight and the last complete second's latency as gauges.
func methodSamples(out *[]sample, p string, m *actors.MethodStats, client bool) {
	add := func(name string, counter bool, v float64) {
		*out = append(*out, sample{name: p + "." + name, counter: counter, value: v})
	}
	add("calls", true, float64(m.Calls))
	add("errors", true, float64(m.ErrorCount()))
	add("in_flight", false, float64(m.InFlight))
	if client {
		add("retries", true, float64(m.Retries))
		add("backups", true, float64(m.Backups))
	} else {
		add("rejected", true, float64(m.Rejected))
	}
	var last actors.SecondStats
	if n := len(m.PerSecond); n >= 2 {
		last = m.PerSecond[n-2]
	}
	add("latency_mean_us", false, float64(last.Mean.Microseconds()))
	add("latency_p99_us", false, float64(last.P99.Microseconds()))
	add("latency_max_us", false, float64(last.Max.Microseconds()))
}

// serverName names a server by its listening addresses.
func serverName(s *actors.Server) string {
	name := s.Inspect().Name
	return strings.ReplaceAll(name, " ", ",")
}
