package rpcz

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/troupe-rpc/troupe/wire"
)

// Defaults of [Options].
const (
	DefaultCapacity  = 1024 // traces kept
	DefaultPerSecond = 100  // traces sampled per second
	DefaultMaxSpans  = 256  // spans kept per trace
	// DefaultMaxKeptSpans bounds the spans of all the traces kept: about 13 MB at most.
	DefaultMaxKeptSpans = 16384
)

// Options tune a [Recorder]. The zero value takes the defaults.
type Options struct {
	// Capacity is how many traces the ring keeps, the oldest dropped first; 0 means
	// DefaultCapacity. Failed traces are also kept in a ring of their own, a quarter of the
	// size, so that a flood of successful calls does not push the last failures out.
	Capacity int
	// PerSecond is how many traces may begin in one second: the first ones of each second are
	// recorded, the others are not (brpc's rpcz limits its sampling the same way). 0 means
	// DefaultPerSecond; negative records every trace.
	PerSecond int
	// MaxSpans bounds the spans kept per trace (a 1 000-way fan-out keeps its first MaxSpans
	// and counts the others in [Span.Dropped]); 0 means DefaultMaxSpans.
	MaxSpans int
	// MaxKeptSpans bounds the spans of all the traces the ring keeps, which bounds its memory
	// (a span takes about 800 bytes): the oldest traces go first when the newest would exceed
	// it. The ring of failures has a quarter of it. 0 means DefaultMaxKeptSpans.
	MaxKeptSpans int
}

// Recorder keeps the recent sampled calls and requests of the Systems and Servers given it (see
// the package documentation). Make it with [New]; it is safe for concurrent use.
type Recorder struct {
	capacity, perSecond, maxSpans int

	second  atomic.Int64 // the Unix second budget counts
	budget  atomic.Int64 // traces begun in it
	seen    atomic.Int64 // local roots offered
	sampled atomic.Int64

	mu     sync.Mutex
	all    ring // ended traces
	failed ring // ended traces whose root failed: they outlive a flood of successes
	open   map[*trace_]struct{}
}

// ring is a bounded queue of traces, the oldest dropped first: at most len(traces) of them, and
// no more than budget spans in all (but always the newest trace).
type ring struct {
	traces []*trace_ // circular: traces[head] is the oldest of n
	sizes  []int     // the spans of each
	head   int
	n      int
	spans  int
	budget int
}

func newRing(capacity, budget int) ring {
	return ring{traces: make([]*trace_, capacity), sizes: make([]int, capacity), budget: budget}
}

func (r *ring) push(tr *trace_, size int) {
	if r.n == len(r.traces) {
		r.pop()
	}
	i := (r.head + r.n) % len(r.traces)
	r.traces[i], r.sizes[i] = tr, size
	r.n++
	r.spans += size
	for r.spans > r.budget && r.n > 1 {
		r.pop()
	}
}

func (r *ring) pop() {
	r.spans -= r.sizes[r.head]
	r.traces[r.head] = nil
	r.head = (r.head + 1) % len(r.traces)
	r.n--
}

// newestFirst appends the ring's traces to out, newest first.
func (r *ring) newestFirst(out []*trace_) []*trace_ {
	for i := r.n - 1; i >= 0; i-- {
		out = append(out, r.traces[(r.head+i)%len(r.traces)])
	}
	return out
}

// New returns an empty Recorder; nil options take the defaults.
func New(opts *Options) *Recorder {
	var o Options
	if opts != nil {
		o = *opts
	}
	r := &Recorder{capacity: o.Capacity, perSecond: o.PerSecond, maxSpans: o.MaxSpans, open: map[*trace_]struct{}{}}
	if r.capacity <= 0 {
		r.capacity = DefaultCapacity
	}
	if r.perSecond == 0 {
		r.perSecond = DefaultPerSecond
	}
	if r.maxSpans <= 0 {
		r.maxSpans = DefaultMaxSpans
	}
	spans := o.MaxKeptSpans
	if spans <= 0 {
		spans = DefaultMaxKeptSpans
	}
	r.all = newRing(r.capacity, spans)
	r.failed = newRing(max(r.capacity/4, 1), max(spans/4, 1))
	return r
}

