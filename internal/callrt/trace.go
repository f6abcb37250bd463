package callrt

import (
	"context"
	"encoding/binary"
	"net"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/troupe-rpc/troupe/wire"
)

// TracerName is the instrumentation scope of the spans troupe makes.
const TracerName = "github.com/troupe-rpc/troupe"

// The attributes of troupe's spans: OpenTelemetry's RPC semantic conventions (rpc.system,
// rpc.service, rpc.method, server.address, server.port), brpc's error code under the
// rpc.<system>.* namespace the conventions give each RPC system, and troupe's own.
const (
	AttrRPCSystem     = attribute.Key("rpc.system")
	AttrRPCService    = attribute.Key("rpc.service")
	AttrRPCMethod     = attribute.Key("rpc.method")
	AttrServerAddress = attribute.Key("server.address")
	AttrServerPort    = attribute.Key("server.port")
	AttrClientAddress = attribute.Key("client.address")
	AttrClientPort    = attribute.Key("client.port")
	AttrErrorType     = attribute.Key("error.type")
	AttrErrorCode     = attribute.Key("rpc.brpc.error_code")
	AttrChannel       = attribute.Key("troupe.channel")
	AttrSubCall       = attribute.Key("troupe.sub_call")
	AttrRetry         = attribute.Key("troupe.retry")
	AttrBackup        = attribute.Key("troupe.backup_request")
	AttrLogID         = attribute.Key("troupe.log_id")
	AttrTimeoutMS     = attribute.Key("troupe.timeout_ms")
)

// RPCSystem is the rpc.system of troupe's spans.
const RPCSystem = "brpc"

// PreSampler is a tracer that can tell, before a span's attributes are built, that it records
// nothing of the span Start would start under ctx: it then returns the span to use and false, and
// the caller skips Start. Otherwise it returns the context to start the span from. The rpcz
// recorder's tracer is one: its unsampled calls cost no attributes.
type PreSampler interface {
	PreSample(ctx context.Context) (context.Context, trace.Span, bool)
}

// Silent reports whether span s is one whose children are not worth starting: it records nothing
// and has no ids to pass on.
func Silent(s trace.Span) bool { return !s.IsRecording() && !s.SpanContext().IsValid() }

// SetTracer makes every call of the Runtime traced with t: each call gets a span, a child of the
// span its context carries or, for a child call, of its parent's span. nil, the default, traces
// nothing at no cost. It is set once, before any call starts.
func (rt *Runtime) SetTracer(t trace.Tracer) { rt.tracer = t }

// Tracer returns the Runtime's tracer, nil when calls are not traced.
func (rt *Runtime) Tracer() trace.Tracer { return rt.tracer }

// Span returns the call's span, nil when its Runtime traces nothing.
func (c *Call) Span() trace.Span { return c.span }

// TraceContext returns ctx carrying the call's span, or ctx itself when the call has none: what
// a call made on the call's behalf (an interceptor's, a user channel's sub-call) starts from.
func (c *Call) TraceContext(ctx context.Context) context.Context {
	if c.span == nil {
		return ctx
	}
	return trace.ContextWithSpan(ctx, c.span)
}

// startSpan starts the call's span when its Runtime has a tracer: kind client, named after the
// full method, the child of the span ctx carries, or of its parent call's span.
func (c *Call) startSpan(ctx context.Context) {
	t := c.rt.tracer
	if t == nil {
		return
	}
	if c.parent != nil {
		if ps := c.parent.span; ps != nil && Silent(ps) {
			c.span = ps // nothing records the parent: nothing records its children either
			return
		}
		ctx = c.parent.TraceContext(ctx)
	}
	if ps, ok := t.(PreSampler); ok {
		var span trace.Span
		var record bool
		if ctx, span, record = ps.PreSample(ctx); !record {
			c.span = span
			return
		}
	}
	attrs := make([]attribute.KeyValue, 0, 6)
	attrs = append(MethodAttributes(attrs, c.method), AttrChannel.String(c.target))
	if c.parent != nil {
		attrs = append(attrs, AttrSubCall.Int(c.index))
	}
	if id, ok := c.cntl.LogID(); ok {
		attrs = append(attrs, AttrLogID.Int64(id))
	}
	_, c.span = t.Start(ctx, c.method, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithTimestamp(c.begin), trace.WithAttributes(attrs...))
}

