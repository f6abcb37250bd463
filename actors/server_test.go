package actors_test

// Tests of the baidu_std server over real loopback sockets, with a client built by hand from the
// wire package (rawClient) so that every byte the server receives is under the test's control.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// ---------------------------------------------------------------------------------------------
// Helpers.

// rawClient speaks baidu_std to a server over one TCP connection, frame by frame.
type rawClient struct {
	t    testing.TB
	conn net.Conn
	r    *wire.Reader
}

// dialRaw connects to addr; the connection is closed when the test ends.
func dialRaw(t testing.TB, addr string) *rawClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatalf("net.Dial(%q) = %v, want a connection", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawClient{t: t, conn: conn, r: wire.NewReader(bufio.NewReader(conn), 0)}
}

// write writes raw bytes.
func (c *rawClient) write(b []byte) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(testTimeout))
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatalf("conn.Write(%d bytes) = %v, want nil", len(b), err)
	}
}

// send writes one frame.
func (c *rawClient) send(m *wire.Meta, payload, attachment []byte) {
	c.t.Helper()
	c.write(wire.AppendFrame(nil, m, payload, attachment))
}

// read reads the next frame, which must be a response.
func (c *rawClient) read() *wire.Frame {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(testTimeout))
	f := new(wire.Frame)
	if err := c.r.ReadFrame(f); err != nil {
		c.t.Fatalf("ReadFrame() = %v, want a response frame", err)
	}
	if !f.Meta.IsResponse {
		c.t.Fatalf("ReadFrame() = a request frame (cid %d), want a response", f.Meta.CorrelationID)
	}
	return f
}

// call sends one request and reads its response, which must carry the request's correlation id.
func (c *rawClient) call(m *wire.Meta, payload, attachment []byte) *wire.Frame {
	c.t.Helper()
	id := m.CorrelationID
	c.send(m, payload, attachment)
	f := c.read()
	if f.Meta.CorrelationID != id {
		c.t.Fatalf("Call(cid %d) response correlation_id = %d, want %d", id, f.Meta.CorrelationID, id)
	}
	return f
}

// echo calls example.EchoService.Echo with req.
func (c *rawClient) echo(id int64, req *echopb.EchoRequest, attachment []byte) *wire.Frame {
	c.t.Helper()
	return c.call(echoMeta(id), marshal(c.t, req), attachment)
}

// expectClosed reads until the server closes the connection; a frame or a timeout fails the test.
func (c *rawClient) expectClosed() {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(testTimeout))
	var f wire.Frame
	err := c.r.ReadFrame(&f)
	if err == nil {
		c.t.Fatalf("ReadFrame() = frame cid %d code %d, want the connection closed", f.Meta.CorrelationID, f.Meta.ErrorCode)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatalf("ReadFrame() = %v, want the connection closed by the server within %v", err, testTimeout)
	}
}

// echoMeta is the meta of a request to example.EchoService.Echo.
func echoMeta(id int64) *wire.Meta {
	return methodMeta("example.EchoService", "Echo", id)
}

func methodMeta(service, method string, id int64) *wire.Meta {
	return &wire.Meta{Service: []byte(service), Method: []byte(method), CorrelationID: id}
}

func marshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatalf("proto.Marshal(%v) = %v", m, err)
	}
	return b
}

func hello(msg string) *echopb.EchoRequest { return &echopb.EchoRequest{Message: proto.String(msg)} }

// decodeEcho checks that f is a successful response and returns its (decompressed) message.
func decodeEcho(t testing.TB, f *wire.Frame) *echopb.EchoResponse {
	t.Helper()
	if f.Meta.ErrorCode != 0 {
		t.Fatalf("Call(cid %d) = error %d %q, want success", f.Meta.CorrelationID, f.Meta.ErrorCode, f.Meta.ErrorText)
	}
	payload, err := wire.Decompress(nil, f.Payload, f.Meta.CompressType, 0)
	if err != nil {
		t.Fatalf("Decompress(response, %v) = %v, want nil", f.Meta.CompressType, err)
	}
	resp := &echopb.EchoResponse{}
	if err := proto.Unmarshal(payload, resp); err != nil {
		t.Fatalf("proto.Unmarshal(response payload %x) = %v, want nil", payload, err)
	}
	return resp
}

// wantError checks that f is an error response with code and text containing textPart, and that it
// carries neither payload nor attachment (body_size == meta_size).
func wantError(t testing.TB, f *wire.Frame, code wire.Errno, textPart string) {
	t.Helper()
	if got := wire.Errno(f.Meta.ErrorCode); got != code {
		t.Errorf("Call(cid %d) error_code = %d (%v, text %q), want %d (%v)", f.Meta.CorrelationID, int32(got), got, f.Meta.ErrorText, int32(code), code)
	}
	if !strings.Contains(string(f.Meta.ErrorText), textPart) {
		t.Errorf("Call(cid %d) error_text = %q, want it to contain %q", f.Meta.CorrelationID, f.Meta.ErrorText, textPart)
	}
	if n := len(f.Payload) + len(f.Attachment); n != 0 || f.Meta.AttachmentSize != 0 {
		t.Errorf("Call(cid %d) error response body_size-meta_size = %d, attachment_size = %d, want 0 and 0", f.Meta.CorrelationID, n, f.Meta.AttachmentSize)
	}
	if f.Meta.CompressType != wire.CompressNone {
		t.Errorf("Call(cid %d) error response compress_type = %v, want none", f.Meta.CorrelationID, f.Meta.CompressType)
	}
}