// Counts returns how many local roots (calls, server requests) were offered to the Recorder and
// how many of them it sampled.
func (r *Recorder) Counts() (offered, sampled int64) {
	if r == nil {
		return 0, 0
	}
	return r.seen.Load(), r.sampled.Load()
}

// take reports whether a new trace may be sampled now.
func (r *Recorder) take(now time.Time) bool {
	r.seen.Add(1)
	if r.perSecond < 0 {
		r.sampled.Add(1)
		return true
	}
	sec := now.Unix()
	if cur := r.second.Load(); cur != sec && r.second.CompareAndSwap(cur, sec) {
		r.budget.Store(0)
	}
	if r.budget.Add(1) > int64(r.perSecond) {
		return false
	}
	r.sampled.Add(1)
	return true
}

// Tracer returns a tracer that records the spans troupe makes into r and passes each to next
// as well, when next is not nil: the span next makes gives the recorded span its ids, so traces
// exported through next and r's traces agree. troupe's Systems and Servers call it with the
// tracer of their TracerProvider option; a program wraps its own tracers with
// [Recorder.TracerProvider]. A nil Recorder returns next.
func (r *Recorder) Tracer(next trace.Tracer) trace.Tracer {
	if r == nil {
		return next
	}
	return &tracer{r: r, next: next}
}

// TracerProvider returns a provider whose tracers record into r as [Recorder.Tracer] does; next
// may be nil.
func (r *Recorder) TracerProvider(next trace.TracerProvider) trace.TracerProvider {
	return &provider{r: r, next: next}
}

type provider struct {
	embedded.TracerProvider
	r    *Recorder
	next trace.TracerProvider
}

func (p *provider) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	var next trace.Tracer
	if p.next != nil {
		next = p.next.Tracer(name, opts...)
	}
	return p.r.Tracer(next)
}

type tracer struct {
	embedded.Tracer
	r    *Recorder
	next trace.Tracer
}

// skipped is the span of a local root that was not sampled, and of everything under it: it
// records nothing itself but carries the span of the tracer it wraps, if any.
type skipped struct {
	noop.Span
	next trace.Span
}

var skippedRoot = &skipped{}

func (s *skipped) SpanContext() trace.SpanContext {
	if s.next != nil {
		return s.next.SpanContext()
	}
	return trace.SpanContext{}
}
func (s *skipped) IsRecording() bool { return s.next != nil && s.next.IsRecording() }
func (s *skipped) End(o ...trace.SpanEndOption) {
	if s.next != nil {
		s.next.End(o...)
	}
}
func (s *skipped) SetAttributes(kv ...attribute.KeyValue) {
	if s.next != nil {
		s.next.SetAttributes(kv...)
	}
}
func (s *skipped) SetStatus(c codes.Code, d string) {
	if s.next != nil {
		s.next.SetStatus(c, d)
	}
}
func (s *skipped) RecordError(err error, o ...trace.EventOption) {
	if s.next != nil {
		s.next.RecordError(err, o...)
	}
}
func (s *skipped) AddEvent(name string, o ...trace.EventOption) {
	if s.next != nil {
		s.next.AddEvent(name, o...)
	}
}

// presampled marks the context of a local root that PreSample sampled: Start takes no second
// share of the budget for it.
type presampled struct{}

// PreSample tells, before the caller builds a span's attributes and options, whether the span
// that Start would start under ctx is recorded anywhere. When it is not, it returns the span to
// use instead (one that records nothing) and false; the caller then skips Start and saves the
// allocations. When it is, it returns the context to pass to Start. Troupe's call runtime and
// server ask it before every span.
func (t *tracer) PreSample(ctx context.Context) (context.Context, trace.Span, bool) {
	switch trace.SpanFromContext(ctx).(type) {
	case *span:
		return ctx, nil, true
	case *skipped:
		if t.next == nil {
			return ctx, skippedRoot, false
		}
		return ctx, nil, true
	}
	if t.next != nil {
		return ctx, nil, true // the wrapped tracer decides too: Start takes the share
	}
	if !t.r.take(time.Now()) {
		return ctx, skippedRoot, false
	}
	return context.WithValue(ctx, presampled{}, true), nil, true
}

