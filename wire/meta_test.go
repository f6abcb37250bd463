package wire_test

import (
	"bytes"
	"errors"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/troupe-rpc/troupe/wire"
)

func TestDecodeMetaErrors(t *testing.T) {
	tests := []struct {
		name string
		meta []byte
	}{
		{"truncated tag", []byte{0x80}},
		{"field number 0", []byte{0x00, 0x00}},
		{"wire type 6", []byte{0x0e}},
		{"wire type 7", []byte{0x0f, 0x00}},
		{"truncated varint value", []byte{0x20, 0x80}},
		{"varint of 11 bytes", append([]byte{0x20}, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)},
		{"length beyond the end", []byte{0x0a, 0x05, 0x01}},
		{"truncated length", []byte{0x62}},
		{"lone end group", []byte{0x0c}},
		{"group without end", []byte{0x33, 0x08, 0x01}},
		{"group with the wrong end", []byte{0x33, 0x3c}},
		{"truncated fixed32", []byte{0x1d, 0x01, 0x02}},
		{"truncated fixed64", []byte{0x19, 0x01, 0x02, 0x03, 0x04}},
		{"bad request", []byte{0x0a, 0x02, 0x0a, 0x05}},
		{"bad request tag", []byte{0x0a, 0x01, 0x80}},
		{"bad response", []byte{0x12, 0x02, 0x08, 0x80}},
		{"bad user field", []byte{0x4a, 0x02, 0x0a, 0x05}},
		{"good fields then garbage", append(wire.AppendMeta(nil, &wire.Meta{IsResponse: true}), 0xff)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m wire.Meta
			err := wire.DecodeMeta(tt.meta, &m)
			if !errors.Is(err, wire.ErrBadMeta) {
				t.Errorf("DecodeMeta(%x) = %v, want %v", tt.meta, err, wire.ErrBadMeta)
			}
		})
	}
}

// TestDecodeMetaResets checks that DecodeMeta forgets what the Meta held before.
func TestDecodeMetaResets(t *testing.T) {
	full := crossMetas[0].meta
	small := wire.Meta{IsResponse: true, CorrelationID: 3}
	var m wire.Meta
	if err := wire.DecodeMeta(wire.AppendMeta(nil, &full), &m); err != nil {
		t.Fatalf("DecodeMeta(full) = %v", err)
	}
	checkMeta(t, "DecodeMeta(full)", &m, &full)
	if err := wire.DecodeMeta(wire.AppendMeta(nil, &small), &m); err != nil {
		t.Fatalf("DecodeMeta(small) = %v", err)
	}
	checkMeta(t, "DecodeMeta(small) after DecodeMeta(full)", &m, &small)
	if m.UserFields != nil {
		t.Errorf("DecodeMeta(small).UserFields = %v, want nil", m.UserFields)
	}
	if err := wire.DecodeMeta(nil, &m); err != nil {
		t.Fatalf("DecodeMeta(nil) = %v", err)
	}
	checkMeta(t, "DecodeMeta(nil)", &m, &wire.Meta{})
}

// TestDecodeMetaRepeatedFields checks protobuf's rules for a field seen twice: the last scalar wins,
// messages merge, user fields accumulate.
func TestDecodeMetaRepeatedFields(t *testing.T) {
	var b []byte
	b = appendBytesField(b, 1, appendBytesField(appendVarintField(nil, 3, 7), 1, []byte("first")))
	b = appendBytesField(b, 1, appendBytesField(nil, 2, []byte("Method"))) // merges
	b = appendVarintField(b, 4, 1)
	b = appendVarintField(b, 4, 2) // last wins
	b = appendBytesField(b, 9, appendBytesField(appendBytesField(nil, 1, []byte("k")), 2, []byte("1")))
	b = appendBytesField(b, 9, appendBytesField(appendBytesField(nil, 1, []byte("k")), 2, []byte("2")))
	want := wire.Meta{
		Service:       []byte("first"),
		Method:        []byte("Method"),
		LogID:         7,
		CorrelationID: 2,
		UserFields:    []wire.UserField{{Key: []byte("k"), Value: []byte("1")}, {Key: []byte("k"), Value: []byte("2")}},
	}
	var m wire.Meta
	if err := wire.DecodeMeta(b, &m); err != nil {
		t.Fatalf("DecodeMeta(%x) = %v", b, err)
	}
	checkMeta(t, "DecodeMeta(repeated fields)", &m, &want)
}

// TestDecodeMetaTruncatesInt32 checks that int32 fields keep the low 32 bits of the varint, as
// protobuf does.
func TestDecodeMetaTruncatesInt32(t *testing.T) {
	var b []byte
	b = appendBytesField(b, 2, appendVarintField(nil, 1, 1<<32+1002))
	b = appendVarintField(b, 5, uint64(1<<32+3))
	b = appendVarintField(b, 11, uint64(1<<40|1))
	b = appendVarintField(b, 13, 2)
	want := wire.Meta{IsResponse: true, ErrorCode: 1002, AttachmentSize: 3, ChecksumType: 1, ChecksumWithAttachment: true}
	var m wire.Meta
	if err := wire.DecodeMeta(b, &m); err != nil {
		t.Fatalf("DecodeMeta(%x) = %v", b, err)
	}
	checkMeta(t, "DecodeMeta(wide varints)", &m, &want)
}

