package wire_test

import (
	"bytes"
	"encoding/hex"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
	"github.com/troupe-rpc/troupe/wire/metapb"
)

// goldenRequestHex is a call of example.EchoService.Echo with correlation_id 1, log_id 0 and the
// payload EchoRequest{message: "hello"}, written by hand from the baidu_std description: the fields
// of RpcMeta in the order and presence brpc's client uses.
const goldenRequestHex = `
50 52 50 43                 // magic "PRPC"
00 00 00 30                 // body_size = 48: 41 meta + 7 payload, big-endian
00 00 00 29                 // meta_size = 41, big-endian
0a 1d                       // RpcMeta.request (field 1, LEN), 29 bytes:
  0a 13                     //   RpcRequestMeta.service_name (field 1, LEN), 19 bytes:
  65 78 61 6d 70 6c 65 2e   //     "example."
  45 63 68 6f 53 65 72 76   //     "EchoServ"
  69 63 65                  //     "ice"
  12 04 45 63 68 6f         //   RpcRequestMeta.method_name (field 2, LEN) "Echo"
  18 00                     //   RpcRequestMeta.log_id (field 3, VARINT) 0: brpc always sends it
18 00                       // compress_type (field 3, VARINT) 0 = none
20 01                       // correlation_id (field 4, VARINT) 1
                            // attachment_size (field 5) left out: there is no attachment
50 00                       // content_type (field 10, VARINT) 0 = pb
58 00                       // checksum_type (field 11, VARINT) 0 = none
62 00                       // checksum_value (field 12, LEN) empty
0a 05 68 65 6c 6c 6f        // payload: EchoRequest.message (field 1, LEN) "hello"
`

// goldenResponseHex is the successful answer to goldenRequestHex: EchoResponse{message: "hello"}.
const goldenResponseHex = `
50 52 50 43                 // magic "PRPC"
00 00 00 15                 // body_size = 21: 14 meta + 7 payload
00 00 00 0e                 // meta_size = 14
12 02                       // RpcMeta.response (field 2, LEN), 2 bytes:
  08 00                     //   RpcResponseMeta.error_code (field 1, VARINT) 0: always sent
18 00                       // compress_type (field 3, VARINT) 0 = none
20 01                       // correlation_id (field 4, VARINT) 1
50 00                       // content_type (field 10, VARINT) 0 = pb
58 00                       // checksum_type (field 11, VARINT) 0 = none
62 00                       // checksum_value (field 12, LEN) empty
0a 05 68 65 6c 6c 6f        // payload: EchoResponse.message (field 1, LEN) "hello"
`