func (t *tracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	cfg := trace.NewSpanStartConfig(opts...)
	parent := trace.SpanFromContext(ctx)
	var tr *trace_
	var up *span
	switch p := parent.(type) {
	case *span:
		tr, up = p.tr, p
	case *skipped:
		return t.skip(ctx, name, p, opts)
	}
	now := cfg.Timestamp()
	if now.IsZero() {
		now = time.Now()
	}
	if tr == nil && ctx.Value(presampled{}) == nil && !t.r.take(now) {
		return t.skip(ctx, name, nil, opts)
	}
	var next trace.Span
	if t.next != nil {
		_, next = t.next.Start(ctx, name, opts...)
	}
	s := &span{next: next, name: name, start: now, kind: cfg.SpanKind()}
	s.ctx = s.makeContext(trace.SpanContextFromContext(ctx), up)
	if up != nil {
		s.parentID = up.ctx.SpanID()
	} else if pc := trace.SpanContextFromContext(ctx); pc.IsValid() {
		s.parentID = pc.SpanID()
	}
	s.set(cfg.Attributes())
	if tr == nil {
		tr = &trace_{r: t.r, root: s}
		s.tr = tr
		t.r.mu.Lock()
		t.r.open[tr] = struct{}{}
		t.r.mu.Unlock()
	} else {
		s.tr = tr
		tr.mu.Lock()
		if tr.spans >= t.r.maxSpans {
			tr.root.dropped++
			tr.mu.Unlock()
			return t.skip(ctx, name, nil, opts)
		}
		tr.spans++
		up.children = append(up.children, s)
		tr.mu.Unlock()
	}
	return trace.ContextWithSpan(ctx, s), s
}

// skip starts the unrecorded span of name under parent (nil for a local root).
func (t *tracer) skip(ctx context.Context, name string, parent *skipped, opts []trace.SpanStartOption) (context.Context, trace.Span) {
	if t.next == nil {
		// ctx is returned as it is, saving an allocation: what troupe starts under an
		// unsampled call finds the call's span through the call itself.
		return ctx, skippedRoot
	}
	if parent != nil && parent.next != nil {
		ctx = trace.ContextWithSpan(ctx, parent.next)
	}
	ctx, next := t.next.Start(ctx, name, opts...)
	s := &skipped{next: next}
	return trace.ContextWithSpan(ctx, s), s
}

// trace_ is one local root's spans as they run and after they ended.
type trace_ struct {
	r     *Recorder
	mu    sync.Mutex
	root  *span
	spans int
}

// span is a recorded span: its fields after tr are guarded by tr.mu.
type span struct {
	embedded.Span
	tr       *trace_
	next     trace.Span
	ctx      trace.SpanContext
	parentID trace.SpanID
	start    time.Time
	kind     trace.SpanKind

	name     string
	end      time.Time
	attrs    []attribute.KeyValue
	code     codes.Code
	desc     string
	events   []Event
	children []*span
	dropped  int
}

// makeContext gives the span its ids: those of the span of the tracer it wraps, else the trace
// of its parent (a recorded one, or a remote one such as a request's) with a new span id, else
// new ones. A recorded span is always sampled: its ids travel to the servers.
func (s *span) makeContext(parent trace.SpanContext, up *span) trace.SpanContext {
	if s.next != nil && s.next.SpanContext().IsValid() {
		return s.next.SpanContext()
	}
	var tid trace.TraceID
	switch {
	case up != nil:
		tid = up.ctx.TraceID()
	case parent.IsValid():
		tid = parent.TraceID()
	default:
		// brpc's trace ids are 64-bit: the high half stays zero so the id reads the same in a
		// brpc server's rpcz.
		binary.BigEndian.PutUint64(tid[8:], randomID())
	}
	var sid trace.SpanID
	binary.BigEndian.PutUint64(sid[:], randomID())
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled})
}

