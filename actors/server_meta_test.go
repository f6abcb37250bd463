package actors_test

// What a handler reads of the request's RpcMeta and adds to the response's, checked at the wire
// level: requests built by hand on a raw connection, answers decoded frame by frame and compared
// byte for byte with protobuf's own encoding of brpc's RpcMeta.

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
	"github.com/troupe-rpc/troupe/wire/metapb"
)

func TestServerCallMetadata(t *testing.T) {
	type seen struct {
		trace, span, parent int64
		fields              []string
		dup                 string
	}
	got := make(chan seen, 1)
	srv := newServer(t, nil)
	handle(t, srv, "test.Svc.Meta", func(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		call := actors.ServerCallFromContext(ctx)
		s := seen{trace: call.TraceID(), span: call.SpanID(), parent: call.ParentSpanID()}
		for k, v := range call.UserFields() {
			s.fields = append(s.fields, k+"="+v)
		}
		s.dup, _ = call.UserField("dup")
		got <- s
		call.SetResponseUserField("a-key", "first")
		call.SetResponseUserField("b-key", "b-value")
		call.SetResponseUserField("c-empty", "")
		call.SetResponseUserField("a-key", "a-value") // replaces, keeps its place
		call.SetResponseAttachment([]byte("att"))
		return &echopb.EchoResponse{Message: proto.String(req.GetMessage())}, nil
	})
	c := dialRaw(t, listen(t, srv))

	m := methodMeta("test.Svc", "Meta", 7)
	m.TraceID, m.SpanID, m.ParentSpanID = -5, 1<<40, 3
	m.UserFields = []wire.UserField{
		{Key: []byte("dup"), Value: []byte("old")},
		{Key: []byte("x"), Value: []byte("1")},
		{Key: []byte("dup"), Value: []byte("new")},
		{Key: []byte("empty"), Value: nil},
	}
	f := c.call(m, marshal(t, hello("meta")), nil)
	if resp := decodeEcho(t, f); resp.GetMessage() != "meta" {
		t.Errorf("Call(Meta) message = %q, want %q", resp.GetMessage(), "meta")
	}
	s := receive(t, got, "the handler's report")
	if s.trace != -5 || s.span != 1<<40 || s.parent != 3 {
		t.Errorf("TraceID, SpanID, ParentSpanID = %d, %d, %d, want -5, %d, 3", s.trace, s.span, s.parent, int64(1<<40))
	}
	if want := []string{"x=1", "dup=new", "empty="}; !slices.Equal(s.fields, want) || s.dup != "new" {
		t.Errorf("UserFields() = %q, UserField(dup) = %q, want %q and %q", s.fields, s.dup, want, "new")
	}

	// The response meta carries the user fields in RpcMeta.user_fields (field 9), as protobuf
	// encodes brpc's map<string,string> (keys set in sorted order, the deterministic order).
	var wantFields []wire.UserField
	for _, kv := range [][2]string{{"a-key", "a-value"}, {"b-key", "b-value"}, {"c-empty", ""}} {
		wantFields = append(wantFields, wire.UserField{Key: []byte(kv[0]), Value: []byte(kv[1])})
	}
	if !slices.EqualFunc(f.Meta.UserFields, wantFields, func(a, b wire.UserField) bool {
		return bytes.Equal(a.Key, b.Key) && bytes.Equal(a.Value, b.Value)
	}) {
		t.Errorf("Call(Meta) response user_fields = %q, want %q", f.Meta.UserFields, wantFields)
	}
	pb := &metapb.RpcMeta{
		Response:       &metapb.RpcResponseMeta{ErrorCode: proto.Int32(0)},
		CompressType:   proto.Int32(0),
		CorrelationId:  proto.Int64(7),
		AttachmentSize: proto.Int32(3),
		UserFields:     map[string]string{"a-key": "a-value", "b-key": "b-value", "c-empty": ""},
		ContentType:    metapb.ContentType_CONTENT_TYPE_PB.Enum(),
		ChecksumType:   proto.Int32(0),
		ChecksumValue:  []byte{},
	}
	want, err := proto.MarshalOptions{Deterministic: true}.Marshal(pb)
	if err != nil {
		t.Fatalf("proto.Marshal(RpcMeta) = %v", err)
	}
	if got := metaBytes(f); !bytes.Equal(got, want) {
		t.Errorf("Call(Meta) response meta =\n%x, want protobuf's\n%x", got, want)
	}
	if string(f.Attachment) != "att" {
		t.Errorf("Call(Meta) attachment = %q, want %q", f.Attachment, "att")
	}
}

// A request without user fields yields none, and a handler that sets none sends no field 9.
func TestServerCallNoUserFields(t *testing.T) {
	n := make(chan int, 1)
	srv := newServer(t, nil)
	handle(t, srv, "test.Svc.Meta", func(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		count := 0
		for range actors.ServerCallFromContext(ctx).UserFields() {
			count++
		}
		n <- count
		return &echopb.EchoResponse{Message: proto.String(req.GetMessage())}, nil
	})
	c := dialRaw(t, listen(t, srv))
	f := c.call(methodMeta("test.Svc", "Meta", 1), marshal(t, hello("x")), nil)
	decodeEcho(t, f)
	if got := receive(t, n, "the handler's count"); got != 0 {
		t.Errorf("UserFields() of a request without user fields yielded %d, want 0", got)
	}
	if f.Meta.UserFields != nil {
		t.Errorf("Call(Meta) response user_fields = %q, want none", f.Meta.UserFields)
	}
}