func TestGoldenHandWritten(t *testing.T) {
	tests := []struct {
		name     string
		hex      string
		meta     wire.Meta
		msg      proto.Message // the payload, before marshalling
		newMsg   func() proto.Message
		bodySize uint32
		metaSize uint32
	}{
		{
			name: "request",
			hex:  goldenRequestHex,
			meta: wire.Meta{
				Service:       []byte("example.EchoService"),
				Method:        []byte("Echo"),
				CorrelationID: 1,
			},
			msg:      &echopb.EchoRequest{Message: proto.String("hello")},
			newMsg:   func() proto.Message { return new(echopb.EchoRequest) },
			bodySize: 48,
			metaSize: 41,
		},
		{
			name:     "response",
			hex:      goldenResponseHex,
			meta:     wire.Meta{IsResponse: true, CorrelationID: 1},
			msg:      &echopb.EchoResponse{Message: proto.String("hello")},
			newMsg:   func() proto.Message { return new(echopb.EchoResponse) },
			bodySize: 21,
			metaSize: 14,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := hexBytes(t, tt.hex)
			payload, err := proto.Marshal(tt.msg)
			if err != nil {
				t.Fatalf("proto.Marshal(%v) = %v", tt.msg, err)
			}

			m := cloneMeta(&tt.meta)
			if got := wire.AppendFrame(nil, &m, payload, nil); !bytes.Equal(got, want) {
				t.Errorf("AppendFrame(%s) =\n%x, want\n%x", tt.name, got, want)
			}
			if got, want := wire.MetaSize(&m), int(tt.metaSize); got != want {
				t.Errorf("MetaSize(%s) = %d, want %d", tt.name, got, want)
			}

			h, err := wire.ParseHeader(want)
			if err != nil {
				t.Fatalf("ParseHeader(%s) = %v", tt.name, err)
			}
			if wantH := (wire.Header{BodySize: tt.bodySize, MetaSize: tt.metaSize}); h != wantH {
				t.Errorf("ParseHeader(%s) = %+v, want %+v", tt.name, h, wantH)
			}

			r := newReader(want, 0)
			var f wire.Frame
			if err := r.ReadFrame(&f); err != nil {
				t.Fatalf("ReadFrame(%s) = %v, want nil", tt.name, err)
			}
			checkMeta(t, "ReadFrame("+tt.name+")", &f.Meta, &tt.meta)
			if !bytes.Equal(f.Body, want[wire.HeaderSize:]) {
				t.Errorf("ReadFrame(%s).Body = %x, want %x", tt.name, f.Body, want[wire.HeaderSize:])
			}
			if !bytes.Equal(f.Payload, payload) {
				t.Errorf("ReadFrame(%s).Payload = %x, want %x", tt.name, f.Payload, payload)
			}
			if len(f.Attachment) != 0 {
				t.Errorf("ReadFrame(%s).Attachment = %x, want empty", tt.name, f.Attachment)
			}
			if err := wire.VerifyChecksum(&f); err != nil {
				t.Errorf("VerifyChecksum(%s) = %v, want nil", tt.name, err)
			}
			got := tt.newMsg()
			if err := proto.Unmarshal(f.Payload, got); err != nil {
				t.Fatalf("proto.Unmarshal(%s payload) = %v", tt.name, err)
			}
			if !proto.Equal(got, tt.msg) {
				t.Errorf("proto.Unmarshal(%s payload) = %v, want %v", tt.name, got, tt.msg)
			}
			if err := r.ReadFrame(&f); err != io.EOF {
				t.Errorf("second ReadFrame(%s) = %v, want io.EOF", tt.name, err)
			}
		})
	}
}

// captureWant is what a captured frame must decode to.
type captureWant struct {
	service, method string // requests
	logID           int64  // requests: the echo client numbers its calls 0, 1, ...
	errorCode       int32  // responses
	errorText       string // responses: a substring of error_text
	message         string // the EchoRequest/EchoResponse message; "" when the payload is not one
	payload         []byte // the raw payload when message == ""
	attachment      string
	checksumType    int32
	checksumValue   []byte
}

func wantOf(c capture) captureWant {
	w := captureWant{service: "example.EchoService", method: "Echo", message: "hello world"}
	switch c.file {
	case "attach.hex":
		w.attachment = "foo"
	case "checksum.hex":
		// brpc checksums the request; its response keeps the request's checksum_value but says
		// checksum_type 0.
		w.checksumValue = []byte{0xd3, 0x8c, 0xab, 0x46}
		if c.dir == "C2S" {
			w.checksumType = wire.ChecksumCRC32C
		}
	}
	if c.file != "errors.hex" {
		w.logID = int64((c.line - 1) / 2)
	}
	req := c.dir == "C2S"
	switch c.name {
	case "enomethod":
		if req {
			w.method = "Nope"
		} else {
			w.errorCode, w.message = int32(wire.ENOMETHOD), ""
			w.errorText = "[E1002]Fail to find method=example.EchoService/Nope"
		}
	case "enoservice":
		if req {
			w.service = "example.EchoServicf"
		} else {
			w.errorCode, w.message = int32(wire.ENOMETHOD), ""
			w.errorText = "[E1002]Fail to find method=example.EchoServicf/Echo"
		}
	case "erequest":
		w.message = ""
		if req {
			w.payload = []byte{0x0a, 0xff}
		} else {
			w.errorCode = int32(wire.EREQUEST)
			w.errorText = "[E1003]Fail to parse request=example.EchoRequest"
		}
	}
	return w
}

