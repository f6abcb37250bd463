package actors

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/troupe-rpc/troupe/internal/stats"
	"github.com/troupe-rpc/troupe/wire"
)

// OpenTelemetry export. troupe follows the RPC semantic conventions as of semconv v1.26:
// rpc.client.duration and rpc.server.duration are histograms in milliseconds, with the
// attributes rpc.system ("brpc": the protocol is brpc's baidu_std, and brpc is what the other
// side of a call usually is), rpc.service and rpc.method, and rpc.brpc.error_code (0 for a
// success, brpc's errno otherwise), as rpc.grpc.status_code is for gRPC. Everything else is
// under the troupe. prefix. The durations are recorded as calls end, with attribute sets made
// once per method and code; every other instrument is observable, read from the same counters
// as Stats when the reader collects, so it costs a call nothing.

// meterName is the instrumentation scope of troupe's instruments.
const meterName = "github.com/troupe-rpc/troupe/actors"

// durationBounds are the duration histograms' bucket bounds in milliseconds, semconv's advice.
var durationBounds = []float64{0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000}

// otelSide holds the per-method instruments of one side of calls, "client" or "server".
type otelSide struct {
	duration                        metric.Float64Histogram
	calls, errors, retries, backups metric.Int64ObservableCounter
	rejected                        metric.Int64ObservableCounter
	inFlight                        metric.Int64ObservableUpDownCounter
	instruments                     []metric.Observable
}

func newOtelSide(m metric.Meter, side string) (*otelSide, error) {
	o := &otelSide{}
	var err error
	name := func(s string) string { return "troupe.rpc." + side + "." + s }
	if o.duration, err = m.Float64Histogram("rpc."+side+".duration", metric.WithUnit("ms"),
		metric.WithDescription("Duration of "+side+" calls, by method and brpc error code"),
		metric.WithExplicitBucketBoundaries(durationBounds...)); err != nil {
		return nil, err
	}
	counters := []struct {
		dst  *metric.Int64ObservableCounter
		name string
		desc string
	}{
		{&o.calls, "calls", "Calls that ended, failures included"},
		{&o.errors, "errors", "Calls that failed, by brpc error code"},
		{&o.retries, "retries", "Retries and backup requests sent (client)"},
		{&o.backups, "backup_requests", "Calls that sent a backup request (client)"},
		{&o.rejected, "rejected", "Requests refused before their handler by a limit (server)"},
	}
	for _, c := range counters {
		if *c.dst, err = m.Int64ObservableCounter(name(c.name), metric.WithUnit("{call}"), metric.WithDescription(c.desc)); err != nil {
			return nil, err
		}
		o.instruments = append(o.instruments, *c.dst)
	}
	if o.inFlight, err = m.Int64ObservableUpDownCounter(name("in_flight"), metric.WithUnit("{call}"),
		metric.WithDescription("Calls in flight")); err != nil {
		return nil, err
	}
	o.instruments = append(o.instruments, o.inFlight)
	return o, nil
}

// otelMethod is a method's attributes, made once: its record's Tag.
type otelMethod struct {
	attrs   []attribute.KeyValue
	observe metric.ObserveOption
	ok      []metric.RecordOption
	mu      sync.Mutex
	failed  map[wire.Errno][]metric.RecordOption
}

// errorCode is the attribute of brpc's error codes.
const errorCode = attribute.Key("rpc.brpc.error_code")

func newOtelMethod(full string, extra ...attribute.KeyValue) *otelMethod {
	svc, name := full, full
	if i := strings.LastIndexByte(full, '.'); i >= 0 {
		svc, name = full[:i], full[i+1:]
	}
	attrs := append([]attribute.KeyValue{attribute.String("rpc.system", "brpc"),
		attribute.String("rpc.service", svc), attribute.String("rpc.method", name)}, extra...)
	set := attribute.NewSet(attrs...)
	return &otelMethod{attrs: attrs, observe: metric.WithAttributeSet(set),
		ok: []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(append(attrs, errorCode.Int(0))...))}}
}

// withCode returns the attributes of the method and code; made once per code.
func (t *otelMethod) withCode(code wire.Errno) []metric.RecordOption {
	if code == 0 {
		return t.ok
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	opts, ok := t.failed[code]
	if !ok {
		if t.failed == nil {
			t.failed = map[wire.Errno][]metric.RecordOption{}
		}
		set := attribute.NewSet(append(append([]attribute.KeyValue(nil), t.attrs...), errorCode.Int(int(code)))...)
		opts = []metric.RecordOption{metric.WithAttributeSet(set)}
		t.failed[code] = opts
	}
	return opts
}

// tag attaches the method's attributes to its record and records its durations.
func (o *otelSide) tag(m *stats.Method, extra ...attribute.KeyValue) {
	t := newOtelMethod(m.Name, extra...)
	m.Tag = t
	h := o.duration
	m.Observe(func(d time.Duration, code wire.Errno) {
		h.Record(context.Background(), float64(d)/float64(time.Millisecond), t.withCode(code)...)
	})
}

// observe reports a method's counters.
func (o *otelSide) observe(obs metric.Observer, m *stats.Method) {
	t, ok := m.Tag.(*otelMethod)
	if !ok {
		return
	}
	calls, inFlight, retries, backups, rejected := m.Counts()
	obs.ObserveInt64(o.calls, calls, t.observe)
	obs.ObserveInt64(o.inFlight, inFlight, t.observe)
	obs.ObserveInt64(o.retries, retries, t.observe)
	obs.ObserveInt64(o.backups, backups, t.observe)
	obs.ObserveInt64(o.rejected, rejected, t.observe)
	for code, n := range m.Errors() {
		obs.ObserveInt64(o.errors, n, t.withCode(code)[0].(metric.ObserveOption))
	}
}

// observable is an observable counter or up-down counter with its name, for tables.
type observable struct {
	name, unit, desc string
	updown           bool
}

// newObservables makes the observable instruments of specs, in order.
func newObservables(m metric.Meter, specs []observable) ([]metric.Int64Observable, error) {
	out := make([]metric.Int64Observable, len(specs))
	for i, s := range specs {
		var err error
		if s.updown {
			out[i], err = m.Int64ObservableUpDownCounter(s.name, metric.WithUnit(s.unit), metric.WithDescription(s.desc))
		} else {
			out[i], err = m.Int64ObservableCounter(s.name, metric.WithUnit(s.unit), metric.WithDescription(s.desc))
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func asObservables(xs []metric.Int64Observable) []metric.Observable {
	out := make([]metric.Observable, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

// peerAttrs returns the attributes of a server address, "host:port".
func peerAttrs(addr string) []attribute.KeyValue {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return []attribute.KeyValue{attribute.String("server.address", addr)}
	}
	p, _ := strconv.Atoi(port)
	return []attribute.KeyValue{attribute.String("server.address", host), attribute.Int("server.port", p)}
}
