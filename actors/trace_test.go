package actors_test

// Traces of calls: spans recorded by OpenTelemetry's SDK for troupe's channels and server, talking
// over loopback, and the rpcz ids the requests carried on the wire as the server read them.

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// newTracer returns a TracerProvider recording every span it ends (the sampler's decision
// aside), shut down when the test ends.
func newTracer(t *testing.T, opts ...sdktrace.TracerProviderOption) (*sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(append([]sdktrace.TracerProviderOption{sdktrace.WithSpanProcessor(rec)}, opts...)...)
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, rec
}

// newTracedSystem returns a System tracing with tp, checked as newSystem's are.
func newTracedSystem(t *testing.T, tp trace.TracerProvider) *actors.System {
	t.Helper()
	sys, err := actors.NewSystem(&actors.SystemOptions{TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sys.Shutdown()
		if n := sys.Processes(); n != 0 {
			t.Errorf("after Shutdown, %d troupe processes remain registered", n)
		}
	})
	return sys
}

// wireIDs is what a handler saw: the ids of the request's meta, and its ctx's span.
type wireIDs struct {
	trace, span, parent int64
	ctxSpan             trace.SpanContext
}

// startTracedEcho starts a server (tracing with tp unless it is nil) whose Echo reports the ids
// it received on seen, when seen is not nil, and fails with the request's fail_code.
func startTracedEcho(t *testing.T, tp trace.TracerProvider, seen chan<- wireIDs) string {
	t.Helper()
	srv := newServer(t, &actors.ServerOptions{TracerProvider: tp})
	svc := &echoservice.Service{}
	handle(t, srv, echoservice.Method, func(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		if seen != nil {
			c := actors.ServerCallFromContext(ctx)
			seen <- wireIDs{c.TraceID(), c.SpanID(), c.ParentSpanID(), trace.SpanContextFromContext(ctx)}
		}
		return svc.Echo(ctx, req)
	})
	return listen(t, srv)
}

func low64(id trace.TraceID) int64 { return int64(binary.BigEndian.Uint64(id[8:])) }
func id64(id trace.SpanID) int64   { return int64(binary.BigEndian.Uint64(id[:])) }

// attr returns span s's attribute k, invalid when it has none.
func attr(s sdktrace.ReadOnlySpan, k attribute.Key) attribute.Value {
	for _, kv := range s.Attributes() {
		if kv.Key == k {
			return kv.Value
		}
	}
	return attribute.Value{}
}

