package actors_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"net"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
	"github.com/troupe-rpc/troupe/wire/metapb"
)

// The request user fields a caller sets reach a troupe server's handler, on every call of a
// reused Controller until Reset clears them.
func TestRequestUserFieldsReachTheServer(t *testing.T) {
	srv, err := actors.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan map[string]string, 4)
	err = actors.Handle(srv, "example.EchoService.Echo", func(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		call := actors.ServerCallFromContext(ctx)
		got := map[string]string{}
		for _, k := range []string{"tenant", "user", "empty"} {
			if v, ok := call.UserField(k); ok {
				got[k] = v
			}
		}
		seen <- got
		return &echopb.EchoResponse{Message: req.Message}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveOn(t, srv)
	sys := newSystem(t)
	ch, err := sys.NewChannel(addr, &actors.ChannelOptions{Timeout: testTimeout, ConnectTimeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()

	var cntl actors.Controller
	cntl.SetRequestUserField("user", "alice")
	cntl.SetRequestUserField("tenant", "acme")
	cntl.SetRequestUserField("user", "bob") // replaces
	cntl.SetRequestUserField("empty", "")
	if v, ok := cntl.RequestUserField("user"); !ok || v != "bob" {
		t.Errorf("RequestUserField(user) = %q, %v, want bob, true", v, ok)
	}
	want := map[string]string{"tenant": "acme", "user": "bob", "empty": ""}
	if got := cntl.RequestUserFields(); !maps.Equal(got, want) {
		t.Errorf("RequestUserFields() = %v, want %v", got, want)
	}
	if err := ch.Call(t.Context(), "example.EchoService.Echo", echoReq("x"), &echopb.EchoResponse{}, &cntl); err != nil {
		t.Fatalf("Call() = %v", err)
	}
	if got := <-seen; !maps.Equal(got, want) {
		t.Errorf("the server saw user fields %v, want %v", got, want)
	}

	cntl.Reset()
	if got := cntl.RequestUserFields(); got != nil {
		t.Errorf("RequestUserFields() after Reset = %v, want nil", got)
	}
	if err := ch.Call(t.Context(), "example.EchoService.Echo", echoReq("x"), &echopb.EchoResponse{}, &cntl); err != nil {
		t.Fatalf("Call() = %v", err)
	}
	if got := <-seen; len(got) != 0 {
		t.Errorf("after Reset the server saw user fields %v, want none", got)
	}
}

// serveOn serves srv on a loopback port until the test ends.
func serveOn(t *testing.T, srv *actors.Server) string {
	t.Helper()
	a, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown() = %v", err)
		}
	})
	return a.String()
}

// encodedMeta returns the encoded RpcMeta of frame f.
func encodedMeta(f *wire.Frame) []byte {
	return f.Body[:len(f.Body)-len(f.Payload)-len(f.Attachment)]
}

// pbFrame is a whole frame whose meta is the generated protobuf's encoding of m.
func pbFrame(t *testing.T, m *metapb.RpcMeta, payload []byte) []byte {
	meta, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Errorf("proto.Marshal(%v) = %v", m, err)
	}
	b := []byte("PRPC")
	b = binary.BigEndian.AppendUint32(b, uint32(len(meta)+len(payload)))
	b = binary.BigEndian.AppendUint32(b, uint32(len(meta)))
	return append(append(b, meta...), payload...)
}