func TestGoldenCaptures(t *testing.T) {
	for _, file := range captureFiles {
		t.Run(strings.TrimSuffix(file, ".hex"), func(t *testing.T) {
			cs := readCaptures(t, file)
			if len(cs)%2 != 0 {
				t.Fatalf("%s holds %d frames, want request/response pairs", file, len(cs))
			}
			var reqCorrelationID int64
			for i, c := range cs {
				wantDir := [2]string{"C2S", "S2C"}[i%2]
				if c.dir != wantDir {
					t.Fatalf("%v: direction %s, want %s", c, c.dir, wantDir)
				}
				f := checkCapture(t, c)
				if f == nil {
					continue
				}
				if c.dir == "C2S" {
					reqCorrelationID = f.Meta.CorrelationID
					if reqCorrelationID == 0 {
						t.Errorf("%v: CorrelationID = 0, want non-zero", c)
					}
				} else if f.Meta.CorrelationID != reqCorrelationID {
					t.Errorf("%v: CorrelationID = %d, want %d (the request's)", c, f.Meta.CorrelationID, reqCorrelationID)
				}
			}
		})
	}
}

// TestGoldenCaptureCorrelationID pins the one value whose varint encoding is worth seeing: brpc's
// versioned correlation ids have bit 32 set, so they take five bytes.
func TestGoldenCaptureCorrelationID(t *testing.T) {
	c := readCaptures(t, "plain.hex")[0]
	f := readOne(t, c.frame)
	if got, want := f.Meta.CorrelationID, int64(1<<32+2); got != want {
		t.Errorf("%v: CorrelationID = %d, want %d", c, got, want)
	}
}