// endSpan ends the call's span with its result: its timeout, the server that answered, and on
// failure the error's code and an error status.
func (c *Call) endSpan(err error) {
	s := c.span
	if s == nil {
		return
	}
	if s.IsRecording() {
		if c.prepared && c.timeout > 0 {
			s.SetAttributes(AttrTimeoutMS.Int64(c.timeout.Milliseconds()))
		}
		if addr := c.cntl.RemoteSide(); addr != "" {
			s.SetAttributes(AddressAttributes(nil, AttrServerAddress, AttrServerPort, addr)...)
		}
		EndSpanError(s, err)
	}
	s.End()
}

// MethodAttributes appends the rpc.system, rpc.service and rpc.method of full, a full method
// name "package.Service.Method", to attrs.
func MethodAttributes(attrs []attribute.KeyValue, full string) []attribute.KeyValue {
	service, method := full, ""
	for i := len(full) - 1; i >= 0; i-- {
		if full[i] == '.' {
			service, method = full[:i], full[i+1:]
			break
		}
	}
	return append(attrs, AttrRPCSystem.String(RPCSystem), AttrRPCService.String(service), AttrRPCMethod.String(method))
}

// AddressAttributes appends addr, "host:port", as the host and port attributes given; an address
// without a port goes whole into host.
func AddressAttributes(attrs []attribute.KeyValue, host, port attribute.Key, addr string) []attribute.KeyValue {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return append(attrs, host.String(addr))
	}
	attrs = append(attrs, host.String(h))
	if n, err := strconv.Atoi(p); err == nil {
		attrs = append(attrs, port.Int(n))
	}
	return attrs
}

// EndSpanError records err, when it is not nil, on span s: its brpc code as rpc.brpc.error_code,
// the code's name as error.type, and an error status with the error's text.
func EndSpanError(s trace.Span, err error) {
	if err == nil {
		return
	}
	code := wire.ErrnoOf(err)
	s.SetAttributes(AttrErrorCode.Int(int(code)), AttrErrorType.String(code.Name()))
	s.SetStatus(codes.Error, err.Error())
}

// WireIDs returns the ids brpc's rpcz carries in RpcRequestMeta for span s, whose parent span
// has id parent: the low 64 bits of the trace id (brpc's trace ids are 64-bit), the span id and
// the parent's span id, as int64. A span that is not sampled gives zeros, which are not sent.
func WireIDs(s trace.SpanContext, parent trace.SpanID) (traceID, spanID, parentSpanID int64) {
	if !s.IsSampled() {
		return 0, 0, 0
	}
	tid, sid := s.TraceID(), s.SpanID()
	return int64(binary.BigEndian.Uint64(tid[8:])), int64(binary.BigEndian.Uint64(sid[:])),
		int64(binary.BigEndian.Uint64(parent[:]))
}

// RemoteSpanContext is the span context of a request whose RpcRequestMeta carried traceID and
// spanID: a sampled remote span whose trace id has traceID as its low 64 bits (the high ones
// zero). It is invalid when either id is 0.
func RemoteSpanContext(traceID, spanID int64) trace.SpanContext {
	var tid trace.TraceID
	var sid trace.SpanID
	binary.BigEndian.PutUint64(tid[8:], uint64(traceID))
	binary.BigEndian.PutUint64(sid[:], uint64(spanID))
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid,
		TraceFlags: trace.FlagsSampled, Remote: true})
}
