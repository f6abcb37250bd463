package console_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/actorstest"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/console"
	"github.com/troupe-rpc/troupe/rpcz"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestPagesShowWhatAPersonLooksFor(t *testing.T) {
	w := newWorld(t)

	t.Run("status", func(t *testing.T) {
		var st console.Status
		actorstest.Eventually(t, "a second with calls on the server and the channel", func() bool {
			w.getJSON(t, "status", &st)
			return methodQPS(st.Servers, w.addr) > 0 && channelQPS(st.Channels, w.addr) > 0
		})
		row := serverMethod(st.Servers, w.addr)
		if row.Minute.P99 <= 0 || row.Minute.P50 <= 0 || row.Calls == 0 {
			t.Errorf("server method row lacks latency: %+v", row)
		}
		ch := channelMethod(st.Channels, w.addr)
		if ch.Errors["EREQUEST"] != 1 || ch.ErrorCount != 1 {
			t.Errorf("channel errors %v, want the one EREQUEST", ch.Errors)
		}
		html := w.get(t, "status")
		for _, want := range []string{"Server " + w.addr, "Channel " + w.addr, echoservice.Method, "p99", "EREQUEST 1", "<svg"} {
			if !strings.Contains(html, want) {
				t.Errorf("/status lacks %q", want)
			}
		}
	})

	t.Run("connections", func(t *testing.T) {
		var cs console.Connections
		w.getJSON(t, "connections", &cs)
		if len(cs.Servers) != 2 || len(cs.Servers[0].Connections) != 1 || cs.Servers[0].Connections[0].Requests == 0 {
			t.Fatalf("servers' connections: %+v", cs.Servers)
		}
		var slow *console.SocketRow
		for i := range cs.Sockets {
			if cs.Sockets[i].Addr == w.slowAddr {
				slow = &cs.Sockets[i]
			}
		}
		if slow == nil || slow.Pending != 1 || !strings.HasPrefix(slow.State, "connected") || slow.ConnectionsOpen != 1 {
			t.Fatalf("the stuck call's socket: %+v", slow)
		}
		html := w.get(t, "connections")
		if !strings.Contains(html, w.slowAddr) || !strings.Contains(html, "frames/write") {
			t.Errorf("/connections lacks the sockets:\n%s", html)
		}
	})

	t.Run("vars", func(t *testing.T) {
		var vs console.VarsView
		name := "server." + w.addr + "." + echoservice.Method + ".calls"
		actorstest.Eventually(t, "a rate plotted for "+name, func() bool {
			w.getJSON(t, "vars?q="+name, &vs)
			return len(vs.Vars) == 1 && len(vs.Vars[0].Points) >= 2 && maxOf(vs.Vars[0].Points) > 0
		})
		if vs.Vars[0].Kind != "counter" || vs.Vars[0].Value <= 0 {
			t.Errorf("%s = %+v", name, vs.Vars[0])
		}
		var all console.VarsView
		w.getJSON(t, "vars", &all)
		for _, want := range []string{"process.goroutines", "client.in_flight", "socket." + w.slowAddr + ".bytes_out",
			"client." + w.addr + "." + echoservice.Method + ".latency_p99_us"} {
			if !hasVar(all.Vars, want) {
				t.Errorf("/vars lacks %s", want)
			}
		}
		html := w.get(t, "vars?q="+name)
		if !strings.Contains(html, "<polyline") || strings.Count(html, `class="var"`) != 1 {
			t.Errorf("/vars?q= does not plot exactly the one var:\n%s", html)
		}
	})

	t.Run("rpcz", func(t *testing.T) {
		var rv console.RpczView
		w.getJSON(t, "rpcz?code=EREQUEST", &rv)
		var call *rpcz.Span
		for _, s := range rv.Traces {
			if s.Kind == "call" {
				call = s
			}
		}
		if call == nil || call.LogID != failLogID || call.Channel != w.addr || len(call.Children) != 1 {
			t.Fatalf("the failed call is not in /rpcz?code=EREQUEST: %+v", rv.Traces)
		}
		rv = console.RpczView{}
		w.getJSON(t, "rpcz?log_id="+strconv.Itoa(failLogID)+"&code=1003", &rv)
		if len(rv.Traces) != 2 { // the call and the server's request
			t.Errorf("log_id and code filter: %d traces, want 2", len(rv.Traces))
		}
		// The stuck call is recorded while it waits: listed with open=1 only.
		rv = console.RpczView{}
		w.getJSON(t, "rpcz?log_id="+strconv.Itoa(stuckLogID), &rv)
		if len(rv.Traces) != 0 {
			t.Errorf("the stuck call is listed without open=1: %+v", rv.Traces)
		}
		w.getJSON(t, "rpcz?open=1&log_id="+strconv.Itoa(stuckLogID), &rv)
		kinds := map[string]bool{}
		for _, s := range rv.Traces {
			kinds[s.Kind] = s.Open
		}
		if len(rv.Traces) != 2 || !kinds["call"] || !kinds["request"] {
			t.Errorf("open=1 lists %+v, want the stuck call and its request, both open", rv.Traces)
		}
		rv = console.RpczView{}
		w.getJSON(t, "rpcz?min_ms=3600000", &rv)
		if len(rv.Traces) != 0 {
			t.Errorf("min_ms of an hour selects %d traces", len(rv.Traces))
		}
		rv = console.RpczView{}
		w.getJSON(t, "rpcz?id="+call.SpanID, &rv)
		if rv.Trace == nil || rv.Trace.Root.SpanID != call.SpanID || len(rv.Trace.Related) != 1 || rv.Trace.Related[0].Kind != "request" {
			t.Fatalf("one trace's page: %+v", rv.Trace)
		}
		html := w.get(t, "rpcz?id="+call.SpanID)
		for _, want := range []string{"EREQUEST", `class="bar attempt failed"`, "log id 4040", "Same trace"} {
			if !strings.Contains(html, want) {
				t.Errorf("trace page lacks %q:\n%s", want, html)
			}
		}
		for _, bad := range []string{"rpcz?code=NOSUCH", "rpcz?min_ms=x", "rpcz?log_id=y", "rpcz?limit=0", "rpcz?id=00000000000000ff"} {
			if body, code := w.getStatus(t, bad); code != http.StatusBadRequest || body == "" {
				t.Errorf("GET %s = %d %q, want 400 with the reason", bad, code, body)
			}
		}
	})

	t.Run("inspect", func(t *testing.T) {
		var iv console.InspectView
		w.getJSON(t, "inspect", &iv)
		call := iv.System.Find(func(n *actors.Node) bool { return n.Kind == "call" && n.LogID == stuckLogID })
		if call == nil || call.Channel != w.slowAddr || call.TimeLeft <= 0 || !strings.Contains(call.State, "waiting for response from "+w.slowAddr) {
			t.Fatalf("the stuck call in /inspect: %+v", call)
		}
		if len(iv.Servers) != 2 || iv.Servers[1].Find(func(n *actors.Node) bool { return n.Kind == "connection" && n.Counters["in_handlers"] == 1 }) == nil {
			t.Errorf("the slow server's connection with the request in its handler: %+v", iv.Servers)
		}
		html := w.get(t, "inspect")
		for _, want := range []string{`http-equiv="refresh" content="2"`, "log_id=31337", "left ", w.slowAddr} {
			if !strings.Contains(html, want) {
				t.Errorf("/inspect lacks %q", want)
			}
		}
		if html := w.get(t, "inspect?refresh=0"); strings.Contains(html, "http-equiv") {
			t.Errorf("/inspect?refresh=0 reloads")
		}
	})

	t.Run("index", func(t *testing.T) {
		var ov console.Overview
		w.getJSON(t, "", &ov)
		if len(ov.Servers) != 2 || !ov.Rpcz || ov.InFlight < 1 {
			t.Errorf("overview: %+v", ov)
		}
		if _, code := w.getStatus(t, "nosuchpage"); code != http.StatusNotFound {
			t.Errorf("an unknown page = %d, want 404", code)
		}
	})

	t.Run("no external fetches", func(t *testing.T) {
		for _, p := range []string{"", "status", "connections", "vars", "rpcz", "inspect"} {
			html := w.get(t, p)
			for _, bad := range []string{"http://", "https://", "//cdn", "@import"} {
				if strings.Contains(html, bad) {
					t.Errorf("/%s refers to %q: the console must work offline", p, bad)
				}
			}
		}
	})
}