// checkCapture decodes c, checks it against wantOf(c) and re-encodes it. It returns nil if the frame
// could not be decoded.
func checkCapture(t *testing.T, c capture) *wire.Frame {
	t.Helper()
	w := wantOf(c)
	r := newReader(c.frame, 0)
	var f wire.Frame
	if err := r.ReadFrame(&f); err != nil {
		t.Errorf("%v: ReadFrame = %v, want nil", c, err)
		return nil
	}
	if err := r.ReadFrame(&f); err != io.EOF {
		t.Errorf("%v: second ReadFrame = %v, want io.EOF", c, err)
	}
	// The second ReadFrame left f alone; decode again to be sure nothing was clobbered.
	r = newReader(c.frame, 0)
	if err := r.ReadFrame(&f); err != nil {
		t.Fatalf("%v: ReadFrame = %v, want nil", c, err)
	}
	m := &f.Meta

	if got, want := len(f.Body), len(c.frame)-wire.HeaderSize; got != want {
		t.Errorf("%v: len(Body) = %d, want %d", c, got, want)
	}
	if req := c.dir == "C2S"; m.IsResponse == req {
		t.Errorf("%v: IsResponse = %v, want %v", c, m.IsResponse, !req)
	}
	if c.dir == "C2S" {
		if string(m.Service) != w.service || string(m.Method) != w.method {
			t.Errorf("%v: Service, Method = %q, %q, want %q, %q", c, m.Service, m.Method, w.service, w.method)
		}
		if m.LogID != w.logID {
			t.Errorf("%v: LogID = %d, want %d", c, m.LogID, w.logID)
		}
		if m.TraceID != 0 || m.SpanID != 0 || m.ParentSpanID != 0 || len(m.RequestID) != 0 || m.TimeoutMs != 0 {
			t.Errorf("%v: TraceID, SpanID, ParentSpanID, RequestID, TimeoutMs = %d, %d, %d, %q, %d, want zero",
				c, m.TraceID, m.SpanID, m.ParentSpanID, m.RequestID, m.TimeoutMs)
		}
	} else {
		if m.ErrorCode != w.errorCode {
			t.Errorf("%v: ErrorCode = %d, want %d", c, m.ErrorCode, w.errorCode)
		}
		if w.errorText == "" && len(m.ErrorText) != 0 {
			t.Errorf("%v: ErrorText = %q, want empty", c, m.ErrorText)
		}
		if w.errorText != "" {
			if !strings.HasPrefix(string(m.ErrorText), "[127.0.0.1:") || !strings.Contains(string(m.ErrorText), w.errorText) {
				t.Errorf("%v: ErrorText = %q, want [127.0.0.1:PORT]%s...", c, m.ErrorText, w.errorText)
			}
		}
		if len(m.Service) != 0 || len(m.Method) != 0 {
			t.Errorf("%v: Service, Method = %q, %q, want empty in a response", c, m.Service, m.Method)
		}
	}
	if m.CompressType != wire.CompressNone || m.ContentType != 0 || m.ChecksumWithAttachment ||
		m.AuthenticationData != nil || m.UserFields != nil {
		t.Errorf("%v: CompressType, ContentType, ChecksumWithAttachment, AuthenticationData, UserFields = %v, %d, %v, %q, %v, want none, 0, false, nil, nil",
			c, m.CompressType, m.ContentType, m.ChecksumWithAttachment, m.AuthenticationData, m.UserFields)
	}
	if m.ChecksumType != w.checksumType || !bytes.Equal(m.ChecksumValue, w.checksumValue) {
		t.Errorf("%v: ChecksumType, ChecksumValue = %d, %x, want %d, %x", c, m.ChecksumType, m.ChecksumValue, w.checksumType, w.checksumValue)
	}
	if err := wire.VerifyChecksum(&f); err != nil {
		t.Errorf("%v: VerifyChecksum = %v, want nil", c, err)
	}
	if got, want := int(m.AttachmentSize), len(w.attachment); got != want {
		t.Errorf("%v: AttachmentSize = %d, want %d", c, got, want)
	}
	if string(f.Attachment) != w.attachment {
		t.Errorf("%v: Attachment = %q, want %q", c, f.Attachment, w.attachment)
	}

	switch {
	case w.message != "" && c.dir == "C2S":
		var msg echopb.EchoRequest
		if err := proto.Unmarshal(f.Payload, &msg); err != nil || msg.GetMessage() != w.message {
			t.Errorf("%v: proto.Unmarshal(Payload) = %v, %q, want nil, %q", c, err, msg.GetMessage(), w.message)
		}
	case w.message != "":
		var msg echopb.EchoResponse
		if err := proto.Unmarshal(f.Payload, &msg); err != nil || msg.GetMessage() != w.message {
			t.Errorf("%v: proto.Unmarshal(Payload) = %v, %q, want nil, %q", c, err, msg.GetMessage(), w.message)
		}
	default:
		if !bytes.Equal(f.Payload, w.payload) {
			t.Errorf("%v: Payload = %x, want %x", c, f.Payload, w.payload)
		}
	}

	// Re-encode from the decoded meta: troupe's encoder must produce brpc's bytes exactly. AppendFrame
	// writes the checksum into the meta, so give it a copy that does not alias f.Body.
	re := cloneMeta(m)
	if got := wire.AppendFrame(nil, &re, f.Payload, f.Attachment); !bytes.Equal(got, c.frame) {
		t.Errorf("%v: AppendFrame(decoded meta) =\n%x, want\n%x", c, got, c.frame)
	}
	return &f
}

// metaToPB is m as the generated protobuf, with exactly the fields present that brpc (and
// AppendMeta) send.
func metaToPB(m *wire.Meta) *metapb.RpcMeta {
	pb := &metapb.RpcMeta{
		CompressType:  proto.Int32(int32(m.CompressType)),
		CorrelationId: proto.Int64(m.CorrelationID),
		ContentType:   metapb.ContentType(m.ContentType).Enum(),
		ChecksumType:  proto.Int32(m.ChecksumType),
		ChecksumValue: append([]byte{}, m.ChecksumValue...),
	}
	if m.IsResponse {
		pb.Response = &metapb.RpcResponseMeta{ErrorCode: proto.Int32(m.ErrorCode)}
		if len(m.ErrorText) != 0 {
			pb.Response.ErrorText = proto.String(string(m.ErrorText))
		}
	} else {
		rq := &metapb.RpcRequestMeta{
			ServiceName: proto.String(string(m.Service)),
			MethodName:  proto.String(string(m.Method)),
			LogId:       proto.Int64(m.LogID),
		}
		if m.TraceID != 0 {
			rq.TraceId = proto.Int64(m.TraceID)
		}
		if m.SpanID != 0 {
			rq.SpanId = proto.Int64(m.SpanID)
		}
		if m.ParentSpanID != 0 {
			rq.ParentSpanId = proto.Int64(m.ParentSpanID)
		}
		if len(m.RequestID) != 0 {
			rq.RequestId = proto.String(string(m.RequestID))
		}
		if m.TimeoutMs > 0 {
			rq.TimeoutMs = proto.Int32(m.TimeoutMs)
		}
		pb.Request = rq
	}
	if m.AttachmentSize != 0 {
		pb.AttachmentSize = proto.Int32(m.AttachmentSize)
	}
	if m.AuthenticationData != nil {
		pb.AuthenticationData = append([]byte{}, m.AuthenticationData...)
	}
	if len(m.UserFields) != 0 {
		pb.UserFields = make(map[string]string)
		for _, uf := range m.UserFields {
			pb.UserFields[string(uf.Key)] = string(uf.Value)
		}
	}
	if m.ChecksumWithAttachment {
		pb.ChecksumWithAttachment = proto.Bool(true)
	}
	return pb
}

