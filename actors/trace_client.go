package actors

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/troupe-rpc/troupe/internal/callrt"
	"github.com/troupe-rpc/troupe/wire"
)

// tracerOf returns troupe's tracer from tp, nil for no provider.
func tracerOf(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		return nil
	}
	return tp.Tracer(callrt.TracerName)
}

// traceAttempt starts the span of attempt at when its call is traced, and puts the attempt's
// ids into meta, each unless the Controller set one (a user's id wins).
func (pc *plainCall) traceAttempt(at *attempt, meta *wire.Meta) {
	if s := pc.call.Span(); s != nil && !callrt.Silent(s) {
		pc.startAttemptSpan(at, meta)
	}
}

// startAttemptSpan starts at's span, a child of its call's, of kind client, named after the
// method with " attempt", marked with the retry number (0 for the first attempt) and whether it
// is a backup request; a sampled span's ids travel in the request's meta.
func (pc *plainCall) startAttemptSpan(at *attempt, meta *wire.Meta) {
	c := &pc.call
	parent := c.Span()
	attrs := make([]attribute.KeyValue, 0, 7)
	attrs = callrt.MethodAttributes(attrs, c.Method())
	attrs = callrt.AddressAttributes(attrs, callrt.AttrServerAddress, callrt.AttrServerPort, at.sock.addr)
	attrs = append(attrs, callrt.AttrRetry.Int(pc.retry.Done), callrt.AttrBackup.Bool(pc.prev != nil))
	_, at.span = c.Runtime().Tracer().Start(trace.ContextWithSpan(context.Background(), parent),
		c.Method()+" attempt", trace.WithSpanKind(trace.SpanKindClient), trace.WithTimestamp(at.sent),
		trace.WithAttributes(attrs...))
	tid, sid, psid := callrt.WireIDs(at.span.SpanContext(), parent.SpanContext().SpanID())
	if meta.TraceID == 0 {
		meta.TraceID = tid
	}
	if meta.SpanID == 0 {
		meta.SpanID = sid
	}
	if meta.ParentSpanID == 0 {
		meta.ParentSpanID = psid
	}
}

// endAttemptSpan ends the span of attempt at, if it has one still open, with err.
func endAttemptSpan(at *attempt, err error) {
	if at == nil || at.span == nil {
		return
	}
	callrt.EndSpanError(at.span, err)
	at.span.End()
	at.span = nil
}

// endAttemptSpans ends the spans of the attempts still pending as the call ends: with err when
// it is ended early (a deadline, a cancel), without one when they are simply no longer waited
// for (the other attempt of a backup pair answered).
func (pc *plainCall) endAttemptSpans(err *wire.Error) {
	var e error
	if err != nil {
		e = err
	}
	endAttemptSpan(pc.cur, e)
	endAttemptSpan(pc.prev, e)
}