func TestNewRefusesNothingToShow(t *testing.T) {
	if _, err := console.New(console.Options{}); err == nil || !strings.Contains(err.Error(), "nothing to show") {
		t.Errorf("New(empty) = %v", err)
	}
	if _, err := console.New(console.Options{Servers: []*actors.Server{nil}}); err == nil || !strings.Contains(err.Error(), "Servers[0] is nil") {
		t.Errorf("New(nil server) = %v", err)
	}
	sys := actorstest.NewSystem(t)
	con, err := console.New(console.Options{System: sys})
	if err != nil {
		t.Fatal(err)
	}
	if err := con.AddServer(nil); err == nil {
		t.Error("AddServer(nil) = nil")
	}
	con.Close()
	con.Close()
}

func serverMethod(ss []console.ServerStatus, addr string) console.MethodRow {
	for _, s := range ss {
		if s.Server == addr && len(s.Methods) > 0 {
			return s.Methods[0]
		}
	}
	return console.MethodRow{}
}

func channelMethod(cs []console.ChannelStatus, target string) console.MethodRow {
	for _, c := range cs {
		if c.Target == target && len(c.Methods) > 0 {
			return c.Methods[0]
		}
	}
	return console.MethodRow{}
}

func methodQPS(ss []console.ServerStatus, addr string) float64 { return serverMethod(ss, addr).QPS }

func channelQPS(cs []console.ChannelStatus, target string) float64 {
	return channelMethod(cs, target).QPS
}

func maxOf(xs []float64) float64 {
	m := 0.0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

func hasVar(vs []console.Var, name string) bool {
	for _, v := range vs {
		if v.Name == name {
			return true
		}
	}
	return false
}