// metaFromPB converts the generated protobuf to a Meta, independently of DecodeMeta. User fields
// come out in key order.
func metaFromPB(pb *metapb.RpcMeta) wire.Meta {
	m := wire.Meta{
		IsResponse:             pb.Response != nil,
		ErrorCode:              pb.GetResponse().GetErrorCode(),
		ErrorText:              []byte(pb.GetResponse().GetErrorText()),
		Service:                []byte(pb.GetRequest().GetServiceName()),
		Method:                 []byte(pb.GetRequest().GetMethodName()),
		LogID:                  pb.GetRequest().GetLogId(),
		TraceID:                pb.GetRequest().GetTraceId(),
		SpanID:                 pb.GetRequest().GetSpanId(),
		ParentSpanID:           pb.GetRequest().GetParentSpanId(),
		RequestID:              []byte(pb.GetRequest().GetRequestId()),
		TimeoutMs:              pb.GetRequest().GetTimeoutMs(),
		CompressType:           wire.CompressType(pb.GetCompressType()),
		CorrelationID:          pb.GetCorrelationId(),
		AttachmentSize:         pb.GetAttachmentSize(),
		AuthenticationData:     pb.GetAuthenticationData(),
		ContentType:            int32(pb.GetContentType()),
		ChecksumType:           pb.GetChecksumType(),
		ChecksumValue:          pb.GetChecksumValue(),
		ChecksumWithAttachment: pb.GetChecksumWithAttachment(),
	}
	for _, k := range slices.Sorted(maps.Keys(pb.GetUserFields())) {
		m.UserFields = append(m.UserFields, wire.UserField{Key: []byte(k), Value: []byte(pb.UserFields[k])})
	}
	return m
}