func randomID() uint64 {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:])
		if v := binary.BigEndian.Uint64(b[:]) &^ (1 << 63); v != 0 {
			return v // positive: brpc carries the ids as int64
		}
	}
}

func (s *span) set(kv []attribute.KeyValue) {
	if len(kv) > 0 {
		s.attrs = append(s.attrs, kv...)
	}
}

func (s *span) SpanContext() trace.SpanContext { return s.ctx }
func (s *span) IsRecording() bool              { return true }
func (s *span) TracerProvider() trace.TracerProvider {
	return &provider{r: s.tr.r}
}
func (s *span) SetName(name string) {
	s.tr.mu.Lock()
	s.name = name
	s.tr.mu.Unlock()
	if s.next != nil {
		s.next.SetName(name)
	}
}
func (s *span) SetAttributes(kv ...attribute.KeyValue) {
	s.tr.mu.Lock()
	s.set(kv)
	s.tr.mu.Unlock()
	if s.next != nil {
		s.next.SetAttributes(kv...)
	}
}
func (s *span) SetStatus(c codes.Code, desc string) {
	s.tr.mu.Lock()
	if c >= s.code {
		s.code, s.desc = c, desc
	}
	s.tr.mu.Unlock()
	if s.next != nil {
		s.next.SetStatus(c, desc)
	}
}
func (s *span) AddEvent(name string, o ...trace.EventOption) {
	cfg := trace.NewEventConfig(o...)
	at := cfg.Timestamp()
	if at.IsZero() {
		at = time.Now()
	}
	s.tr.mu.Lock()
	if len(s.events) < 32 {
		s.events = append(s.events, Event{At: at, Name: name})
	}
	s.tr.mu.Unlock()
	if s.next != nil {
		s.next.AddEvent(name, o...)
	}
}
func (s *span) RecordError(err error, o ...trace.EventOption) {
	if err != nil {
		s.AddEvent("error: " + err.Error())
	}
	if s.next != nil {
		s.next.RecordError(err, o...)
	}
}
func (s *span) AddLink(l trace.Link) {
	if s.next != nil {
		s.next.AddLink(l)
	}
}

// End ends the span; a local root's end puts its trace into the ring.
func (s *span) End(o ...trace.SpanEndOption) {
	cfg := trace.NewSpanEndConfig(o...)
	at := cfg.Timestamp()
	if at.IsZero() {
		at = time.Now()
	}
	tr := s.tr
	tr.mu.Lock()
	first := s.end.IsZero()
	if first {
		s.end = at
	}
	tr.mu.Unlock()
	if s.next != nil {
		s.next.End(o...)
	}
	if first && s == tr.root {
		tr.r.keep(tr)
	}
}

// keep moves ended trace tr into the ring, and into the ring of failures when its root failed.
func (r *Recorder) keep(tr *trace_) {
	tr.mu.Lock()
	failed, size := tr.root.code == codes.Error, tr.spans+1
	tr.mu.Unlock()
	r.mu.Lock()
	delete(r.open, tr)
	r.all.push(tr, size)
	if failed {
		r.failed.push(tr, size)
	}
	r.mu.Unlock()
}

// Event is something that happened during a span: an error recorded on it, or an event its
// maker added.
type Event struct {
	At   time.Time `json:"at"`
	Name string    `json:"name"`
}