// newServer returns a server shut down (gracefully, within testTimeout) when the test ends.
func newServer(t testing.TB, opts *actors.ServerOptions) *actors.Server {
	t.Helper()
	srv, err := actors.NewServer(opts)
	if err != nil {
		t.Fatalf("NewServer(%+v) = %v, want nil", opts, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown() = %v, want nil", err)
		}
	})
	return srv
}

// listen makes srv listen on a free loopback port and returns the address.
func listen(t testing.TB, srv *actors.Server) string {
	t.Helper()
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatalf("Listen(127.0.0.1:0) = %v, want nil", err)
	}
	return addr.String()
}

// handle registers fn or fails the test.
func handle(t testing.TB, srv *actors.Server, method string, fn func(context.Context, *echopb.EchoRequest) (*echopb.EchoResponse, error)) {
	t.Helper()
	if err := actors.Handle(srv, method, fn); err != nil {
		t.Fatalf("Handle(%q) = %v, want nil", method, err)
	}
}

// receive waits for a value on ch, failing the test after testTimeout.
func receive[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testTimeout):
		t.Fatalf("timed out after %v waiting for %s", testTimeout, what)
		panic("unreachable")
	}
}

// gate blocks handlers until the test opens it (or their context ends), and reports every handler
// that entered it. It is opened when the test ends, so that no handler outlives it.
type gate struct {
	entered chan string // the request's message
	release chan struct{}
	once    sync.Once
}

func newGate(t testing.TB) *gate {
	g := &gate{entered: make(chan string, 1024), release: make(chan struct{})}
	t.Cleanup(g.open)
	return g
}

func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

func (g *gate) handle(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
	g.entered <- req.GetMessage()
	select {
	case <-g.release:
		return &echopb.EchoResponse{Message: proto.String(req.GetMessage())}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// waitEntered waits until n handlers entered the gate.
func (g *gate) waitEntered(t testing.TB, n int) {
	t.Helper()
	for i := range n {
		receive(t, g.entered, fmt.Sprintf("handler %d of %d to start", i+1, n))
	}
}

// syncBuffer is an io.Writer safe for the server's goroutines, for capturing its log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// ---------------------------------------------------------------------------------------------
// 1. Echo.

func TestServerEcho(t *testing.T) {
	_, addr := startEcho(t, &echoservice.Service{EchoAttachment: true, Index: 7})
	c := dialRaw(t, addr)
	big := strings.Repeat("0123456789abcdef", 3<<16) // 3 MiB: more than the reader's 1 MiB chunk
	bigAtt := bytes.Repeat([]byte{0xa5}, 2<<20)
	tests := []struct {
		name       string
		service    string
		msg        string
		attachment []byte
	}{
		{"plain", "example.EchoService", "hello", nil},
		{"attachment", "example.EchoService", "hello", []byte("foo")},
		{"empty message", "example.EchoService", "", nil},
		{"short service name", "EchoService", "short", []byte("att")},
		{"large", "example.EchoService", big, bigAtt},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			id := int64(1000 + i)
			f := c.call(methodMeta(tt.service, "Echo", id), marshal(t, hello(tt.msg)), tt.attachment)
			resp := decodeEcho(t, f)
			if resp.GetMessage() != tt.msg {
				t.Errorf("Call(%s, %.20q) message = %.20q (len %d), want len %d", tt.service, tt.msg, resp.GetMessage(), len(resp.GetMessage()), len(tt.msg))
			}
			if resp.GetServerIndex() != 7 {
				t.Errorf("Call(%s) server_index = %d, want 7", tt.service, resp.GetServerIndex())
			}
			if !bytes.Equal(f.Attachment, tt.attachment) || int(f.Meta.AttachmentSize) != len(tt.attachment) {
				t.Errorf("Call(%s) attachment = %d bytes (attachment_size %d), want %d bytes %.10q", tt.service, len(f.Attachment), f.Meta.AttachmentSize, len(tt.attachment), tt.attachment)
			}
			if f.Meta.CompressType != wire.CompressNone {
				t.Errorf("Call(%s) compress_type = %v, want none", tt.service, f.Meta.CompressType)
			}
		})
	}
}

func TestServerEchoNoAttachmentWhenEchoAttachmentOff(t *testing.T) {
	_, addr := startEcho(t, &echoservice.Service{})
	c := dialRaw(t, addr)
	f := c.echo(1, hello("hi"), []byte("foo"))
	if resp := decodeEcho(t, f); resp.GetMessage() != "hi" {
		t.Errorf("Call(Echo hi) message = %q, want %q", resp.GetMessage(), "hi")
	}
	if len(f.Attachment) != 0 || f.Meta.AttachmentSize != 0 {
		t.Errorf("Call(Echo, EchoAttachment=false) attachment = %q, want none", f.Attachment)
	}
}

func TestServerAttachmentNotSentOnFailure(t *testing.T) {
	srv := newServer(t, nil)
	svc := &echoservice.Service{EchoAttachment: true}
	if err := svc.Register(srv); err != nil {
		t.Fatal(err)
	}
	// A handler that sets the response attachment and then fails: brpc drops the attachment.
	handle(t, srv, "test.Svc.AttachThenFail", func(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		actors.ServerCallFromContext(ctx).SetResponseAttachment([]byte("should not be sent"))
		return nil, &wire.Error{Code: wire.ERPCAUTH, Text: "denied"}
	})
	c := dialRaw(t, listen(t, srv))

	f := c.echo(1, &echopb.EchoRequest{Message: proto.String("x"), FailCode: proto.Int32(int32(wire.EINTERNAL))}, []byte("foo"))
	wantError(t, f, wire.EINTERNAL, "Server fail")

	f = c.call(methodMeta("test.Svc", "AttachThenFail", 2), marshal(t, hello("x")), []byte("foo"))
	wantError(t, f, wire.ERPCAUTH, "denied")
}

