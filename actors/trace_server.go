package actors

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/troupe-rpc/troupe/internal/callrt"
	"github.com/troupe-rpc/troupe/wire"
)

// serverTrace is the handler's context of a request a traced Server handles, which carries the
// request's span; nil when the request is not traced.
type serverTrace struct {
	ctx context.Context
}

// traceRequest starts the span of the request hc serves when the server traces requests.
func (s *Server) traceRequest(hc *handlerCtx) {
	if s.tracer != nil {
		s.startServerSpan(hc)
	}
}

// startServerSpan starts the request's span: kind server, named after the full method, the child
// of the remote span whose ids the request's meta carried (brpc's rpcz trace_id and span_id, the
// trace id's high 64 bits zero), or a root when it carried none. The provider's sampler decides
// as it does for any span with a remote parent, which a parent-based sampler follows (the
// presence of the ids, brpc's way, marks the parent as sampled).
func (s *Server) startServerSpan(hc *handlerCtx) {
	var ctx context.Context = hc
	if m := hc.call.meta; m.TraceID != 0 && m.SpanID != 0 {
		ctx = trace.ContextWithRemoteSpanContext(ctx, callrt.RemoteSpanContext(m.TraceID, m.SpanID))
	}
	if ps, ok := s.tracer.(callrt.PreSampler); ok {
		var record bool
		if ctx, _, record = ps.PreSample(ctx); !record {
			return // the request is not traced: its handler runs under hc
		}
	}
	attrs := make([]attribute.KeyValue, 0, 6)
	attrs = callrt.MethodAttributes(attrs, hc.call.method)
	if r := hc.call.remote; r != nil {
		attrs = callrt.AddressAttributes(attrs, callrt.AttrClientAddress, callrt.AttrClientPort, r.String())
	}
	if id := hc.call.meta.LogID; id != 0 {
		attrs = append(attrs, callrt.AttrLogID.Int64(id))
	}
	hc.trace.ctx, _ = s.tracer.Start(ctx, hc.call.method, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attrs...))
}

// end ends the request's span, if it has one, with the handler's error.
func (t *serverTrace) end(werr *wire.Error) {
	if t.ctx == nil {
		return
	}
	span := trace.SpanFromContext(t.ctx)
	if werr != nil {
		callrt.EndSpanError(span, werr)
	}
	span.End()
}

// handlerContext is the context the handler (and the interceptors) run under: hc, or hc carrying
// the request's span.
func (hc *handlerCtx) handlerContext() context.Context {
	if hc.trace.ctx != nil {
		return hc.trace.ctx
	}
	return hc
}
