package console

import (
	"fmt"
	"html/template"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/internal/human"
)

// dur prints a latency with three significant digits: 87µs, 1.24ms, 2.5s.
func dur(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Millisecond:
		return sig3(float64(d)/1e3) + "µs"
	case d < time.Second:
		return sig3(float64(d)/1e6) + "ms"
	default:
		return sig3(float64(d)/1e9) + "s"
	}
}

// sig3 prints v, at least 1, with about three significant digits.
func sig3(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

// stamp prints a moment as the time of day, with its date when that is not today's.
func stamp(t time.Time) string {
	now := time.Now()
	if y, m, d := t.Date(); y != now.Year() || m != now.Month() || d != now.Day() {
		return t.Format("2006-01-02 15:04:05.000")
	}
	return t.Format("15:04:05.000")
}

// offset prints how long after a trace's start a span began: "0" for the start itself.
func offset(d time.Duration) string {
	if d <= 0 {
		return "0"
	}
	return dur(d)
}

// num prints a rate or a count compactly: 12, 3.5, 1.2k, 4.1M.
func num(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return strconv.FormatFloat(v/1e9, 'f', 1, 64) + "G"
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', 1, 64) + "M"
	case a >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', 1, 64) + "k"
	case a == math.Trunc(a):
		return strconv.FormatFloat(v, 'f', 0, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

// spark draws points as an inline SVG line plot of w×h pixels, scaled to their maximum, which
// its title gives.
func spark(pts []float64, w, h int) template.HTML {
	if len(pts) < 2 {
		return template.HTML(fmt.Sprintf(`<svg class="plot" width="%d" height="%d"><text x="4" y="%d">collecting…</text></svg>`, w, h, h-4))
	}
	top := 0.0
	for _, p := range pts {
		top = max(top, p)
	}
	scale := 1.0
	if top > 0 {
		scale = float64(h-4) / top
	}
	var b strings.Builder
	step := float64(w) / float64(points-1)
	x0 := float64(w) - step*float64(len(pts)-1)
	for i, p := range pts {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%.1f,%.1f", x0+step*float64(i), float64(h-2)-p*scale)
	}
	return template.HTML(fmt.Sprintf(`<svg class="plot" width="%d" height="%d" viewBox="0 0 %d %d"><title>max %s</title>`+
		`<polyline fill="none" stroke="#2563eb" stroke-width="1.5" points="%s"/></svg>`, w, h, w, h, num(top), b.String()))
}

func errorList(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + " " + strconv.FormatInt(m[k], 10)
	}
	return strings.Join(parts, ", ")
}

func counters(n *actors.Node) string {
	keys := make([]string, 0, len(n.Counters))
	for k := range n.Counters {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.FormatInt(n.Counters[k], 10)
	}
	return strings.Join(parts, " ")
}

var funcs = template.FuncMap{
	"dur":      dur,
	"offset":   offset,
	"age":      human.Age,
	"num":      num,
	"spark":    spark,
	"errors":   errorList,
	"counters": counters,
	"f1":       func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
	"stamp":    stamp,
}

var templates = template.Must(template.New("console").Funcs(funcs).Parse(layoutHTML + pagesHTML))

const layoutHTML = `
{{define "head"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.PageTitle}} · {{.Title}}</title>
{{with .Data}}{{if and (eq $.Page "inspect") .Refresh}}<meta http-equiv="refresh" content="{{.Refresh}}">{{end}}{{end}}
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1f2937;background:#f9fafb}
header{background:#111827;color:#f9fafb;padding:8px 16px;display:flex;gap:18px;align-items:baseline}
header b{font-size:16px;margin-right:12px}
header a{color:#d1d5db;text-decoration:none}header a.on{color:#fff;border-bottom:2px solid #60a5fa}
main{padding:12px 16px}
table{border-collapse:collapse;margin:6px 0 18px;background:#fff}
th,td{border:1px solid #e5e7eb;padding:3px 8px;text-align:right;white-space:nowrap}
th{background:#f3f4f6;font-weight:600}td.l,th.l{text-align:left}
h2{font-size:16px;margin:14px 0 4px}h3{font-size:14px;margin:10px 0 2px}
.err{color:#b91c1c}.dim{color:#6b7280}.ok{color:#047857}
.mono,ul.tree{font-family:ui-monospace,monospace;font-size:13px}
ul.tree{list-style:none;padding-left:18px}ul.tree li{margin:2px 0}
.k{font-weight:bold}.plot{background:#f8fafc;border:1px solid #e5e7eb;vertical-align:middle}
form.f{margin:6px 0 10px}form.f input{width:110px}
.tl{position:relative;height:14px;background:#f3f4f6;min-width:420px}
.bar{position:absolute;top:2px;height:10px;background:#60a5fa;border-radius:2px}
.bar.failed{background:#f87171}.bar.attempt{background:#a78bfa}.bar.request{background:#34d399}
</style></head><body>
<header><b>{{.Title}}</b>
<a href="./" {{if eq .Page "index"}}class="on"{{end}}>overview</a>
<a href="status" {{if eq .Page "status"}}class="on"{{end}}>status</a>
<a href="connections" {{if eq .Page "connections"}}class="on"{{end}}>connections</a>
<a href="vars" {{if eq .Page "vars"}}class="on"{{end}}>vars</a>
<a href="rpcz" {{if eq .Page "rpcz"}}class="on"{{end}}>rpcz</a>
<a href="inspect" {{if eq .Page "inspect"}}class="on"{{end}}>inspect</a>
<span class="dim" style="margin-left:auto">{{stamp .Now}} · <a href="{{.JSON}}">json</a></span>
</header><main>{{end}}
{{define "foot"}}</main></body></html>{{end}}
{{define "methods"}}<table><tr><th class="l">method</th><th>calls/s</th><th>calls/s 1m</th><th>last minute</th>
<th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th><th>p99 now</th><th>in flight</th><th>calls</th>
<th>errors</th><th>errors 1m</th><th class="l">by code</th></tr>
{{range .}}<tr class="method"><td class="l">{{.Method}}</td><td class="qps">{{num .QPS}}</td><td>{{f1 .QPSMinute}}</td>
<td>{{spark .PerSecond 120 24}}</td><td>{{dur .Minute.P50}}</td><td>{{dur .Minute.P90}}</td><td class="p99">{{dur .Minute.P99}}</td>
<td>{{dur .Minute.P999}}</td><td>{{dur .Minute.Max}}</td><td>{{dur .P99Now}}</td><td>{{.InFlight}}</td><td>{{.Calls}}</td>
<td {{if .ErrorCount}}class="err"{{end}}>{{.ErrorCount}}</td><td>{{.ErrorsMinute}}</td><td class="l">{{errors .Errors}}{{if .Retries}} · retries {{.Retries}}{{end}}{{if .Backups}} · backups {{.Backups}}{{end}}{{if .Rejected}} · rejected {{.Rejected}}{{end}}</td></tr>
{{else}}<tr><td class="l dim" colspan="15">no calls yet</td></tr>{{end}}</table>{{end}}
{{define "node"}}<li class="{{.Kind}}"><span class="k">{{.Kind}}</span> {{if ne .Name .Kind}}{{.Name}}{{end}}
{{if .State}} <span class="state">{{.State}}</span>{{end}}{{if .Age}} <span class="dim">age={{age .Age}}</span>{{end}}
{{if not .Deadline.IsZero}} <span class="{{if lt .TimeLeft 0}}err{{end}}">deadline {{stamp .Deadline}} (left {{age .TimeLeft}})</span>{{end}}
{{if .LogID}} log_id={{.LogID}}{{end}}{{with counters .}} <span class="dim">{{.}}</span>{{end}}
{{if .LastErr}} <span class="err">last_err={{.LastErr}}</span>{{end}}
{{if .Children}}<ul class="tree">{{range .Children}}{{template "node" .}}{{end}}</ul>{{end}}</li>{{end}}
`

const pagesHTML = `
{{define "index"}}{{template "head" .}}{{with .Data}}
<h2>Overview</h2><table>
<tr><th class="l">uptime</th><td>{{age .Uptime}}</td></tr>
<tr><th class="l">servers</th><td class="l">{{range .Servers}}{{.}}<br>{{else}}none{{end}}</td></tr>
<tr><th class="l">client channels</th><td>{{.Channels}}</td></tr>
<tr><th class="l">client calls in flight</th><td>{{.InFlight}}</td></tr>
<tr><th class="l">client sockets</th><td>{{.Sockets}}</td></tr>
<tr><th class="l">rpcz</th><td class="l">{{if .Rpcz}}recording{{else}}off: set SystemOptions.Rpcz / ServerOptions.Rpcz{{end}}</td></tr>
</table>
<p><a href="status">status</a>: methods with calls/s, latency and errors · <a href="connections">connections</a> ·
<a href="vars">vars</a>: every metric with its last minute · <a href="rpcz">rpcz</a>: recent calls ·
<a href="inspect">inspect</a>: the live actor tree. Every page has a JSON form: add ?format=json.</p>
{{end}}{{template "foot"}}{{end}}

{{define "status"}}{{template "head" .}}{{with .Data}}
<p class="dim">up {{age .Uptime}}. "now" is the last complete second; percentiles are over the last minute.</p>
{{range .Servers}}<h2 class="server">Server {{.Server}} <span class="dim">{{.State}} · in flight {{.InFlight}} · connections {{.Connections}}{{if .Overcrowded}} · overcrowded {{.Overcrowded}}{{end}}{{if .Dropped}} · dropped {{.Dropped}}{{end}}</span></h2>
{{template "methods" .Methods}}{{end}}
{{range .Channels}}<h2 class="channel">Channel {{.Target}} <span class="dim">{{.Name}} · in flight {{.InFlight}}</span></h2>
{{template "methods" .Methods}}{{end}}
{{if not (or .Servers .Channels)}}<p class="dim">no servers and no channels</p>{{end}}
{{end}}{{template "foot"}}{{end}}

{{define "connections"}}{{template "head" .}}{{with .Data}}
{{range .Servers}}<h2>Server {{.Server}}: {{len .Connections}} connections</h2>
<table><tr><th class="l">remote</th><th class="l">local</th><th>age</th><th>requests</th><th>in handlers</th><th>bytes in</th><th>bytes out</th><th>writes</th><th>answers/write</th><th class="l">state</th></tr>
{{range .Connections}}<tr class="conn"><td class="l">{{.Remote}}</td><td class="l">{{.Local}}</td><td>{{age .Age}}</td><td>{{.Requests}}</td><td>{{.InHandlers}}</td><td>{{.BytesIn}}</td><td>{{.BytesOut}}</td><td>{{.Writes}}</td><td>{{f1 .AnswersPerWrite}}</td><td class="l">{{if .TLS}}TLS{{else}}plain{{end}}</td></tr>
{{else}}<tr><td class="l dim" colspan="10">none</td></tr>{{end}}</table>{{end}}
<h2>Client sockets</h2>
<table><tr><th class="l">server</th><th class="l">state</th><th>age</th><th>connections</th><th>open</th><th>pending</th><th>bytes in</th><th>bytes out</th><th>frames in</th><th>frames out</th><th>writes</th><th>frames/write</th><th class="l">last error</th></tr>
{{range .Sockets}}<tr class="socket"><td class="l">{{.Addr}}</td><td class="l">{{.State}}</td><td>{{age .Age}}</td><td>{{.Connections}}</td><td>{{.ConnectionsOpen}}</td><td>{{.Pending}}</td><td>{{.BytesIn}}</td><td>{{.BytesOut}}</td><td>{{.FramesIn}}</td><td>{{.FramesOut}}</td><td>{{.Writes}}</td><td>{{f1 .FramesPerWrite}}</td><td class="l err">{{.LastErr}}</td></tr>
{{else}}<tr><td class="l dim" colspan="13">none</td></tr>{{end}}</table>
{{end}}{{template "foot"}}{{end}}

{{define "vars"}}{{template "head" .}}{{with .Data}}
<form class="f" method="get"><input id="q" name="q" value="{{.Query}}" placeholder="search" autofocus style="width:320px">
<span class="dim">{{len .Vars}} vars · a point every {{.Every}} · counters plot their rate per second</span></form>
<table id="vars"><tr><th class="l">name</th><th>value</th><th class="l">last minute</th></tr>
{{range .Vars}}<tr class="var" data-name="{{.Name}}"><td class="l mono">{{.Name}}</td><td>{{num .Value}}</td><td class="l">{{spark .Points 240 36}} <span class="dim">{{.Kind}}</span></td></tr>{{end}}
</table>
<script>
const q=document.getElementById('q');
q.addEventListener('input',()=>{const v=q.value;for(const r of document.querySelectorAll('tr.var')){r.style.display=r.dataset.name.includes(v)?'':'none'}});
</script>
{{end}}{{template "foot"}}{{end}}

{{define "rpcz"}}{{template "head" .}}{{with .Data}}
{{if not .Enabled}}<p class="err">rpcz is off: give the System and the Servers a recorder (SystemOptions.Rpcz, ServerOptions.Rpcz; package rpcz).</p>{{end}}
{{with .Trace}}{{template "trace" .}}{{else}}
<form class="f" method="get">min latency <input name="min_ms" value="{{.MinMS}}" placeholder="ms">
code <input name="code" value="{{.Code}}" placeholder="any, 1008, ELIMIT">
log id <input name="log_id" value="{{.LogID}}"> method <input name="method" value="{{.Method}}" style="width:200px">
limit <input name="limit" value="{{.Limit}}" style="width:50px">
<label><input type="checkbox" name="open" value="1" style="width:auto" {{if .Open}}checked{{end}}> in flight too</label> <button>filter</button>
<span class="dim">{{.Sampled}} of {{.Offered}} calls and requests sampled</span></form>
<table><tr><th class="l">start</th><th>duration</th><th class="l">kind</th><th class="l">method</th><th class="l">channel / remote</th><th>log id</th><th class="l">result</th><th>spans</th></tr>
{{range .Traces}}<tr class="trace {{.Kind}}"><td class="l"><a href="rpcz?id={{.SpanID}}">{{stamp .Start}}</a></td><td>{{dur .Duration}}{{if .Open}} (open){{end}}</td>
<td class="l">{{.Kind}}</td><td class="l">{{.Method}}</td><td class="l">{{if .Channel}}{{.Channel}}{{if and .Remote (ne .Remote .Channel)}} → {{.Remote}}{{end}}{{else}}{{.Remote}}{{end}}</td>
<td>{{if .LogID}}{{.LogID}}{{end}}</td><td class="l {{if .Failed}}err code{{else}}ok{{end}}">{{if .Failed}}{{if .Code}}{{.Code.Name}} ({{printf "%d" .Code}}){{end}} {{.Error}}{{else}}ok{{end}}</td><td>{{len .Children}}</td></tr>
{{else}}<tr><td class="l dim" colspan="8">no recorded call matches</td></tr>{{end}}</table>
{{end}}{{end}}{{template "foot"}}{{end}}

{{define "trace"}}<h2>{{.Root.Kind}} {{.Root.Method}} <span class="dim">trace {{.Root.TraceID}} · span {{.Root.SpanID}}</span></h2>
<p>{{stamp .Root.Start}} · {{dur .Root.Duration}}{{if .Root.Open}} so far{{end}}{{if .Root.TimeoutMS}} · timeout {{.Root.TimeoutMS}}ms{{end}}{{if .Root.LogID}} · log id {{.Root.LogID}}{{end}}
{{if .Root.Failed}} · <span class="err">{{if .Root.Code}}{{.Root.Code.Name}} {{end}}{{.Root.Error}}</span>{{end}}{{if .Root.Dropped}} · {{.Root.Dropped}} spans not kept{{end}}</p>
<table class="timeline"><tr><th class="l">span</th><th class="l">server / client</th><th>start</th><th>duration</th><th class="l">result</th><th class="l">{{range $i, $d := .Scale}}{{if $i}} · {{end}}{{offset $d}}{{end}}</th></tr>
{{range .Rows}}<tr class="span {{.Span.Kind}}"><td class="l" style="padding-left:{{.Indent}}px">{{.Span.Kind}}{{if eq .Span.Kind "attempt"}}{{if .Span.Backup}} (backup){{else if .Span.Retry}} (retry {{.Span.Retry}}){{end}}{{end}}{{if eq .Span.Kind "sub-call"}} #{{.Span.SubCall}}{{end}}</td>
<td class="l">{{.Span.Remote}}</td><td>+{{offset (.Span.Start.Sub $.Root.Start)}}</td><td>{{dur .Span.Duration}}</td>
<td class="l {{if .Span.Failed}}err{{end}}">{{if .Span.Failed}}{{if .Span.Code}}{{.Span.Code.Name}} {{end}}{{.Span.Error}}{{else}}ok{{end}}</td>
<td class="l"><div class="tl"><div class="bar {{.Span.Kind}}{{if .Span.Failed}} failed{{end}}" style="left:{{printf "%.2f" .Left}}%;width:{{printf "%.2f" .Width}}%"></div></div></td></tr>{{end}}
</table>
{{with .Related}}<h3>Same trace, recorded here too</h3><ul>{{range .}}<li><a href="rpcz?id={{.SpanID}}">{{.Kind}} {{.Method}}</a> {{.Remote}} {{dur .Duration}}</li>{{end}}</ul>{{end}}
<p><a href="rpcz">back to recent calls</a></p>{{end}}

{{define "inspect"}}{{template "head" .}}{{with .Data}}
<p class="dim">{{if .Refresh}}reloads every {{.Refresh}} s (<a href="inspect?refresh=0">stop</a>){{else}}<a href="inspect?refresh=2">reload every 2 s</a>{{end}}</p>
{{with .System}}<h2>Client</h2><ul class="tree">{{template "node" .}}</ul>{{end}}
{{range .Servers}}<h2>Server</h2><ul class="tree">{{template "node" .}}</ul>{{end}}
{{end}}{{template "foot"}}{{end}}
`