func TestServerCallInfo(t *testing.T) {
	type info struct {
		method, requestID, userField, localAddr, remoteAddr string
		logID                                               int64
		timeoutMs                                           int32
		hasField, hasMissing                                bool
		attachment                                          string
	}
	got := make(chan info, 1)
	srv := newServer(t, nil)
	handle(t, srv, "example.EchoService.Echo", func(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		call := actors.ServerCallFromContext(ctx)
		if call == nil {
			return nil, errors.New("ServerCallFromContext(handler ctx) = nil")
		}
		var in info
		in.method = call.Method()
		in.logID = call.LogID()
		in.requestID = call.RequestID()
		in.timeoutMs = call.TimeoutMs()
		in.userField, in.hasField = call.UserField("user-key")
		_, in.hasMissing = call.UserField("missing")
		in.localAddr = call.LocalAddr().String()
		in.remoteAddr = call.RemoteAddr().String()
		in.attachment = string(call.RequestAttachment())
		got <- in
		call.SetResponseAttachment([]byte("resp-att"))
		return &echopb.EchoResponse{Message: proto.String(req.GetMessage())}, nil
	})
	addr := listen(t, srv)
	c := dialRaw(t, addr)

	m := echoMeta(77)
	m.LogID = 4242
	m.RequestID = []byte("req-7")
	m.TimeoutMs = 500
	m.UserFields = []wire.UserField{{Key: []byte("user-key"), Value: []byte("user-value")}}
	f := c.call(m, marshal(t, hello("info")), []byte("req-att"))
	if resp := decodeEcho(t, f); resp.GetMessage() != "info" {
		t.Errorf("Call(Echo info) message = %q, want %q", resp.GetMessage(), "info")
	}
	if string(f.Attachment) != "resp-att" {
		t.Errorf("Call(Echo) attachment = %q, want %q", f.Attachment, "resp-att")
	}
	in := receive(t, got, "the handler's call info")
	want := info{
		method: "example.EchoService.Echo", requestID: "req-7", userField: "user-value",
		localAddr: addr, remoteAddr: c.conn.LocalAddr().String(),
		logID: 4242, timeoutMs: 500, hasField: true, hasMissing: false, attachment: "req-att",
	}
	if in != want {
		t.Errorf("ServerCallFromContext(ctx) = %+v, want %+v", in, want)
	}

	// The short service name resolves to the full method name too.
	f = c.call(methodMeta("EchoService", "Echo", 78), marshal(t, hello("short")), nil)
	decodeEcho(t, f)
	if in := receive(t, got, "the handler's call info"); in.method != "example.EchoService.Echo" || in.logID != 0 || in.requestID != "" || in.timeoutMs != 0 || in.attachment != "" {
		t.Errorf("ServerCallFromContext(ctx) for a bare request = %+v, want method example.EchoService.Echo and zero log id, request id, timeout, attachment", in)
	}

	if call := actors.ServerCallFromContext(context.Background()); call != nil {
		t.Errorf("ServerCallFromContext(Background) = %v, want nil", call)
	}
}

// ---------------------------------------------------------------------------------------------
// 2. Errors with brpc's codes.