// The request meta of a call with user fields and trace ids is, byte for byte, protobuf's
// encoding of brpc's RpcMeta with those fields; the user fields of a response meta that protobuf
// encoded reach the Controller.
func TestMetaFieldsOnTheWire(t *testing.T) {
	type seen struct{ got, want []byte }
	requests := make(chan seen, 1)
	fs := startFake(t, func(_ int32, c net.Conn, r *wire.Reader) {
		var f wire.Frame
		for r.ReadFrame(&f) == nil {
			want := &metapb.RpcMeta{
				Request: &metapb.RpcRequestMeta{ServiceName: proto.String("example.EchoService"), MethodName: proto.String("Echo"),
					LogId: proto.Int64(7), TraceId: proto.Int64(0x1122334455667788), SpanId: proto.Int64(-2),
					ParentSpanId: proto.Int64(99), TimeoutMs: proto.Int32(f.Meta.TimeoutMs)},
				CompressType: proto.Int32(0), CorrelationId: proto.Int64(f.Meta.CorrelationID),
				UserFields:  map[string]string{"b": "2", "a": "1", "trace-flags": "sampled"},
				ContentType: metapb.ContentType_CONTENT_TYPE_PB.Enum(), ChecksumType: proto.Int32(0), ChecksumValue: []byte{},
			}
			wantBytes, err := proto.MarshalOptions{Deterministic: true}.Marshal(want)
			if err != nil {
				t.Errorf("proto.Marshal() = %v", err)
			}
			requests <- seen{append([]byte(nil), encodedMeta(&f)...), wantBytes}
			var req echopb.EchoRequest
			_ = proto.Unmarshal(f.Payload, &req)
			payload, _ := proto.Marshal(&echopb.EchoResponse{Message: req.Message})
			resp := &metapb.RpcMeta{Response: &metapb.RpcResponseMeta{ErrorCode: proto.Int32(0)},
				CorrelationId: proto.Int64(f.Meta.CorrelationID),
				UserFields:    map[string]string{"server": "s1", "cost-us": "42"}}
			if _, err := c.Write(pbFrame(t, resp, payload)); err != nil {
				return
			}
		}
	})
	sys := newSystem(t)
	ch, err := sys.NewChannel(fs.addr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	var cntl actors.Controller
	cntl.SetLogID(7)
	cntl.SetTraceID(0x1122334455667788)
	cntl.SetSpanID(-2)
	cntl.SetParentSpanID(99)
	for _, kv := range [][2]string{{"b", "2"}, {"trace-flags", "sampled"}, {"a", "1"}} {
		cntl.SetRequestUserField(kv[0], kv[1])
	}
	if cntl.TraceID() != 0x1122334455667788 || cntl.SpanID() != -2 || cntl.ParentSpanID() != 99 {
		t.Errorf("TraceID, SpanID, ParentSpanID = %d, %d, %d, want what was set", cntl.TraceID(), cntl.SpanID(), cntl.ParentSpanID())
	}
	resp := &echopb.EchoResponse{}
	if err := ch.Call(t.Context(), "example.EchoService.Echo", echoReq("hi"), resp, &cntl); err != nil {
		t.Fatalf("Call() = %v", err)
	}
	s := <-requests
	if !bytes.Equal(s.got, s.want) {
		t.Errorf("request meta =\n%x, want (proto.Marshal of brpc's RpcMeta)\n%x", s.got, s.want)
	}
	if v, ok := cntl.ResponseUserField("server"); !ok || v != "s1" {
		t.Errorf("ResponseUserField(server) = %q, %v, want s1, true", v, ok)
	}
	if _, ok := cntl.ResponseUserField("a"); ok {
		t.Error("ResponseUserField(a) found a request field in the response")
	}
	if got, want := cntl.ResponseUserFields(), map[string]string{"server": "s1", "cost-us": "42"}; !maps.Equal(got, want) {
		t.Errorf("ResponseUserFields() = %v, want %v", got, want)
	}
	cntl.Reset()
	if cntl.TraceID() != 0 || cntl.SpanID() != 0 || cntl.ParentSpanID() != 0 || cntl.ResponseUserFields() != nil {
		t.Errorf("after Reset: ids %d, %d, %d and response fields %v, want none",
			cntl.TraceID(), cntl.SpanID(), cntl.ParentSpanID(), cntl.ResponseUserFields())
	}
}

// A call that sets no metadata sends none: no trace ids and no user fields in the meta, and the
// Controller reports no response fields.
func TestNoMetaFieldsWhenNoneSet(t *testing.T) {
	metas := make(chan wire.Meta, 1)
	fs := startFake(t, func(_ int32, c net.Conn, r *wire.Reader) {
		var f wire.Frame
		for r.ReadFrame(&f) == nil {
			metas <- f.Meta
			if _, err := c.Write(echoAnswer(t, &f)); err != nil {
				return
			}
		}
	})
	sys := newSystem(t)
	ch, err := sys.NewChannel(fs.addr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	var cntl actors.Controller
	if err := ch.Call(t.Context(), "example.EchoService.Echo", echoReq("x"), &echopb.EchoResponse{}, &cntl); err != nil {
		t.Fatalf("Call() = %v", err)
	}
	m := <-metas
	if m.TraceID != 0 || m.SpanID != 0 || m.ParentSpanID != 0 || m.UserFields != nil {
		t.Errorf("meta has trace ids %d, %d, %d and user fields %v, want none", m.TraceID, m.SpanID, m.ParentSpanID, m.UserFields)
	}
	if f := cntl.ResponseUserFields(); f != nil {
		t.Errorf("ResponseUserFields() = %v, want nil", f)
	}
}

// Metadata both ways between a troupe client and a troupe server: the handler reads the trace
// ids, log id and user fields the caller set, and the caller reads the response user fields
// the handler set.
func TestMetadataBothWays(t *testing.T) {
	srv, err := actors.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	err = actors.Handle(srv, "example.EchoService.Echo", func(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		call := actors.ServerCallFromContext(ctx)
		tenant, _ := call.UserField("tenant")
		call.SetResponseUserField("seen", fmt.Sprintf("trace=%d span=%d parent=%d log=%d tenant=%s",
			call.TraceID(), call.SpanID(), call.ParentSpanID(), call.LogID(), tenant))
		call.SetResponseUserField("server", "troupe")
		return &echopb.EchoResponse{Message: req.Message}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveOn(t, srv)
	sys := newSystem(t)
	ch, err := sys.NewChannel(addr, &actors.ChannelOptions{Timeout: testTimeout, ConnectTimeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()

	var cntl actors.Controller
	cntl.SetTraceID(11)
	cntl.SetSpanID(22)
	cntl.SetParentSpanID(33)
	cntl.SetLogID(44)
	cntl.SetRequestUserField("tenant", "acme")
	if err := ch.Call(t.Context(), "example.EchoService.Echo", echoReq("x"), &echopb.EchoResponse{}, &cntl); err != nil {
		t.Fatalf("Call() = %v", err)
	}
	want := map[string]string{"seen": "trace=11 span=22 parent=33 log=44 tenant=acme", "server": "troupe"}
	if got := cntl.ResponseUserFields(); !maps.Equal(got, want) {
		t.Errorf("ResponseUserFields() = %v, want %v", got, want)
	}
	if v, ok := cntl.ResponseUserField("server"); !ok || v != "troupe" {
		t.Errorf("ResponseUserField(server) = %q, %v, want troupe, true", v, ok)
	}
}