// crossMetas are metas that use every field; user fields are in key order, as a deterministic
// protobuf marshal writes map entries.
var crossMetas = []struct {
	name string
	meta wire.Meta
}{
	{"request with every field", wire.Meta{
		Service:                []byte("example.EchoService"),
		Method:                 []byte("Echo"),
		LogID:                  123456789,
		TraceID:                0x1122334455667788,
		SpanID:                 -2,
		ParentSpanID:           77,
		RequestID:              []byte("req-0001"),
		TimeoutMs:              500,
		CompressType:           wire.CompressGzip,
		CorrelationID:          1<<40 + 5,
		AttachmentSize:         3,
		AuthenticationData:     []byte("user:secret\x00\xff"),
		UserFields:             []wire.UserField{{Key: []byte("a"), Value: []byte("1")}, {Key: []byte("tenant"), Value: []byte("acme")}},
		ContentType:            1,
		ChecksumType:           wire.ChecksumCRC32C,
		ChecksumValue:          []byte{1, 2, 3, 4},
		ChecksumWithAttachment: true,
	}},
	{"minimal request", wire.Meta{Service: []byte("s"), Method: []byte("m")}},
	{"request with empty auth data and negative log id", wire.Meta{
		Service:            []byte("a.B"),
		Method:             []byte("C"),
		LogID:              -1,
		AuthenticationData: []byte{},
		UserFields:         []wire.UserField{{Key: []byte(""), Value: []byte("")}},
	}},
	{"response with error text", wire.Meta{
		IsResponse:    true,
		ErrorCode:     int32(wire.ERPCTIMEDOUT),
		ErrorText:     []byte("[E1008]Reached timeout=500ms"),
		CorrelationID: 1<<33 + 6,
		ContentType:   2,
	}},
	{"response with negative code and attachment", wire.Meta{
		IsResponse:     true,
		ErrorCode:      -1,
		CompressType:   wire.CompressSnappy,
		CorrelationID:  9,
		AttachmentSize: 70000,
		UserFields:     []wire.UserField{{Key: []byte("k"), Value: []byte("v")}},
	}},
	{"plain response", wire.Meta{IsResponse: true, CorrelationID: 1}},
	// Embedded messages whose lengths take two and three bytes.
	{"request with a long service name", wire.Meta{
		Service:    bytes.Repeat([]byte("s"), 200),
		Method:     []byte("m"),
		UserFields: []wire.UserField{{Key: []byte("k"), Value: bytes.Repeat([]byte("v"), 130)}},
	}},
	{"response with a long error text", wire.Meta{
		IsResponse:    true,
		ErrorCode:     2001,
		ErrorText:     bytes.Repeat([]byte("e"), 20000),
		CorrelationID: 11,
		UserFields:    []wire.UserField{{Key: bytes.Repeat([]byte("k"), 17000), Value: []byte("v")}},
	}},
}

func TestAppendMetaMatchesProtobuf(t *testing.T) {
	for _, tt := range crossMetas {
		t.Run(tt.name, func(t *testing.T) {
			enc := wire.AppendMeta(nil, &tt.meta)
			if got, want := wire.MetaSize(&tt.meta), len(enc); got != want {
				t.Errorf("MetaSize(%s) = %d, want %d (len(AppendMeta))", tt.name, got, want)
			}

			var pb metapb.RpcMeta
			if err := proto.Unmarshal(enc, &pb); err != nil {
				t.Fatalf("proto.Unmarshal(AppendMeta(%s)) = %v", tt.name, err)
			}
			if unk := pb.ProtoReflect().GetUnknown(); len(unk) != 0 {
				t.Errorf("proto.Unmarshal(AppendMeta(%s)) left unknown fields %x", tt.name, unk)
			}
			got := metaFromPB(&pb)
			checkMeta(t, "proto.Unmarshal(AppendMeta("+tt.name+"))", &got, &tt.meta)
			if tt.meta.IsResponse {
				if pb.Response.ErrorCode == nil {
					t.Errorf("AppendMeta(%s): response.error_code absent, want always present", tt.name)
				}
			} else if pb.Request.LogId == nil {
				t.Errorf("AppendMeta(%s): request.log_id absent, want always present", tt.name)
			}
			if pb.CompressType == nil || pb.CorrelationId == nil || pb.ContentType == nil || pb.ChecksumType == nil || pb.ChecksumValue == nil {
				t.Errorf("AppendMeta(%s): compress_type, correlation_id, content_type, checksum_type, checksum_value present = %v, %v, %v, %v, %v, want all present",
					tt.name, pb.CompressType != nil, pb.CorrelationId != nil, pb.ContentType != nil, pb.ChecksumType != nil, pb.ChecksumValue != nil)
			}
			if got, want := pb.AttachmentSize != nil, tt.meta.AttachmentSize != 0; got != want {
				t.Errorf("AppendMeta(%s): attachment_size present = %v, want %v", tt.name, got, want)
			}

			// The generated encoder, given the same fields present, writes the same bytes: both
			// write fields in number order.
			want, err := proto.MarshalOptions{Deterministic: true}.Marshal(metaToPB(&tt.meta))
			if err != nil {
				t.Fatalf("proto.Marshal(%s) = %v", tt.name, err)
			}
			if !bytes.Equal(enc, want) {
				t.Errorf("AppendMeta(%s) =\n%x, want (proto.Marshal)\n%x", tt.name, enc, want)
			}

			var dec wire.Meta
			if err := wire.DecodeMeta(want, &dec); err != nil {
				t.Fatalf("DecodeMeta(proto.Marshal(%s)) = %v", tt.name, err)
			}
			checkMeta(t, "DecodeMeta(proto.Marshal("+tt.name+"))", &dec, &tt.meta)
		})
	}
}