func TestMetaSize(t *testing.T) {
	metas := []wire.Meta{
		{},
		{IsResponse: true},
		{TimeoutMs: -1, LogID: -1, TraceID: -1, SpanID: -1, ParentSpanID: -1, CompressType: -1, ContentType: -1, ChecksumType: -1, CorrelationID: -1, AttachmentSize: -1},
		{IsResponse: true, ErrorCode: -1, ErrorText: make([]byte, 300)},
		{Service: make([]byte, 1<<14), UserFields: []wire.UserField{{Key: make([]byte, 200)}, {Value: make([]byte, 1<<15)}}},
	}
	for _, tt := range crossMetas {
		metas = append(metas, tt.meta)
	}
	for i, m := range metas {
		if got, want := wire.MetaSize(&m), len(wire.AppendMeta(nil, &m)); got != want {
			t.Errorf("MetaSize(metas[%d]) = %d, want %d", i, got, want)
		}
	}
}

// TestAppendMetaAppends checks that AppendMeta keeps what dst holds.
func TestAppendMetaAppends(t *testing.T) {
	m := crossMetas[0].meta
	prefix := []byte("prefix")
	got := wire.AppendMeta(append([]byte{}, prefix...), &m)
	want := append(append([]byte{}, prefix...), wire.AppendMeta(nil, &m)...)
	if string(got) != string(want) {
		t.Errorf("AppendMeta(prefix, m) = %x, want %x", got, want)
	}
}

// TestAppendMetaNegativeTimeout checks that a timeout <= 0 is not sent, as brpc sends none.
func TestAppendMetaNegativeTimeout(t *testing.T) {
	for _, timeout := range []int32{0, -1, -500} {
		m := wire.Meta{Service: []byte("S"), Method: []byte("M"), TimeoutMs: timeout}
		var got wire.Meta
		if err := wire.DecodeMeta(wire.AppendMeta(nil, &m), &got); err != nil {
			t.Fatalf("DecodeMeta(AppendMeta(timeout %d)) = %v", timeout, err)
		}
		if got.TimeoutMs != 0 {
			t.Errorf("DecodeMeta(AppendMeta(timeout %d)).TimeoutMs = %d, want 0", timeout, got.TimeoutMs)
		}
	}
}

func TestDecodeMetaAllocs(t *testing.T) {
	tests := []struct {
		name string
		meta wire.Meta
	}{
		{"response", wire.Meta{IsResponse: true, CorrelationID: 1 << 33, ErrorCode: 1002, ErrorText: []byte("[E1002]Fail")}},
		{"request", wire.Meta{Service: []byte("example.EchoService"), Method: []byte("Echo"), CorrelationID: 5, TimeoutMs: 100, ChecksumType: 1, ChecksumValue: []byte{1, 2, 3, 4}}},
		// User fields allocate on the first decode only: later decodes reuse the slice.
		{"request with user fields", crossMetas[0].meta},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := wire.AppendMeta(nil, &tt.meta)
			var m wire.Meta
			if err := wire.DecodeMeta(b, &m); err != nil {
				t.Fatalf("DecodeMeta(%s) = %v", tt.name, err)
			}
			allocs := testing.AllocsPerRun(100, func() {
				if err := wire.DecodeMeta(b, &m); err != nil {
					panic(err)
				}
			})
			if allocs != 0 {
				t.Errorf("DecodeMeta(%s) allocations = %v, want 0", tt.name, allocs)
			}
		})
	}
}

func TestCompressTypeString(t *testing.T) {
	tests := []struct {
		c    wire.CompressType
		want string
	}{
		{wire.CompressNone, "none"},
		{wire.CompressSnappy, "snappy"},
		{wire.CompressGzip, "gzip"},
		{wire.CompressZlib, "zlib"},
		{wire.CompressLZ4, "lz4"},
		{9, "compress_type(9)"},
		{-1, "compress_type(-1)"},
	}
	for _, tt := range tests {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("CompressType(%d).String() = %q, want %q", int32(tt.c), got, tt.want)
		}
	}
}

// TestDecodeMetaLargeFieldNumbers checks that unknown fields with the largest numbers protobuf
// allows are skipped.
func TestDecodeMetaLargeFieldNumbers(t *testing.T) {
	b := appendVarintField(nil, protowire.MaxValidNumber, 1)
	b = appendBytesField(b, protowire.MaxValidNumber-1, []byte("x"))
	b = appendVarintField(b, 4, 9)
	var m wire.Meta
	if err := wire.DecodeMeta(b, &m); err != nil {
		t.Fatalf("DecodeMeta(%x) = %v", b, err)
	}
	checkMeta(t, "DecodeMeta(large field numbers)", &m, &wire.Meta{CorrelationID: 9})
}

// TestDecodedFieldsCannotWriteIntoTheMeta: the byte fields DecodeMeta sets alias the encoded
// meta, but an append to one must never write into it.
func TestDecodedFieldsCannotWriteIntoTheMeta(t *testing.T) {
	for _, tt := range crossMetas {
		enc := wire.AppendMeta(nil, &tt.meta)
		keep := bytes.Clone(enc)
		var m wire.Meta
		if err := wire.DecodeMeta(enc, &m); err != nil {
			t.Fatalf("DecodeMeta(%s) = %v", tt.name, err)
		}
		fields := [][]byte{m.Service, m.Method, m.RequestID, m.ErrorText, m.AuthenticationData, m.ChecksumValue}
		for _, uf := range m.UserFields {
			fields = append(fields, uf.Key, uf.Value)
		}
		for _, f := range fields {
			_ = append(f, 'X')
		}
		if !bytes.Equal(enc, keep) {
			t.Errorf("%s: appending to decoded fields changed the meta:\n%x, was\n%x", tt.name, enc, keep)
		}
	}
}
