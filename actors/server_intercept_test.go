package actors_test

// Server interceptors over real loopback connections: their order, a chain cut short, a panic,
// and what they see of the call.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// trail records events from the handlers and interceptors of a server.
type trail struct {
	mu     sync.Mutex
	events []string
}

func (tr *trail) add(format string, args ...any) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.events = append(tr.events, fmt.Sprintf(format, args...))
}

// take returns the events so far and forgets them.
func (tr *trail) take() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	ev := tr.events
	tr.events = nil
	return ev
}

type ctxKey string

// serverRecording is an interceptor that records entering and leaving, with what it sees of the call.
func serverRecording(tr *trail, name string) actors.ServerInterceptor {
	return func(ctx context.Context, call *actors.ServerCall, req proto.Message, handler actors.ServerHandler) (proto.Message, error) {
		field, _ := call.UserField("who")
		tr.add("%s> %s log=%d who=%s msg=%s", name, call.Method(), call.LogID(), field, req.(*echopb.EchoRequest).GetMessage())
		resp, err := handler(context.WithValue(ctx, ctxKey(name), name), req)
		r, _ := resp.(*echopb.EchoResponse)
		tr.add("<%s resp=%s err=%v", name, r.GetMessage(), err)
		return resp, err
	}
}

// Three interceptors run first outermost around the handler, which sees the values they put in
// its ctx and the ServerCall through it.
func TestServerInterceptorOrder(t *testing.T) {
	var tr trail
	srv := newServer(t, &actors.ServerOptions{Interceptors: []actors.ServerInterceptor{
		serverRecording(&tr, "A"), serverRecording(&tr, "B"), serverRecording(&tr, "C"),
	}})
	handle(t, srv, "test.Svc.Echo", func(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		tr.add("handler values=%v,%v,%v method=%s", ctx.Value(ctxKey("A")), ctx.Value(ctxKey("B")), ctx.Value(ctxKey("C")),
			actors.ServerCallFromContext(ctx).Method())
		return &echopb.EchoResponse{Message: proto.String(req.GetMessage())}, nil
	})
	c := dialRaw(t, listen(t, srv))
	m := methodMeta("test.Svc", "Echo", 1)
	m.LogID = 42
	m.UserFields = []wire.UserField{{Key: []byte("who"), Value: []byte("tester")}}
	if resp := decodeEcho(t, c.call(m, marshal(t, hello("hi")), nil)); resp.GetMessage() != "hi" {
		t.Errorf("Call(Echo hi) message = %q, want %q", resp.GetMessage(), "hi")
	}
	want := []string{
		"A> test.Svc.Echo log=42 who=tester msg=hi",
		"B> test.Svc.Echo log=42 who=tester msg=hi",
		"C> test.Svc.Echo log=42 who=tester msg=hi",
		"handler values=A,B,C method=test.Svc.Echo",
		"<C resp=hi err=<nil>",
		"<B resp=hi err=<nil>",
		"<A resp=hi err=<nil>",
	}
	if got := tr.take(); !slices.Equal(got, want) {
		t.Errorf("events = %q, want %q", got, want)
	}
}

// An interceptor that answers without calling its handler: the handler never runs, and the
// client gets the interceptor's response or error code.
func TestServerInterceptorShortCircuit(t *testing.T) {
	var tr trail
	denied := &wire.Error{Code: wire.EPERM, Text: "denied by interceptor"}
	deny := func(ctx context.Context, call *actors.ServerCall, req proto.Message, handler actors.ServerHandler) (proto.Message, error) {
		switch req.(*echopb.EchoRequest).GetMessage() {
		case "deny":
			return nil, denied
		case "cached":
			call.SetResponseAttachment([]byte("from cache"))
			return &echopb.EchoResponse{Message: proto.String("cached answer")}, nil
		}
		return handler(ctx, req)
	}
	srv := newServer(t, &actors.ServerOptions{Interceptors: []actors.ServerInterceptor{serverRecording(&tr, "outer"), deny}})
	handle(t, srv, "test.Svc.Echo", func(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		tr.add("handler %s", req.GetMessage())
		return &echopb.EchoResponse{Message: proto.String(req.GetMessage())}, nil
	})
	c := dialRaw(t, listen(t, srv))

	f := c.call(methodMeta("test.Svc", "Echo", 1), marshal(t, hello("deny")), nil)
	wantError(t, f, wire.EPERM, "denied by interceptor")
	if got, want := tr.take(), []string{
		"outer> test.Svc.Echo log=0 who= msg=deny",
		"<outer resp= err=" + denied.Error(),
	}; !slices.Equal(got, want) {
		t.Errorf("events for deny = %q, want %q (no handler)", got, want)
	}

	f = c.call(methodMeta("test.Svc", "Echo", 2), marshal(t, hello("cached")), nil)
	if resp := decodeEcho(t, f); resp.GetMessage() != "cached answer" || string(f.Attachment) != "from cache" {
		t.Errorf("Call(Echo cached) = %q attachment %q, want %q attachment %q", resp.GetMessage(), f.Attachment, "cached answer", "from cache")
	}
	if got := tr.take(); slices.ContainsFunc(got, func(e string) bool { return strings.HasPrefix(e, "handler") }) {
		t.Errorf("events for cached = %q, want no handler", got)
	}

	decodeEcho(t, c.call(methodMeta("test.Svc", "Echo", 3), marshal(t, hello("pass")), nil))
	if got := tr.take(); !slices.Contains(got, "handler pass") {
		t.Errorf("events for pass = %q, want the handler to run", got)
	}
}