// TestDecodeMetaFromSparseProtobuf decodes metas in which the generated encoder left out fields
// brpc always sends; they decode as zero.
func TestDecodeMetaFromSparseProtobuf(t *testing.T) {
	tests := []struct {
		name string
		pb   *metapb.RpcMeta
		want wire.Meta
	}{
		{"empty", &metapb.RpcMeta{}, wire.Meta{}},
		{"empty response", &metapb.RpcMeta{Response: &metapb.RpcResponseMeta{}}, wire.Meta{IsResponse: true}},
		{"request with timeout only", &metapb.RpcMeta{
			Request: &metapb.RpcRequestMeta{ServiceName: proto.String("S"), MethodName: proto.String("M"), TimeoutMs: proto.Int32(-5)},
		}, wire.Meta{Service: []byte("S"), Method: []byte("M"), TimeoutMs: -5}},
		{"unknown content type", &metapb.RpcMeta{
			Response:    &metapb.RpcResponseMeta{ErrorCode: proto.Int32(3)},
			ContentType: metapb.ContentType(3).Enum(),
		}, wire.Meta{IsResponse: true, ErrorCode: 3, ContentType: 3}},
		{"chunk info and stream settings", &metapb.RpcMeta{
			Request:        &metapb.RpcRequestMeta{ServiceName: proto.String("S"), MethodName: proto.String("M")},
			ChunkInfo:      &metapb.ChunkInfo{StreamId: proto.Int64(1), ChunkId: proto.Int64(2)},
			StreamSettings: &metapb.StreamSettings{StreamId: proto.Int64(7), NeedFeedback: proto.Bool(true), ExtraStreamIds: []int64{1, 2, 3}},
			CorrelationId:  proto.Int64(5),
		}, wire.Meta{Service: []byte("S"), Method: []byte("M"), CorrelationID: 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := proto.Marshal(tt.pb)
			if err != nil {
				t.Fatalf("proto.Marshal(%v) = %v", tt.pb, err)
			}
			var m wire.Meta
			if err := wire.DecodeMeta(b, &m); err != nil {
				t.Fatalf("DecodeMeta(%x) = %v, want nil", b, err)
			}
			checkMeta(t, "DecodeMeta("+tt.name+")", &m, &tt.want)
		})
	}
}

// appendUnknowns appends one unknown field of every wire type, numbered from base.
func appendUnknowns(b []byte, base protowire.Number) []byte {
	b = protowire.AppendTag(b, base, protowire.VarintType)
	b = protowire.AppendVarint(b, 1<<63)
	b = protowire.AppendTag(b, base+1, protowire.BytesType)
	b = protowire.AppendBytes(b, []byte("\x0a\x05junk!\x20\x07")) // looks like fields 1 and 4
	b = protowire.AppendTag(b, base+2, protowire.StartGroupType)
	{
		b = protowire.AppendTag(b, 4, protowire.VarintType) // a correlation_id inside the group
		b = protowire.AppendVarint(b, 99)
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendString(b, "not a request")
		b = protowire.AppendTag(b, 3, protowire.StartGroupType) // nested group
		b = protowire.AppendTag(b, 5, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, 5)
		b = protowire.AppendTag(b, 3, protowire.EndGroupType)
	}
	b = protowire.AppendTag(b, base+2, protowire.EndGroupType)
	b = protowire.AppendTag(b, base+3, protowire.Fixed32Type)
	b = protowire.AppendFixed32(b, 0xdeadbeef)
	b = protowire.AppendTag(b, base+4, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, 0x0123456789abcdef)
	return b
}

func appendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(b, num, protowire.VarintType), v)
}

func appendBytesField(b []byte, num protowire.Number, v []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), v)
}