func TestServerErrors(t *testing.T) {
	srv := newServer(t, nil)
	if err := (&echoservice.Service{EchoAttachment: true}).Register(srv); err != nil {
		t.Fatal(err)
	}
	handlers := map[string]func(context.Context, *echopb.EchoRequest) (*echopb.EchoResponse, error){
		"Auth": func(context.Context, *echopb.EchoRequest) (*echopb.EchoResponse, error) {
			return nil, &wire.Error{Code: wire.ERPCAUTH, Text: "no"}
		},
		"Wrapped": func(context.Context, *echopb.EchoRequest) (*echopb.EchoResponse, error) {
			return nil, fmt.Errorf("while checking: %w", &wire.Error{Code: wire.ERPCAUTH, Text: "wrapped no"})
		},
		"Plain": func(context.Context, *echopb.EchoRequest) (*echopb.EchoResponse, error) {
			return nil, errors.New("boom")
		},
		"Limit": func(context.Context, *echopb.EchoRequest) (*echopb.EchoResponse, error) {
			return nil, wire.ELIMIT
		},
		"WrappedErrno": func(context.Context, *echopb.EchoRequest) (*echopb.EchoResponse, error) {
			return nil, fmt.Errorf("busy: %w", wire.ELOGOFF)
		},
		"NilNil": func(context.Context, *echopb.EchoRequest) (*echopb.EchoResponse, error) {
			return nil, nil
		},
		"TypedNil": func(context.Context, *echopb.EchoRequest) (*echopb.EchoResponse, error) {
			var resp *echopb.EchoResponse
			return resp, nil
		},
		"RespAndErr": func(context.Context, *echopb.EchoRequest) (*echopb.EchoResponse, error) {
			return &echopb.EchoResponse{Message: proto.String("ignored")}, errors.New("both")
		},
		"Panic": func(context.Context, *echopb.EchoRequest) (*echopb.EchoResponse, error) {
			panic("kaboom")
		},
		"PanicError": func(context.Context, *echopb.EchoRequest) (*echopb.EchoResponse, error) {
			panic(&wire.Error{Code: wire.ERPCAUTH, Text: "panicked with an error"})
		},
		"Deadline": func(context.Context, *echopb.EchoRequest) (*echopb.EchoResponse, error) {
			return nil, context.DeadlineExceeded
		},
	}
	for name, fn := range handlers {
		handle(t, srv, "test.Svc."+name, fn)
	}
	c := dialRaw(t, listen(t, srv))
	good := marshal(t, hello("x"))

	tests := []struct {
		name             string
		service, method  string
		payload          []byte
		attachment       []byte
		wantCode         wire.Errno
		wantTextContains string
	}{
		{"unknown short service", "Nope", "Echo", good, nil, wire.ENOSERVICE, "Fail to find service=Nope"},
		{"unknown method", "example.EchoService", "Nope", good, nil, wire.ENOMETHOD, "Fail to find method=example.EchoService/Nope"},
		{"unknown method by short service name", "EchoService", "Nope", good, nil, wire.ENOMETHOD, "/Nope"},
		{"empty service", "", "Echo", good, nil, wire.ENOSERVICE, "Fail to find service="},
		{"unparsable payload", "example.EchoService", "Echo", []byte{0xff}, nil, wire.EREQUEST, "Fail to parse request=example.EchoRequest"},
		{"missing required field", "example.EchoService", "Echo", nil, []byte("att"), wire.EREQUEST, "Fail to parse request"},
		{"handler fail_code", "example.EchoService", "Echo", marshal(t, &echopb.EchoRequest{Message: proto.String("x"), FailCode: proto.Int32(1234)}), []byte("att"), 1234, "Server fail"},
		{"wire.Error", "test.Svc", "Auth", good, nil, wire.ERPCAUTH, "no"},
		{"wrapped wire.Error", "test.Svc", "Wrapped", good, nil, wire.ERPCAUTH, "wrapped no"},
		{"plain error", "test.Svc", "Plain", good, nil, wire.EINTERNAL, "boom"},
		{"Errno", "test.Svc", "Limit", good, nil, wire.ELIMIT, ""},
		{"wrapped Errno", "test.Svc", "WrappedErrno", good, nil, wire.ELOGOFF, "busy"},
		{"nil response, nil error", "test.Svc", "NilNil", good, nil, wire.EINTERNAL, "nil response"},
		{"typed nil response", "test.Svc", "TypedNil", good, nil, wire.EINTERNAL, "nil response"},
		{"response and error", "test.Svc", "RespAndErr", good, []byte("att"), wire.EINTERNAL, "both"},
		{"panic", "test.Svc", "Panic", good, []byte("att"), wire.EINTERNAL, "kaboom"},
		{"panic with an error", "test.Svc", "PanicError", good, nil, wire.EINTERNAL, "panicked"},
		{"context error", "test.Svc", "Deadline", good, nil, wire.EINTERNAL, "deadline exceeded"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			f := c.call(methodMeta(tt.service, tt.method, int64(i+1)), tt.payload, tt.attachment)
			wantError(t, f, tt.wantCode, tt.wantTextContains)
		})
	}
	c.t = t
	// After every failure the connection still serves.
	if resp := decodeEcho(t, c.echo(100, hello("still here"), nil)); resp.GetMessage() != "still here" {
		t.Errorf("Call(Echo after errors) message = %q, want %q", resp.GetMessage(), "still here")
	}
}

// An unknown service is ENOSERVICE whether it is named in full or by its short name. brpc 1.17
// answers a full name with ENOMETHOD ("Fail to find method=<service>/<method>", see the
// enoservice capture in wire/testdata/errors.hex); troupe names the actual problem instead, as the
// server's documentation says.
func TestServerUnknownFullServiceName(t *testing.T) {
	_, addr := startEcho(t, nil)
	c := dialRaw(t, addr)
	f := c.call(methodMeta("example.Nope", "Echo", 1), marshal(t, hello("x")), nil)
	wantError(t, f, wire.ENOSERVICE, "Fail to find service=example.Nope")
}

// A handler error must never reach the client as a success. brpc's Controller::SetFailed turns
// error code 0 into -1, which SendRpcResponse sends as EINTERNAL.
func TestServerErrorWithZeroCode(t *testing.T) {
	srv := newServer(t, nil)
	handle(t, srv, "test.Svc.ZeroError", func(context.Context, *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		return nil, &wire.Error{Text: "zero code"}
	})
	handle(t, srv, "test.Svc.ZeroErrno", func(context.Context, *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		return nil, wire.Errno(0)
	})
	c := dialRaw(t, listen(t, srv))
	for i, m := range []string{"ZeroError", "ZeroErrno"} {
		f := c.call(methodMeta("test.Svc", m, int64(i+1)), marshal(t, hello("x")), nil)
		wantError(t, f, wire.EINTERNAL, "")
	}
}

// brpc's SendRpcResponse answers a response missing required fields with ERESPONSE, "Missing
// required fields in response".
func TestServerResponseMissingRequiredField(t *testing.T) {
	srv := newServer(t, nil)
	handle(t, srv, "test.Svc.Incomplete", func(context.Context, *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		return &echopb.EchoResponse{ServerIndex: proto.Int32(1)}, nil // message is required
	})
	handle(t, srv, "test.Svc.IncompleteAttach", func(ctx context.Context, _ *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		actors.ServerCallFromContext(ctx).SetResponseAttachment([]byte("dropped"))
		return &echopb.EchoResponse{}, nil
	})
	c := dialRaw(t, listen(t, srv))
	for i, m := range []string{"Incomplete", "IncompleteAttach"} {
		f := c.call(methodMeta("test.Svc", m, int64(i+1)), marshal(t, hello("x")), nil)
		if code := wire.Errno(f.Meta.ErrorCode); code != wire.EINTERNAL && code != wire.ERESPONSE {
			t.Errorf("Call(%s) error_code = %d, want %d (EINTERNAL) or %d (ERESPONSE, brpc's)", m, code, wire.EINTERNAL, wire.ERESPONSE)
		}
		wantError(t, f, wire.Errno(f.Meta.ErrorCode), "serialize")
	}
}