// spansNamed returns the ended spans named name, in the order they ended.
func spansNamed(rec *tracetest.SpanRecorder, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

const attemptSpan = echoservice.Method + " attempt"

// one returns the only span of spans, failing the test when there is not exactly one.
func one(t *testing.T, what string, spans []sdktrace.ReadOnlySpan) sdktrace.ReadOnlySpan {
	t.Helper()
	if len(spans) != 1 {
		t.Fatalf("%d %s spans ended, want 1", len(spans), what)
	}
	return spans[0]
}

func TestTracePlainCallAndServer(t *testing.T) {
	ctp, crec := newTracer(t)
	stp, srec := newTracer(t)
	seen := make(chan wireIDs, 1)
	addr := startTracedEcho(t, stp, seen)
	ch, err := newTracedSystem(t, ctp).NewChannel(addr, &actors.ChannelOptions{Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	ctx, root := ctp.Tracer("test").Start(t.Context(), "root")
	if err := ch.Call(ctx, echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); err != nil {
		t.Fatalf("Call() = %v, want nil", err)
	}
	root.End()

	call := one(t, "call", spansNamed(crec, echoservice.Method))
	at := one(t, "attempt", spansNamed(crec, attemptSpan))
	if call.SpanKind() != trace.SpanKindClient || call.Parent().SpanID() != root.SpanContext().SpanID() {
		t.Errorf("call span kind %v parent %v, want client under the ctx's span %v", call.SpanKind(), call.Parent().SpanID(), root.SpanContext().SpanID())
	}
	for k, want := range map[attribute.Key]string{"rpc.system": "brpc", "rpc.service": "example.EchoService", "rpc.method": "Echo", "server.address": "127.0.0.1"} {
		if got := attr(call, k).AsString(); got != want {
			t.Errorf("call span %s = %q, want %q", k, got, want)
		}
	}
	if call.Status().Code != codes.Unset || attr(call, "server.port").AsInt64() == 0 {
		t.Errorf("call span status %v server.port %v, want unset and the server's port", call.Status(), attr(call, "server.port"))
	}
	if at.SpanKind() != trace.SpanKindClient || at.Parent().SpanID() != call.SpanContext().SpanID() ||
		attr(at, "troupe.retry").AsInt64() != 0 || attr(at, "troupe.backup_request").AsBool() {
		t.Errorf("attempt span kind %v parent %v retry %v backup %v, want client under the call's span %v, retry 0, no backup",
			at.SpanKind(), at.Parent().SpanID(), attr(at, "troupe.retry"), attr(at, "troupe.backup_request"), call.SpanContext().SpanID())
	}

	ids := receive(t, seen, "the handler's ids")
	atc := at.SpanContext()
	if ids.trace != low64(atc.TraceID()) || ids.span != id64(atc.SpanID()) || ids.parent != id64(call.SpanContext().SpanID()) {
		t.Errorf("request meta trace_id, span_id, parent_span_id = %x, %x, %x, want the attempt's %x, %x and the call's %x",
			ids.trace, ids.span, ids.parent, low64(atc.TraceID()), id64(atc.SpanID()), id64(call.SpanContext().SpanID()))
	}
	srv := one(t, "server", spansNamed(srec, echoservice.Method))
	p := srv.Parent()
	if srv.SpanKind() != trace.SpanKindServer || !p.IsRemote() || low64(p.TraceID()) != ids.trace || id64(p.SpanID()) != ids.span {
		t.Errorf("server span kind %v parent %v (remote %v), want server under the remote span %x/%x", srv.SpanKind(), p, p.IsRemote(), ids.trace, ids.span)
	}
	if tid := srv.SpanContext().TraceID(); binary.BigEndian.Uint64(tid[:8]) != 0 || low64(tid) != ids.trace {
		t.Errorf("server span trace id %v, want the wire's trace_id %x with the high 64 bits zero", tid, ids.trace)
	}
	if ids.ctxSpan.SpanID() != srv.SpanContext().SpanID() {
		t.Errorf("handler ctx span %v, want the server span %v", ids.ctxSpan.SpanID(), srv.SpanContext().SpanID())
	}
	if got := attr(srv, "rpc.method").AsString(); got != "Echo" || attr(srv, "client.address").AsString() != "127.0.0.1" {
		t.Errorf("server span rpc.method %q client.address %q, want Echo and 127.0.0.1", got, attr(srv, "client.address").AsString())
	}
}

// retryEINTERNAL retries EINTERNAL, which brpc's default policy does not.
type retryEINTERNAL struct{}

func (retryEINTERNAL) DoRetry(_ *actors.Controller, err error) bool {
	return wire.ErrnoOf(err) == wire.EINTERNAL
}

func TestTraceRetriedFailingCall(t *testing.T) {
	tp, rec := newTracer(t)
	stp, srec := newTracer(t)
	addr := startTracedEcho(t, stp, nil)
	ch, err := newTracedSystem(t, tp).NewChannel(addr, &actors.ChannelOptions{Timeout: testTimeout, MaxRetry: 1, RetryPolicy: retryEINTERNAL{}})
	if err != nil {
		t.Fatal(err)
	}
	req := echoReq("x")
	req.FailCode = proto.Int32(int32(wire.EINTERNAL))
	if err := ch.Call(t.Context(), echoservice.Method, req, &echopb.EchoResponse{}, nil); !errors.Is(err, wire.EINTERNAL) {
		t.Fatalf("Call() = %v, want EINTERNAL", err)
	}
	call := one(t, "call", spansNamed(rec, echoservice.Method))
	if call.Status().Code != codes.Error || attr(call, "rpc.brpc.error_code").AsInt64() != int64(wire.EINTERNAL) ||
		attr(call, "error.type").AsString() != "EINTERNAL" {
		t.Errorf("call span status %v error_code %v error.type %v, want Error, %d, EINTERNAL", call.Status(),
			attr(call, "rpc.brpc.error_code"), attr(call, "error.type"), wire.EINTERNAL)
	}
	ats := spansNamed(rec, attemptSpan)
	if len(ats) != 2 {
		t.Fatalf("%d attempt spans, want 2", len(ats))
	}
	for i, at := range ats {
		if attr(at, "troupe.retry").AsInt64() != int64(i) || attr(at, "troupe.backup_request").AsBool() ||
			at.Parent().SpanID() != call.SpanContext().SpanID() || at.Status().Code != codes.Error {
			t.Errorf("attempt %d: retry %v backup %v parent %v status %v, want retry %d, no backup, under the call, Error",
				i, attr(at, "troupe.retry"), attr(at, "troupe.backup_request"), at.Parent().SpanID(), at.Status(), i)
		}
	}
	srvs := spansNamed(srec, echoservice.Method)
	if len(srvs) != 2 {
		t.Fatalf("%d server spans, want 2", len(srvs))
	}
	for _, s := range srvs {
		if s.Status().Code != codes.Error || attr(s, "rpc.brpc.error_code").AsInt64() != int64(wire.EINTERNAL) {
			t.Errorf("server span status %v error_code %v, want Error and %d", s.Status(), attr(s, "rpc.brpc.error_code"), wire.EINTERNAL)
		}
	}
}

func TestTraceTimedOutCall(t *testing.T) {
	tp, rec := newTracer(t)
	_, addr := startEcho(t, &echoservice.Service{Sleep: time.Minute})
	ch, err := newTracedSystem(t, tp).NewChannel(addr, &actors.ChannelOptions{Timeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); !errors.Is(err, wire.ERPCTIMEDOUT) {
		t.Fatalf("Call() = %v, want ERPCTIMEDOUT", err)
	}
	for _, s := range []sdktrace.ReadOnlySpan{one(t, "call", spansNamed(rec, echoservice.Method)), one(t, "attempt", spansNamed(rec, attemptSpan))} {
		if s.Status().Code != codes.Error || attr(s, "error.type").AsString() != "ERPCTIMEDOUT" {
			t.Errorf("span %q status %v error.type %v, want Error and ERPCTIMEDOUT", s.Name(), s.Status(), attr(s, "error.type"))
		}
	}
}

// The backup request's attempt is marked, and both attempts end with the call whichever answers.
func TestTraceBackupRequest(t *testing.T) {
	tp, rec := newTracer(t)
	_, addr := startEcho(t, &echoservice.Service{Sleep: 300 * time.Millisecond})
	ch, err := newTracedSystem(t, tp).NewChannel(addr, &actors.ChannelOptions{MaxRetry: 1,
		BackupRequest: 10 * time.Millisecond, Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	var cntl actors.Controller
	if err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl); err != nil {
		t.Fatalf("Call() = %v, want nil", err)
	}
	if !cntl.HasBackupRequest() {
		t.Fatal("HasBackupRequest() = false, want a backup sent 10ms into a 300ms answer")
	}
	ats := spansNamed(rec, attemptSpan)
	if len(ats) != 2 {
		t.Fatalf("%d attempt spans, want 2", len(ats))
	}
	var backups, retries int64
	for _, at := range ats {
		if attr(at, "troupe.backup_request").AsBool() {
			backups++
		}
		retries += attr(at, "troupe.retry").AsInt64()
	}
	if backups != 1 || retries != 1 {
		t.Errorf("attempt spans: %d marked as backup requests, retry numbers summing to %d; want 1 and 1", backups, retries)
	}
}

// A user's ids win over the tracer's, each on its own.
func TestTraceUserIDsWin(t *testing.T) {
	tp, rec := newTracer(t)
	seen := make(chan wireIDs, 1)
	addr := startTracedEcho(t, nil, seen)
	ch, err := newTracedSystem(t, tp).NewChannel(addr, &actors.ChannelOptions{Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	var cntl actors.Controller
	cntl.SetTraceID(42)
	if err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl); err != nil {
		t.Fatalf("Call() = %v, want nil", err)
	}
	at := one(t, "attempt", spansNamed(rec, attemptSpan))
	if ids := receive(t, seen, "the handler's ids"); ids.trace != 42 || ids.span != id64(at.SpanContext().SpanID()) {
		t.Errorf("request meta trace_id, span_id = %d, %x, want the user's 42 and the attempt's %x", ids.trace, ids.span, id64(at.SpanContext().SpanID()))
	}
}

// Nothing is traced nor sent when the sampler drops the call, or without a provider.
func TestTraceNoIDsWhenNotSampledOrNotTraced(t *testing.T) {
	dropping, rec := newTracer(t, sdktrace.WithSampler(sdktrace.NeverSample()))
	for _, tc := range []struct {
		name string
		tp   trace.TracerProvider
	}{{"sampler drops", dropping}, {"no provider", nil}} {
		t.Run(tc.name, func(t *testing.T) {
			seen := make(chan wireIDs, 1)
			addr := startTracedEcho(t, nil, seen)
			ch, err := newTracedSystem(t, tc.tp).NewChannel(addr, &actors.ChannelOptions{Timeout: testTimeout})
			if err != nil {
				t.Fatal(err)
			}
			if err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); err != nil {
				t.Fatalf("Call() = %v, want nil", err)
			}
			if ids := receive(t, seen, "the handler's ids"); ids.trace != 0 || ids.span != 0 || ids.parent != 0 {
				t.Errorf("request meta trace_id, span_id, parent_span_id = %d, %d, %d, want none", ids.trace, ids.span, ids.parent)
			}
			if n := len(rec.Ended()); n != 0 {
				t.Errorf("%d spans recorded, want none", n)
			}
		})
	}
}

// A brpc client's rpcz ids, sent by hand, become the server span's remote parent.
func TestTraceServerContinuesRawRequestIDs(t *testing.T) {
	tp, rec := newTracer(t)
	seen := make(chan wireIDs, 1)
	c := dialRaw(t, startTracedEcho(t, tp, seen))
	m := methodMeta("example.EchoService", "Echo", 1)
	m.TraceID, m.SpanID, m.ParentSpanID = -5, 1<<40, 3
	decodeEcho(t, c.call(m, marshal(t, hello("x")), nil))
	ids := receive(t, seen, "the handler's ids")
	s := one(t, "server", spansNamed(rec, echoservice.Method))
	p := s.Parent()
	if !p.IsRemote() || !p.IsSampled() || low64(p.TraceID()) != -5 || id64(p.SpanID()) != 1<<40 || ids.ctxSpan.SpanID() != s.SpanContext().SpanID() {
		t.Errorf("server span parent %v (remote %v), handler span %v; want the remote sampled span -5/%x and the server span %v",
			p, p.IsRemote(), ids.ctxSpan.SpanID(), int64(1<<40), s.SpanContext().SpanID())
	}
	if tid := s.SpanContext().TraceID(); binary.BigEndian.Uint64(tid[:8]) != 0 {
		t.Errorf("server span trace id %v, want the high 64 bits zero", tid)
	}
}

// Through a channel's interceptors, asynchronously: an interceptor's ctx carries the call's span,
// and the channel's own call (and its attempt) hang under it; every span has ended once the done
// callback runs.
func TestTraceInterceptedAsyncCall(t *testing.T) {
	tp, rec := newTracer(t)
	_, addr := startEcho(t, &echoservice.Service{})
	var inCtx trace.SpanContext
	icpt := func(ctx context.Context, method string, req, resp proto.Message, cntl *actors.Controller, next actors.Invoker) error {
		inCtx = trace.SpanContextFromContext(ctx)
		return next(ctx, method, req, resp, cntl)
	}
	ch, err := newTracedSystem(t, tp).NewChannel(addr, &actors.ChannelOptions{Timeout: testTimeout, Interceptors: []actors.Interceptor{icpt}})
	if err != nil {
		t.Fatal(err)
	}
	ended := make(chan int, 1)
	call := ch.Go(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil, func(*actors.Controller) {
		ended <- len(rec.Ended())
	})
	if err := call.Wait(); err != nil {
		t.Fatalf("Go(...).Wait() = %v, want nil", err)
	}
	if n := receive(t, ended, "the done callback"); n != 3 {
		t.Errorf("%d spans ended when the done callback ran, want 3 (intercepted call, call, attempt)", n)
	}
	calls := spansNamed(rec, echoservice.Method)
	at := one(t, "attempt", spansNamed(rec, attemptSpan))
	if len(calls) != 2 {
		t.Fatalf("%d call spans, want the intercepted call's and the channel's own", len(calls))
	}
	inner, outer := calls[0], calls[1] // the inner call ends first
	if outer.Parent().IsValid() || inCtx.SpanID() != outer.SpanContext().SpanID() ||
		inner.Parent().SpanID() != outer.SpanContext().SpanID() || at.Parent().SpanID() != inner.SpanContext().SpanID() {
		t.Errorf("spans: outer %v (parent %v), interceptor ctx %v, inner under %v, attempt under %v; want interceptor ctx = outer, inner under outer, attempt under inner",
			outer.SpanContext().SpanID(), outer.Parent().SpanID(), inCtx.SpanID(), inner.Parent().SpanID(), at.Parent().SpanID())
	}
}

// endedSpans signals each span the provider ends, so that a test can wait for a server's span,
// which ends after the answer leaves.
type endedSpans chan sdktrace.ReadOnlySpan

func (e endedSpans) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (e endedSpans) OnEnd(s sdktrace.ReadOnlySpan)                   { e <- s }
func (e endedSpans) Shutdown(context.Context) error                  { return nil }
func (e endedSpans) ForceFlush(context.Context) error                { return nil }

// A server's span and its metrics record what the client is told, not only what the handler
// returned: a response that fails to encode is ERESPONSE, an answer dropped because the handler
// returned after the request's deadline is ERPCTIMEDOUT.
func TestTraceServerSpanEndsWithWhatTheClientGets(t *testing.T) {
	ended := make(endedSpans, 4)
	tp, _ := newTracer(t, sdktrace.WithSpanProcessor(ended))
	srv := newServer(t, &actors.ServerOptions{TracerProvider: tp})
	handle(t, srv, "test.Svc.Incomplete", func(context.Context, *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		return &echopb.EchoResponse{ServerIndex: proto.Int32(1)}, nil // message is required
	})
	handle(t, srv, "test.Svc.Late", func(ctx context.Context, _ *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		<-ctx.Done() // the request's deadline
		return &echopb.EchoResponse{Message: proto.String("too late")}, nil
	})
	c := dialRaw(t, listen(t, srv))
	f := c.call(methodMeta("test.Svc", "Incomplete", 1), marshal(t, hello("x")), nil)
	if code := wire.Errno(f.Meta.ErrorCode); code != wire.ERESPONSE {
		t.Fatalf("error_code = %d, want %d (ERESPONSE)", code, wire.ERESPONSE)
	}
	m := methodMeta("test.Svc", "Late", 2)
	m.TimeoutMs = 1
	c.send(m, marshal(t, hello("x")), nil)
	for range 2 {
		s := receive(t, ended, "a server span")
		want := map[string]wire.Errno{"test.Svc.Incomplete": wire.ERESPONSE, "test.Svc.Late": wire.ERPCTIMEDOUT}[s.Name()]
		if s.Status().Code != codes.Error || attr(s, "rpc.brpc.error_code").AsInt64() != int64(want) {
			t.Errorf("span %s: status %v error_code %v, want Error and %d", s.Name(), s.Status(), attr(s, "rpc.brpc.error_code"), want)
		}
	}
	for _, ms := range srv.Stats().Methods {
		want := map[string]wire.Errno{"test.Svc.Incomplete": wire.ERESPONSE, "test.Svc.Late": wire.ERPCTIMEDOUT}[ms.Method]
		if ms.Errors[want] != 1 {
			t.Errorf("%s errors %v, want one %v", ms.Method, ms.Errors, want)
		}
	}
}