func TestDecodeMetaSkipsUnknownFields(t *testing.T) {
	var req []byte // RpcRequestMeta with unknown fields around and between the known ones
	req = appendUnknowns(req, 100)
	req = appendBytesField(req, 1, []byte("example.EchoService"))
	req = appendUnknowns(req, 9)
	req = appendBytesField(req, 2, []byte("Echo"))
	req = appendVarintField(req, 3, 42)
	req = appendUnknowns(req, 200)

	var resp []byte // RpcResponseMeta likewise
	resp = appendUnknowns(resp, 3)
	resp = appendVarintField(resp, 1, 1002)
	resp = appendBytesField(resp, 2, []byte("no method"))
	resp = appendUnknowns(resp, 300)

	var uf []byte // a user_fields map entry with an unknown field
	uf = appendBytesField(uf, 1, []byte("key"))
	uf = appendUnknowns(uf, 3)
	uf = appendBytesField(uf, 2, []byte("value"))

	var chunk []byte // ChunkInfo
	chunk = appendVarintField(chunk, 1, 1)
	chunk = appendVarintField(chunk, 2, 2)

	tests := []struct {
		name string
		meta []byte
		want wire.Meta
	}{
		{
			name: "top level",
			meta: func() []byte {
				b := appendUnknowns(nil, 100)
				b = appendBytesField(b, 1, appendBytesField(appendBytesField(nil, 1, []byte("S")), 2, []byte("M")))
				b = appendUnknowns(b, 14)
				b = appendVarintField(b, 4, 7)
				b = appendBytesField(b, 6, chunk)              // chunk_info: streaming, skipped
				b = appendBytesField(b, 8, []byte{0x08, 0x01}) // stream_settings: skipped
				b = appendUnknowns(b, 1000)
				return b
			}(),
			want: wire.Meta{Service: []byte("S"), Method: []byte("M"), CorrelationID: 7},
		},
		{
			name: "inside request",
			meta: appendVarintField(appendBytesField(nil, 1, req), 4, 1),
			want: wire.Meta{Service: []byte("example.EchoService"), Method: []byte("Echo"), LogID: 42, CorrelationID: 1},
		},
		{
			name: "inside response",
			meta: appendVarintField(appendBytesField(nil, 2, resp), 4, 1),
			want: wire.Meta{IsResponse: true, ErrorCode: 1002, ErrorText: []byte("no method"), CorrelationID: 1},
		},
		{
			name: "inside user field",
			meta: appendBytesField(appendBytesField(nil, 2, nil), 9, uf),
			want: wire.Meta{IsResponse: true, UserFields: []wire.UserField{{Key: []byte("key"), Value: []byte("value")}}},
		},
		{
			name: "known numbers with the wrong wire type",
			meta: func() []byte {
				b := appendBytesField(nil, 2, nil)
				b = protowire.AppendTag(b, 4, protowire.Fixed64Type) // correlation_id is a varint
				b = protowire.AppendFixed64(b, 12345)
				b = appendBytesField(b, 3, []byte{1}) // compress_type is a varint
				b = appendVarintField(b, 1, 5)        // request is a message
				b = appendVarintField(b, 5, 0)        // attachment_size, well typed
				return b
			}(),
			want: wire.Meta{IsResponse: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m wire.Meta
			if err := wire.DecodeMeta(tt.meta, &m); err != nil {
				t.Fatalf("DecodeMeta(%x) = %v, want nil", tt.meta, err)
			}
			checkMeta(t, "DecodeMeta("+tt.name+")", &m, &tt.want)

			// The generated decoder agrees.
			var pb metapb.RpcMeta
			if err := (proto.UnmarshalOptions{AllowPartial: true}).Unmarshal(tt.meta, &pb); err != nil {
				t.Fatalf("proto.Unmarshal(%x) = %v", tt.meta, err)
			}
			fromPB := metaFromPB(&pb)
			checkMeta(t, "proto.Unmarshal("+tt.name+")", &fromPB, &tt.want)
		})
	}
}

// TestGoldenHexHelper guards the helper the golden frames depend on.
func TestGoldenHexHelper(t *testing.T) {
	got := hexBytes(t, "50 52 // a comment with hex ff\n\t50 43\n")
	if want, _ := hex.DecodeString("50525043"); !bytes.Equal(got, want) {
		t.Errorf("hexBytes = %x, want %x", got, want)
	}
}