func TestServerPanicKeepsServing(t *testing.T) {
	var logBuf syncBuffer
	srv := newServer(t, &actors.ServerOptions{Logger: slog.New(slog.NewTextHandler(&logBuf, nil))})
	if err := (&echoservice.Service{}).Register(srv); err != nil {
		t.Fatal(err)
	}
	handle(t, srv, "test.Svc.Panic", func(context.Context, *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		panic("kaboom")
	})
	addr := listen(t, srv)
	c := dialRaw(t, addr)

	for round := range 3 {
		id := int64(10 * round)
		wantError(t, c.call(methodMeta("test.Svc", "Panic", id+1), marshal(t, hello("x")), nil), wire.EINTERNAL, "kaboom")
		if resp := decodeEcho(t, c.echo(id+2, hello("same conn"), nil)); resp.GetMessage() != "same conn" {
			t.Errorf("Call(Echo after panic, same conn) message = %q, want %q", resp.GetMessage(), "same conn")
		}
		c2 := dialRaw(t, addr)
		if resp := decodeEcho(t, c2.echo(id+3, hello("new conn"), nil)); resp.GetMessage() != "new conn" {
			t.Errorf("Call(Echo after panic, new conn) message = %q, want %q", resp.GetMessage(), "new conn")
		}
	}
	if log := logBuf.String(); !strings.Contains(log, "handler panicked") || !strings.Contains(log, "kaboom") {
		t.Errorf("server log = %q, want it to report the handler panic", log)
	}
}

// ---------------------------------------------------------------------------------------------
// 3. MaxConcurrency.

func TestServerMaxConcurrency(t *testing.T) {
	srv := newServer(t, &actors.ServerOptions{MaxConcurrency: 2})
	g := newGate(t)
	handle(t, srv, "test.Svc.Block", g.handle)
	c := dialRaw(t, listen(t, srv))

	c.send(methodMeta("test.Svc", "Block", 1), marshal(t, hello("one")), nil)
	c.send(methodMeta("test.Svc", "Block", 2), marshal(t, hello("two")), nil)
	g.waitEntered(t, 2)

	// The limit is reached: the third request is refused at once, while the first two still wait.
	f := c.call(methodMeta("test.Svc", "Block", 3), marshal(t, hello("three")), nil)
	wantError(t, f, wire.ELIMIT, "max_concurrency=2")
	select {
	case m := <-g.entered:
		t.Fatalf("handler entered with %q over MaxConcurrency=2, want it refused", m)
	default:
	}

	g.open()
	seen := map[int64]string{}
	for range 2 {
		f := c.read()
		seen[f.Meta.CorrelationID] = decodeEcho(t, f).GetMessage()
	}
	if want := map[int64]string{1: "one", 2: "two"}; fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("responses after release = %v, want %v", seen, want)
	}

	// The slots are given back right after each response is written (as brpc's
	// ConcurrencyRemover does), so a request sent the instant the responses arrive may still find
	// them taken: retry ELIMIT until the deadline, but nothing else.
	deadline := time.Now().Add(testTimeout)
	for id := int64(10); ; id++ {
		f := c.call(methodMeta("test.Svc", "Block", id), marshal(t, hello("after")), nil)
		if f.Meta.ErrorCode == int32(wire.ELIMIT) && time.Now().Before(deadline) {
			continue
		}
		if resp := decodeEcho(t, f); resp.GetMessage() != "after" {
			t.Errorf("Call(Block after release) message = %q, want %q", resp.GetMessage(), "after")
		}
		break
	}
}

// ---------------------------------------------------------------------------------------------
// 4. Out of order and concurrency.

func TestServerOutOfOrder(t *testing.T) {
	_, addr := startEcho(t, nil)
	c := dialRaw(t, addr)
	sleeps := []int32{300000, 100000, 0}
	for i, us := range sleeps {
		c.send(echoMeta(int64(i+1)), marshal(t, &echopb.EchoRequest{Message: proto.String(fmt.Sprint("m", i+1)), SleepUs: proto.Int32(us)}), nil)
	}
	var order []int64
	for range sleeps {
		f := c.read()
		resp := decodeEcho(t, f)
		if want := fmt.Sprint("m", f.Meta.CorrelationID); resp.GetMessage() != want {
			t.Errorf("Call(cid %d) message = %q, want %q", f.Meta.CorrelationID, resp.GetMessage(), want)
		}
		order = append(order, f.Meta.CorrelationID)
	}
	if want := []int64{3, 2, 1}; fmt.Sprint(order) != fmt.Sprint(want) {
		t.Errorf("response order for sleeps %v = %v, want %v", sleeps, order, want)
	}
}