// A panicking interceptor is answered EINTERNAL naming the panic, and the server serves the next
// call, on the same connection and on a new one.
func TestServerInterceptorPanic(t *testing.T) {
	var logBuf syncBuffer
	boom := func(ctx context.Context, call *actors.ServerCall, req proto.Message, handler actors.ServerHandler) (proto.Message, error) {
		if req.(*echopb.EchoRequest).GetMessage() == "boom" {
			panic("interceptor kaboom")
		}
		return handler(ctx, req)
	}
	srv := newServer(t, &actors.ServerOptions{
		Logger:       slog.New(slog.NewTextHandler(&logBuf, nil)),
		Interceptors: []actors.ServerInterceptor{boom},
	})
	handle(t, srv, "test.Svc.Echo", func(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		return &echopb.EchoResponse{Message: proto.String(req.GetMessage())}, nil
	})
	addr := listen(t, srv)
	c := dialRaw(t, addr)
	for round := range 2 {
		id := int64(10 * round)
		wantError(t, c.call(methodMeta("test.Svc", "Echo", id+1), marshal(t, hello("boom")), nil), wire.EINTERNAL, "panicked: interceptor kaboom")
		if resp := decodeEcho(t, c.call(methodMeta("test.Svc", "Echo", id+2), marshal(t, hello("same conn")), nil)); resp.GetMessage() != "same conn" {
			t.Errorf("Call(Echo after a panic, same conn) message = %q, want %q", resp.GetMessage(), "same conn")
		}
		c2 := dialRaw(t, addr)
		if resp := decodeEcho(t, c2.call(methodMeta("test.Svc", "Echo", id+3), marshal(t, hello("new conn")), nil)); resp.GetMessage() != "new conn" {
			t.Errorf("Call(Echo after a panic, new conn) message = %q, want %q", resp.GetMessage(), "new conn")
		}
	}
	if log := logBuf.String(); !strings.Contains(log, "panicked") || !strings.Contains(log, "interceptor kaboom") {
		t.Errorf("server log = %q, want it to report the interceptor's panic", log)
	}
}

// An interceptor sees the ServerCall's metadata and the handler's error, and may change the
// error and set response user fields on a failed call.
func TestServerInterceptorSeesCall(t *testing.T) {
	type seen struct {
		trace, span, parent, logID int64
		requestID                  string
		timeoutMs                  int32
		fields                     string
		handlerCode                wire.Errno
	}
	got := make(chan seen, 1)
	ic := func(ctx context.Context, call *actors.ServerCall, req proto.Message, handler actors.ServerHandler) (proto.Message, error) {
		s := seen{trace: call.TraceID(), span: call.SpanID(), parent: call.ParentSpanID(), logID: call.LogID(),
			requestID: call.RequestID(), timeoutMs: call.TimeoutMs()}
		for k, v := range call.UserFields() {
			s.fields += k + "=" + v + ";"
		}
		resp, err := handler(ctx, req)
		s.handlerCode = wire.ErrnoOf(err)
		got <- s
		call.SetResponseUserField("seen-by", "interceptor")
		return resp, fmt.Errorf("wrapped by interceptor: %w", err)
	}
	srv := newServer(t, &actors.ServerOptions{Interceptors: []actors.ServerInterceptor{ic}})
	handle(t, srv, "test.Svc.Fail", func(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		return nil, wire.ELIMIT
	})
	c := dialRaw(t, listen(t, srv))
	m := methodMeta("test.Svc", "Fail", 1)
	m.TraceID, m.SpanID, m.ParentSpanID, m.LogID, m.RequestID, m.TimeoutMs = 11, 12, 13, 14, []byte("rid"), 60_000
	m.UserFields = []wire.UserField{{Key: []byte("k1"), Value: []byte("v1")}, {Key: []byte("k2"), Value: []byte("v2")}}
	f := c.call(m, marshal(t, hello("x")), nil)
	wantError(t, f, wire.ELIMIT, "wrapped by interceptor")
	if len(f.Meta.UserFields) != 1 || string(f.Meta.UserFields[0].Key) != "seen-by" || string(f.Meta.UserFields[0].Value) != "interceptor" {
		t.Errorf("Call(Fail) response user_fields = %q, want seen-by=interceptor", f.Meta.UserFields)
	}
	want := seen{trace: 11, span: 12, parent: 13, logID: 14, requestID: "rid", timeoutMs: 60_000, fields: "k1=v1;k2=v2;", handlerCode: wire.ELIMIT}
	if s := receive(t, got, "the interceptor's report"); s != want {
		t.Errorf("interceptor saw %+v, want %+v", s, want)
	}
}

func TestServerInterceptorNilRejected(t *testing.T) {
	ok := func(ctx context.Context, _ *actors.ServerCall, req proto.Message, h actors.ServerHandler) (proto.Message, error) {
		return h(ctx, req)
	}
	_, err := actors.NewServer(&actors.ServerOptions{Interceptors: []actors.ServerInterceptor{ok, nil}})
	if !errors.Is(err, wire.EINVAL) || !strings.Contains(err.Error(), "Interceptors[1]") {
		t.Errorf("NewServer(Interceptors with a nil at 1) = %v, want EINVAL naming Interceptors[1]", err)
	}
}