// Span is a recorded span, as [Recorder.Recent] and [Recorder.Trace] return it: a snapshot
// that nothing changes afterwards.
type Span struct {
	TraceID  string `json:"trace_id"` // 32 hex digits; a brpc trace id is the low 16
	SpanID   string `json:"span_id"`
	ParentID string `json:"parent_id,omitempty"` // the span it continues, local or remote
	// Kind is "call" (a channel's call), "sub-call" (a combo channel's call on a
	// sub-channel), "attempt" (one request a plain channel sent: the first, a retry or a
	// backup request), "request" (a Server's handling of a request), or "span" (anything else).
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Method  string `json:"method,omitempty"`  // full method name, "example.EchoService.Echo"
	Channel string `json:"channel,omitempty"` // a call's channel target
	Remote  string `json:"remote,omitempty"`  // the server called, or a request's client
	// Start and Duration place the span; Duration is how long it has run so far while Open.
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"duration_ns"`
	Open     bool          `json:"open,omitempty"`
	// Code is brpc's error code when the span failed, 0 when it succeeded; Error its text.
	Code      wire.Errno `json:"code,omitempty"`
	Error     string     `json:"error,omitempty"`
	LogID     int64      `json:"log_id,omitempty"`
	TimeoutMS int64      `json:"timeout_ms,omitempty"` // a call's timeout, when it had one
	Retry     int        `json:"retry,omitempty"`      // an attempt's number: 0 for the first
	Backup    bool       `json:"backup,omitempty"`     // an attempt that is a backup request
	SubCall   int        `json:"sub_call,omitempty"`   // a sub-call's index
	Events    []Event    `json:"events,omitempty"`
	// Attributes holds the span's other attributes, by key.
	Attributes map[string]string `json:"attributes,omitempty"`
	Children   []*Span           `json:"children,omitempty"`
	// Dropped counts, on a trace's root, the spans not kept beyond Options.MaxSpans.
	Dropped int `json:"dropped,omitempty"`
}

// Failed reports whether the span ended with an error.
func (s *Span) Failed() bool { return s.Code != 0 || s.Error != "" }

// Walk calls fn for s and each span under it, depth first.
func (s *Span) Walk(fn func(*Span)) {
	fn(s)
	for _, c := range s.Children {
		c.Walk(fn)
	}
}

// snapshot copies s and its children; tr.mu is held.
func (s *span) snapshot(now time.Time) *Span {
	out := &Span{TraceID: s.ctx.TraceID().String(), SpanID: s.ctx.SpanID().String(), Name: s.name,
		Start: s.start, Kind: "span", Dropped: s.dropped}
	if s.parentID.IsValid() {
		out.ParentID = s.parentID.String()
	}
	if s.end.IsZero() {
		out.Duration, out.Open = now.Sub(s.start), true
	} else {
		out.Duration = s.end.Sub(s.start)
	}
	var service, method, host, port string
	for _, kv := range s.attrs {
		switch kv.Key {
		case "rpc.service":
			service = kv.Value.AsString()
		case "rpc.method":
			method = kv.Value.AsString()
		case "server.address", "client.address":
			host = kv.Value.AsString()
		case "server.port", "client.port":
			port = kv.Value.String()
		case "rpc.brpc.error_code":
			out.Code = wire.Errno(kv.Value.AsInt64())
		case "troupe.channel":
			out.Channel = kv.Value.AsString()
		case "troupe.sub_call":
			out.SubCall, out.Kind = int(kv.Value.AsInt64()), "sub-call"
		case "troupe.retry":
			out.Retry, out.Kind = int(kv.Value.AsInt64()), "attempt"
		case "troupe.backup_request":
			out.Backup = kv.Value.AsBool()
		case "troupe.log_id":
			out.LogID = kv.Value.AsInt64()
		case "troupe.timeout_ms":
			out.TimeoutMS = kv.Value.AsInt64()
		case "rpc.system", "error.type":
		default:
			if out.Attributes == nil {
				out.Attributes = map[string]string{}
			}
			out.Attributes[string(kv.Key)] = kv.Value.String()
		}
	}
	if service != "" && method != "" {
		out.Method = service + "." + method
	}
	if host != "" {
		out.Remote = host
		if port != "" {
			out.Remote = joinHostPort(host, port)
		}
	}
	if out.Kind == "span" {
		switch {
		case s.kind == trace.SpanKindServer:
			out.Kind = "request"
		case out.Method != "" && out.Channel != "":
			out.Kind = "call"
		}
	}
	if s.code == codes.Error {
		out.Error = s.desc
		if out.Error == "" {
			out.Error = "error"
		}
	}
	out.Events = append([]Event(nil), s.events...)
	for _, c := range s.children {
		out.Children = append(out.Children, c.snapshot(now))
	}
	return out
}

func joinHostPort(host, port string) string {
	if strings.IndexByte(host, ':') >= 0 {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}

func (tr *trace_) snapshot(now time.Time) *Span {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.root.snapshot(now)
}

// Query selects traces for [Recorder.Recent]. Its zero value selects all.
type Query struct {
	// MinDuration keeps the traces whose root took at least this long.
	MinDuration time.Duration
	// Code keeps the traces whose root failed with this brpc code; AnyError those that failed
	// at all.
	Code     wire.Errno
	AnyError bool
	// LogID keeps the traces in which any span carries this log id (0: any).
	LogID int64
	// Method keeps the traces in which any span's method contains this text.
	Method string
	// TraceID keeps the spans of one trace: its 32 hex digits, or a brpc trace id's 16.
	TraceID string
	// Open includes the traces whose root has not ended yet.
	Open bool
	// Limit caps the traces returned (0: all the ring holds).
	Limit int
}

func (q *Query) match(s *Span) bool {
	if s.Duration < q.MinDuration || (q.Code != 0 && s.Code != q.Code) || (q.AnyError && !s.Failed()) {
		return false
	}
	if q.TraceID != "" && !strings.HasSuffix(s.TraceID, strings.ToLower(q.TraceID)) {
		return false
	}
	if q.LogID == 0 && q.Method == "" {
		return true
	}
	found := false
	s.Walk(func(x *Span) {
		if (q.LogID == 0 || x.LogID == q.LogID) && (q.Method == "" || strings.Contains(x.Method, q.Method)) {
			found = true
		}
	})
	return found
}

// Recent returns the recorded traces that q selects, newest first, each as its root span with
// the spans under it.
func (r *Recorder) Recent(q Query) []*Span {
	if r == nil {
		return nil
	}
	now := time.Now()
	traces := r.traces(q.Open)
	var out []*Span
	for _, tr := range traces {
		s := tr.snapshot(now)
		if q.match(s) {
			out = append(out, s)
			if q.Limit > 0 && len(out) == q.Limit {
				break
			}
		}
	}
	return out
}

// traces returns the rings' traces, the open ones too when open is set, newest first by when
// their roots began.
func (r *Recorder) traces(open bool) []*trace_ {
	r.mu.Lock()
	var out []*trace_
	if open {
		for tr := range r.open {
			out = append(out, tr)
		}
	}
	out = r.all.newestFirst(out)
	out = r.failed.newestFirst(out)
	r.mu.Unlock()
	// A failure still in the ring of all traces is listed once.
	seen := make(map[*trace_]bool, len(out))
	kept := out[:0]
	for _, tr := range out {
		if !seen[tr] {
			seen[tr] = true
			kept = append(kept, tr)
		}
	}
	sort.SliceStable(kept, func(i, j int) bool { return kept[i].root.start.After(kept[j].root.start) })
	return kept
}

// Find returns the trace whose root or any other span has span id spanID (16 hex digits), with
// the root first; nil when the ring no longer holds it.
func (r *Recorder) Find(spanID string) *Span {
	if r == nil {
		return nil
	}
	spanID = strings.ToLower(spanID)
	if _, err := hex.DecodeString(spanID); err != nil || len(spanID) != 16 {
		return nil
	}
	now := time.Now()
	for _, tr := range r.traces(true) {
		s := tr.snapshot(now)
		var hit bool
		s.Walk(func(x *Span) { hit = hit || x.SpanID == spanID })
		if hit {
			return s
		}
	}
	return nil
}