func TestServerPipelined(t *testing.T) {
	const n = 1000
	_, addr := startEcho(t, nil)
	c := dialRaw(t, addr)

	var frames []byte
	for i := range n {
		id := int64(i + 1)
		att := []byte(nil)
		if i%3 == 0 {
			att = []byte(fmt.Sprint("att", id))
		}
		frames = wire.AppendFrame(frames, echoMeta(id), marshal(t, hello(fmt.Sprint("m", id))), att)
	}
	// Write from another goroutine while this one reads, so that neither side's buffers can fill.
	written := make(chan error, 1)
	go func() {
		c.conn.SetWriteDeadline(time.Now().Add(testTimeout))
		_, err := c.conn.Write(frames)
		written <- err
	}()

	seen := make(map[int64]int, n)
	for range n {
		f := c.read()
		id := f.Meta.CorrelationID
		seen[id]++
		if seen[id] > 1 {
			t.Fatalf("response for cid %d received %d times, want once", id, seen[id])
		}
		if id < 1 || id > n {
			t.Fatalf("response cid = %d, want 1..%d", id, n)
		}
		if resp := decodeEcho(t, f); resp.GetMessage() != fmt.Sprint("m", id) {
			t.Errorf("Call(cid %d) message = %q, want %q", id, resp.GetMessage(), fmt.Sprint("m", id))
		}
		wantAtt := ""
		if (id-1)%3 == 0 {
			wantAtt = fmt.Sprint("att", id)
		}
		if string(f.Attachment) != wantAtt {
			t.Errorf("Call(cid %d) attachment = %q, want %q", id, f.Attachment, wantAtt)
		}
	}
	if err := receive(t, written, "the pipelined write"); err != nil {
		t.Fatalf("conn.Write(%d pipelined frames) = %v, want nil", n, err)
	}
	if len(seen) != n {
		t.Errorf("distinct correlation ids answered = %d, want %d", len(seen), n)
	}
	// Nothing more arrives: every request was answered exactly once.
	c.conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	var extra wire.Frame
	if err := c.r.ReadFrame(&extra); err == nil {
		t.Errorf("ReadFrame() after %d responses = extra frame cid %d, want none", n, extra.Meta.CorrelationID)
	}
}

// TestServerCombinesWrites checks that responses ready at the same time leave in fewer writes
// than frames: some read returns more than one whole frame.
func TestServerCombinesWrites(t *testing.T) {
	const n = 200
	srv := newServer(t, nil)
	g := newGate(t)
	handle(t, srv, "test.Svc.Block", g.handle)
	c := dialRaw(t, listen(t, srv))

	var frames []byte
	for i := range n {
		frames = wire.AppendFrame(frames, methodMeta("test.Svc", "Block", int64(i+1)), marshal(t, hello(fmt.Sprint("m", i+1))), nil)
	}
	c.write(frames)
	g.waitEntered(t, n)
	g.open()

	var pending []byte
	buf := make([]byte, 1<<20)
	maxPerRead, total := 0, 0
	for total < n {
		c.conn.SetReadDeadline(time.Now().Add(testTimeout))
		k, err := c.conn.Read(buf)
		if err != nil {
			t.Fatalf("conn.Read() after %d of %d frames = %v, want data", total, n, err)
		}
		pending = append(pending, buf[:k]...)
		completed := 0
		for len(pending) >= wire.HeaderSize {
			h, err := wire.ParseHeader(pending)
			if err != nil {
				t.Fatalf("ParseHeader(response) = %v, want nil", err)
			}
			size := wire.HeaderSize + int(h.BodySize)
			if len(pending) < size {
				break
			}
			var f wire.Frame
			if err := wire.NewReader(bufio.NewReader(bytes.NewReader(pending[:size])), 0).ReadFrame(&f); err != nil {
				t.Fatalf("ReadFrame(response) = %v, want nil", err)
			}
			decodeEcho(t, &f)
			pending = pending[size:]
			completed++
		}
		total += completed
		maxPerRead = max(maxPerRead, completed)
	}
	t.Logf("most frames completed by one read: %d", maxPerRead)
	if maxPerRead < 2 {
		t.Errorf("most frames completed by one conn.Read = %d, want >= 2 (responses combined into one write)", maxPerRead)
	}
}

// ---------------------------------------------------------------------------------------------
// 5. Garbage.

func TestServerGarbageClosesConnection(t *testing.T) {
	srv := newServer(t, &actors.ServerOptions{MaxBodySize: 1024})
	if err := (&echoservice.Service{}).Register(srv); err != nil {
		t.Fatal(err)
	}
	addr := listen(t, srv)

	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 256)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	random[0] = 'x' // never "PRPC"
	header := func(body, meta uint32) []byte {
		b := []byte("PRPC")
		b = append(b, byte(body>>24), byte(body>>16), byte(body>>8), byte(body))
		return append(b, byte(meta>>24), byte(meta>>16), byte(meta>>8), byte(meta))
	}
	badMeta := append(header(8, 4), 0xff, 0xff, 0xff, 0xff, 'a', 'b', 'c', 'd')
	good := wire.AppendFrame(nil, echoMeta(1), marshal(t, hello("x")), nil)

	tests := []struct {
		name string
		data []byte
	}{
		{"http", []byte("GET / HTTP/1.1\r\n\r\n")},
		{"random bytes", random},
		{"meta_size > body_size", append(header(4, 5), "abcd"...)},
		{"meta_size > body_size, no body", header(0, 1)},
		{"malformed meta", badMeta},
		{"body_size over MaxBodySize, header only", header(1025, 10)},
		{"body_size over MaxBodySize, 4 GiB", header(0xffffffff, 10)},
		{"garbage after a good frame", append(append([]byte(nil), good...), "GET / HTTP/1.1\r\n\r\n"...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialRaw(t, addr)
			c.conn.SetWriteDeadline(time.Now().Add(testTimeout))
			c.conn.Write(tt.data) // the server may close before it has read everything
			if bytes.HasPrefix(tt.data, good) {
				// The good frame's response may or may not leave before the garbage closes the
				// connection (brpc drops it too: a parse error fails the whole socket); if it
				// does, it must be right.
				c.conn.SetReadDeadline(time.Now().Add(testTimeout))
				var f wire.Frame
				if err := c.r.ReadFrame(&f); err == nil {
					if resp := decodeEcho(t, &f); f.Meta.CorrelationID != 1 || resp.GetMessage() != "x" {
						t.Errorf("Call(cid 1 before garbage) = cid %d %q, want cid 1 %q", f.Meta.CorrelationID, resp.GetMessage(), "x")
					}
				}
			}
			c.expectClosed()

			// The server still serves other connections.
			other := dialRaw(t, addr)
			if resp := decodeEcho(t, other.echo(2, hello("ok"), nil)); resp.GetMessage() != "ok" {
				t.Errorf("Call(Echo on another conn) message = %q, want %q", resp.GetMessage(), "ok")
			}
		})
	}
}

// A body over MaxBodySize closes the connection as soon as the header is read: the server does
// not wait for (or allocate) the body, so the connection closes although the body never comes.
func TestServerMaxBodySize(t *testing.T) {
	srv := newServer(t, &actors.ServerOptions{MaxBodySize: 1024})
	if err := (&echoservice.Service{EchoAttachment: true}).Register(srv); err != nil {
		t.Fatal(err)
	}
	addr := listen(t, srv)

	// A frame of exactly 1024 body bytes is served.
	c := dialRaw(t, addr)
	m := echoMeta(1)
	payload := marshal(t, hello("x"))
	att := make([]byte, 1024-len(payload)-wire.MetaSize(&wire.Meta{Service: m.Service, Method: m.Method, CorrelationID: 1, AttachmentSize: 900}))
	frame := wire.AppendFrame(nil, m, payload, att)
	if h, _ := wire.ParseHeader(frame); h.BodySize != 1024 {
		t.Fatalf("test frame body_size = %d, want 1024", h.BodySize)
	}
	f := c.call(echoMeta(1), payload, att)
	if len(decodeEcho(t, f).GetMessage()) != 1 || len(f.Attachment) != len(att) {
		t.Errorf("Call(1024-byte body) attachment = %d bytes, want %d", len(f.Attachment), len(att))
	}

	// One more byte and the connection is closed, whether the body follows or not.
	big := wire.AppendFrame(nil, echoMeta(2), payload, append(att, 0))
	c.write(big)
	c.expectClosed()

	c = dialRaw(t, addr)
	c.write(big[:wire.HeaderSize])
	c.expectClosed()
}

func TestServerAttachmentSizeTooLarge(t *testing.T) {
	_, addr := startEcho(t, nil)
	c := dialRaw(t, addr)
	payload := marshal(t, hello("x"))
	for i, size := range []int32{100, int32(len(payload)) + 1, -1} {
		// A meta claiming an attachment larger than what follows it (or a negative one).
		id := int64(10 + i)
		m := echoMeta(id)
		m.AttachmentSize = size
		meta := wire.AppendMeta(nil, m)
		var b []byte
		b = append(b, "PRPC"...)
		body := len(meta) + len(payload)
		b = append(b, byte(body>>24), byte(body>>16), byte(body>>8), byte(body))
		b = append(b, byte(len(meta)>>24), byte(len(meta)>>16), byte(len(meta)>>8), byte(len(meta)))
		b = append(append(b, meta...), payload...)
		c.write(b)
		f := c.read()
		if f.Meta.CorrelationID != id {
			t.Fatalf("Call(attachment_size %d) correlation_id = %d, want %d", size, f.Meta.CorrelationID, id)
		}
		wantError(t, f, wire.EREQUEST, "attachment_size")

		// The frame was consumed whole: the connection goes on.
		if resp := decodeEcho(t, c.echo(id+100, hello("next"), nil)); resp.GetMessage() != "next" {
			t.Errorf("Call(Echo after attachment_size %d) message = %q, want %q", size, resp.GetMessage(), "next")
		}
	}
}

// Correlation ids are echoed as they came, whatever their value (brpc's are versioned 64-bit ids).
func TestServerCorrelationIDs(t *testing.T) {
	_, addr := startEcho(t, nil)
	c := dialRaw(t, addr)
	for _, id := range []int64{0, 1, -1, math.MaxInt64, math.MinInt64, 0x100000001} {
		decodeEcho(t, c.call(echoMeta(id), marshal(t, hello("x")), nil))
		wantError(t, c.call(methodMeta("example.EchoService", "Nope", id), marshal(t, hello("x")), nil), wire.ENOMETHOD, "Nope")
	}
}

// A response frame sent to the server is ignored; the connection goes on.
func TestServerIgnoresResponseFrames(t *testing.T) {
	_, addr := startEcho(t, nil)
	c := dialRaw(t, addr)
	c.send(&wire.Meta{IsResponse: true, CorrelationID: 1}, marshal(t, &echopb.EchoResponse{Message: proto.String("stray")}), nil)
	f := c.echo(2, hello("after"), nil)
	if resp := decodeEcho(t, f); resp.GetMessage() != "after" {
		t.Errorf("Call(Echo after a stray response) message = %q, want %q", resp.GetMessage(), "after")
	}
}

// brpc rejects a stream as soon as its first 4 bytes are not "PRPC" (ParseRpcMessage); troupe
// waits for 12 header bytes, so a short garbage prefix holds the connection open.
func TestServerShortGarbageClosesConnection(t *testing.T) {
	_, addr := startEcho(t, nil)
	c := dialRaw(t, addr)
	c.write([]byte("GET "))
	c.expectClosed()
}

// ---------------------------------------------------------------------------------------------
// 6. Compression.

func TestServerCompression(t *testing.T) {
	_, addr := startEcho(t, &echoservice.Service{EchoAttachment: true})
	c := dialRaw(t, addr)
	msg := strings.Repeat("compress me ", 200)
	for i, ct := range []wire.CompressType{wire.CompressSnappy, wire.CompressGzip, wire.CompressZlib} {
		t.Run(ct.String(), func(t *testing.T) {
			c.t = t
			payload, err := wire.Compress(nil, marshal(t, hello(msg)), ct)
			if err != nil {
				t.Fatalf("Compress(%v) = %v", ct, err)
			}
			m := echoMeta(int64(i + 1))
			m.CompressType = ct
			f := c.call(m, payload, []byte("raw attachment"))
			if f.Meta.CompressType != ct {
				t.Errorf("Call(compress %v) response compress_type = %v, want %v", ct, f.Meta.CompressType, ct)
			}
			if resp := decodeEcho(t, f); resp.GetMessage() != msg {
				t.Errorf("Call(compress %v) message = %.20q, want %.20q", ct, resp.GetMessage(), msg)
			}
			if string(f.Attachment) != "raw attachment" {
				t.Errorf("Call(compress %v) attachment = %q, want %q (never compressed)", ct, f.Attachment, "raw attachment")
			}
		})
	}
	c.t = t

	bad := []struct {
		name    string
		ct      wire.CompressType
		payload []byte
	}{
		{"lz4", wire.CompressLZ4, marshal(t, hello("x"))},
		{"unknown type", 9, marshal(t, hello("x"))},
		{"corrupt gzip", wire.CompressGzip, []byte("not gzip at all")},
		{"corrupt snappy", wire.CompressSnappy, []byte{0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"corrupt zlib", wire.CompressZlib, []byte{0x78, 0x9c, 1, 2, 3}},
	}
	for i, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			m := echoMeta(int64(100 + i))
			m.CompressType = tt.ct
			wantError(t, c.call(m, tt.payload, []byte("att")), wire.EREQUEST, "decompress")
		})
	}
}

// A compressed request expanding beyond MaxBodySize is refused rather than inflated.
func TestServerDecompressionLimit(t *testing.T) {
	srv := newServer(t, &actors.ServerOptions{MaxBodySize: 4096})
	if err := (&echoservice.Service{}).Register(srv); err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, listen(t, srv))
	for i, ct := range []wire.CompressType{wire.CompressSnappy, wire.CompressGzip, wire.CompressZlib} {
		payload, err := wire.Compress(nil, marshal(t, hello(strings.Repeat("a", 64<<10))), ct)
		if err != nil {
			t.Fatal(err)
		}
		m := echoMeta(int64(i + 1))
		m.CompressType = ct
		wantError(t, c.call(m, payload, nil), wire.EREQUEST, "limit")
	}
}

// ---------------------------------------------------------------------------------------------
// Checksums.

// A request with a CRC32C checksum is answered; one whose checksum does not match its payload is
// refused with EREQUEST (server_conn.go's serve treats wire.ErrChecksum as a per-frame error, so
// that is the intended behaviour), and the connection goes on.
func TestServerChecksum(t *testing.T) {
	_, addr := startEcho(t, &echoservice.Service{EchoAttachment: true})
	c := dialRaw(t, addr)
	for i, withAtt := range []bool{false, true} {
		m := echoMeta(int64(i + 1))
		m.ChecksumType = wire.ChecksumCRC32C
		m.ChecksumWithAttachment = withAtt
		f := c.call(m, marshal(t, hello("summed")), []byte("att"))
		if resp := decodeEcho(t, f); resp.GetMessage() != "summed" || string(f.Attachment) != "att" {
			t.Errorf("Call(checksummed, with attachment %v) = %q + %q, want %q + %q", withAtt, resp.GetMessage(), f.Attachment, "summed", "att")
		}
	}
}

func TestServerChecksumMismatch(t *testing.T) {
	_, addr := startEcho(t, nil)
	c := dialRaw(t, addr)
	m := echoMeta(1)
	m.ChecksumType = wire.ChecksumCRC32C
	frame := wire.AppendFrame(nil, m, marshal(t, hello("summed")), nil)
	frame[len(frame)-1] ^= 0x01 // "summec": still a valid message, no longer the summed one
	c.write(frame)
	f := c.read()
	wantError(t, f, wire.EREQUEST, "checksum")
	if resp := decodeEcho(t, c.echo(2, hello("next"), nil)); resp.GetMessage() != "next" {
		t.Errorf("Call(Echo after a bad checksum) message = %q, want %q", resp.GetMessage(), "next")
	}
}

// ---------------------------------------------------------------------------------------------
// Typed-nil errors.

// A handler that returns a nil *wire.Error as its error (the classic typed-nil interface) must
// not bring the process down: errorForWire's errors.As matches the nil pointer and dereferences
// it outside invoke's recover, in the worker goroutine, which crashes the whole program. The
// scenario runs in a child process so that the crash cannot take this test binary with it.
func TestServerTypedNilError(t *testing.T) {
	if os.Getenv("TROUPE_TEST_TYPED_NIL_CHILD") == "1" {
		srv := newServer(t, nil)
		handle(t, srv, "test.Svc.TypedNilErr", func(context.Context, *echopb.EchoRequest) (*echopb.EchoResponse, error) {
			var werr *wire.Error
			return nil, werr
		})
		c := dialRaw(t, listen(t, srv))
		f := c.call(methodMeta("test.Svc", "TypedNilErr", 1), marshal(t, hello("x")), nil)
		wantError(t, f, wire.EINTERNAL, "")
		return
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "-test.run=^TestServerTypedNilError$", "-test.count=1")
	cmd.Env = append(os.Environ(), "TROUPE_TEST_TYPED_NIL_CHILD=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child test process = %v, want success; output:\n%s", err, out)
	}
}
