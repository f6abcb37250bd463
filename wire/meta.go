package wire

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// CompressType names the codec applied to a payload (RpcMeta.compress_type). The attachment is
// never compressed.
type CompressType int32

// The compress types of brpc's options.proto.
const (
	CompressNone   CompressType = 0
	CompressSnappy CompressType = 1
	CompressGzip   CompressType = 2
	CompressZlib   CompressType = 3
	CompressLZ4    CompressType = 4 // named by brpc, implemented by neither brpc nor troupe
)

// String returns the lower-case name brpc logs: "none", "snappy", "gzip", "zlib", "lz4".
func (c CompressType) String() string {
	switch c {
	case CompressNone:
		return "none"
	case CompressSnappy:
		return "snappy"
	case CompressGzip:
		return "gzip"
	case CompressZlib:
		return "zlib"
	case CompressLZ4:
		return "lz4"
	}
	return fmt.Sprintf("compress_type(%d)", int32(c))
}

// ChecksumCRC32C is the only checksum type brpc defines (RpcMeta.checksum_type = 1).
const ChecksumCRC32C int32 = 1

// UserField is one entry of RpcMeta.user_fields.
type UserField struct{ Key, Value []byte }

// Meta is brpc's RpcMeta as a flat struct. A request carries the Service..TimeoutMs fields
// (RpcRequestMeta), a response the ErrorCode and ErrorText fields (RpcResponseMeta); IsResponse
// says which one a frame holds. Byte-slice fields decoded by [DecodeMeta] alias the buffer they
// were decoded from.
type Meta struct {
	IsResponse bool

	// RpcRequestMeta
	Service      []byte // full service name, "example.EchoService"
	Method       []byte // method name, "Echo"
	LogID        int64
	TraceID      int64
	SpanID       int64
	ParentSpanID int64
	RequestID    []byte
	TimeoutMs    int32

	// RpcResponseMeta
	ErrorCode int32
	ErrorText []byte

	CompressType           CompressType
	CorrelationID          int64
	AttachmentSize         int32
	AuthenticationData     []byte
	UserFields             []UserField
	ContentType            int32
	ChecksumType           int32
	ChecksumValue          []byte
	ChecksumWithAttachment bool
}

// Field numbers of RpcMeta and its parts (src/brpc/policy/baidu_rpc_meta.proto).
const (
	fRequest                = 1
	fResponse               = 2
	fCompressType           = 3
	fCorrelationID          = 4
	fAttachmentSize         = 5
	fChunkInfo              = 6
	fAuthenticationData     = 7
	fStreamSettings         = 8
	fUserFields             = 9
	fContentType            = 10
	fChecksumType           = 11
	fChecksumValue          = 12
	fChecksumWithAttachment = 13

	fReqService      = 1
	fReqMethod       = 2
	fReqLogID        = 3
	fReqTraceID      = 4
	fReqSpanID       = 5
	fReqParentSpanID = 6
	fReqRequestID    = 7
	fReqTimeoutMs    = 8

	fRespErrorCode = 1
	fRespErrorText = 2
)

// AppendMeta appends the protobuf encoding of m to dst, with the fields in the order and presence
// brpc's own client and server use, so that troupe's frames are byte-identical to brpc's.
func AppendMeta(dst []byte, m *Meta) []byte {
	if m.IsResponse {
		at := len(dst) + 2
		dst = append(dst, tagByte(fResponse, protowire.BytesType), 0)
		dst = closeLength(appendResponse(dst, m), at)
	} else {
		at := len(dst) + 2
		dst = append(dst, tagByte(fRequest, protowire.BytesType), 0)
		dst = closeLength(appendRequest(dst, m), at)
	}
	dst = appendVarintField(dst, fCompressType, uint64(int64(m.CompressType)))
	dst = appendVarintField(dst, fCorrelationID, uint64(m.CorrelationID))
	if m.AttachmentSize != 0 {
		dst = appendVarintField(dst, fAttachmentSize, uint64(int64(m.AttachmentSize)))
	}
	if m.AuthenticationData != nil {
		dst = appendBytesField(dst, fAuthenticationData, m.AuthenticationData)
	}
	for _, uf := range m.UserFields {
		at := len(dst) + 2
		dst = append(dst, tagByte(fUserFields, protowire.BytesType), 0)
		dst = appendBytesField(dst, 1, uf.Key)
		dst = closeLength(appendBytesField(dst, 2, uf.Value), at)
	}
	dst = appendVarintField(dst, fContentType, uint64(int64(m.ContentType)))
	dst = appendVarintField(dst, fChecksumType, uint64(int64(m.ChecksumType)))
	dst = appendBytesField(dst, fChecksumValue, m.ChecksumValue)
	if m.ChecksumWithAttachment {
		dst = appendVarintField(dst, fChecksumWithAttachment, 1)
	}
	return dst
}

// tagByte is the one-byte tag of a field numbered 1 to 15.
func tagByte(num protowire.Number, typ protowire.Type) byte { return byte(num)<<3 | byte(typ) }

// closeLength writes the length of the embedded message that starts at dst[at:] into the byte
// reserved for it at dst[at-1]. A length over 127 takes more bytes: the message moves up to
// make room (a meta's embedded messages rarely are that long), so that the usual meta is
// encoded in one pass, without sizing it first.
func closeLength(dst []byte, at int) []byte {
	n := len(dst) - at
	if n < 0x80 {
		dst[at-1] = byte(n)
		return dst
	}
	extra := protowire.SizeVarint(uint64(n)) - 1
	dst = append(dst, make([]byte, extra)...)
	copy(dst[at+extra:], dst[at:at+n])
	protowire.AppendVarint(dst[:at-1], uint64(n))
	return dst
}

// MetaSize returns len(AppendMeta(nil, m)) without encoding.
func MetaSize(m *Meta) int {
	n := 0
	if m.IsResponse {
		n += lenFieldSize(fResponse, responseSize(m))
	} else {
		n += lenFieldSize(fRequest, requestSize(m))
	}
	n += varintFieldSize(fCompressType, uint64(int64(m.CompressType)))
	n += varintFieldSize(fCorrelationID, uint64(m.CorrelationID))
	if m.AttachmentSize != 0 {
		n += varintFieldSize(fAttachmentSize, uint64(int64(m.AttachmentSize)))
	}
	if m.AuthenticationData != nil {
		n += bytesFieldSize(fAuthenticationData, m.AuthenticationData)
	}
	for _, uf := range m.UserFields {
		n += lenFieldSize(fUserFields, bytesFieldSize(1, uf.Key)+bytesFieldSize(2, uf.Value))
	}
	n += varintFieldSize(fContentType, uint64(int64(m.ContentType)))
	n += varintFieldSize(fChecksumType, uint64(int64(m.ChecksumType)))
	n += bytesFieldSize(fChecksumValue, m.ChecksumValue)
	if m.ChecksumWithAttachment {
		n += varintFieldSize(fChecksumWithAttachment, 1)
	}
	return n
}

func appendRequest(dst []byte, m *Meta) []byte {
	dst = appendBytesField(dst, fReqService, m.Service)
	dst = appendBytesField(dst, fReqMethod, m.Method)
	dst = appendVarintField(dst, fReqLogID, uint64(m.LogID))
	if m.TraceID != 0 {
		dst = appendVarintField(dst, fReqTraceID, uint64(m.TraceID))
	}
	if m.SpanID != 0 {
		dst = appendVarintField(dst, fReqSpanID, uint64(m.SpanID))
	}
	if m.ParentSpanID != 0 {
		dst = appendVarintField(dst, fReqParentSpanID, uint64(m.ParentSpanID))
	}
	if len(m.RequestID) != 0 {
		dst = appendBytesField(dst, fReqRequestID, m.RequestID)
	}
	if m.TimeoutMs > 0 {
		dst = appendVarintField(dst, fReqTimeoutMs, uint64(int64(m.TimeoutMs)))
	}
	return dst
}

func requestSize(m *Meta) int {
	n := bytesFieldSize(fReqService, m.Service) + bytesFieldSize(fReqMethod, m.Method)
	n += varintFieldSize(fReqLogID, uint64(m.LogID))
	if m.TraceID != 0 {
		n += varintFieldSize(fReqTraceID, uint64(m.TraceID))
	}
	if m.SpanID != 0 {
		n += varintFieldSize(fReqSpanID, uint64(m.SpanID))
	}
	if m.ParentSpanID != 0 {
		n += varintFieldSize(fReqParentSpanID, uint64(m.ParentSpanID))
	}
	if len(m.RequestID) != 0 {
		n += bytesFieldSize(fReqRequestID, m.RequestID)
	}
	if m.TimeoutMs > 0 {
		n += varintFieldSize(fReqTimeoutMs, uint64(int64(m.TimeoutMs)))
	}
	return n
}

func appendResponse(dst []byte, m *Meta) []byte {
	dst = appendVarintField(dst, fRespErrorCode, uint64(int64(m.ErrorCode)))
	if len(m.ErrorText) != 0 {
		dst = appendBytesField(dst, fRespErrorText, m.ErrorText)
	}
	return dst
}

func responseSize(m *Meta) int {
	n := varintFieldSize(fRespErrorCode, uint64(int64(m.ErrorCode)))
	if len(m.ErrorText) != 0 {
		n += bytesFieldSize(fRespErrorText, m.ErrorText)
	}
	return n
}

// appendVarintField appends a varint field numbered 1 to 15, every field of a meta.
func appendVarintField(dst []byte, num protowire.Number, v uint64) []byte {
	return appendVarint(append(dst, tagByte(num, protowire.VarintType)), v)
}

// appendBytesField appends a length-delimited field numbered 1 to 15.
func appendBytesField(dst []byte, num protowire.Number, b []byte) []byte {
	dst = appendVarint(append(dst, tagByte(num, protowire.BytesType)), uint64(len(b)))
	return append(dst, b...)
}

// appendVarint is protowire.AppendVarint in a form the compiler inlines: most of a meta's
// values take one or two bytes.
func appendVarint(dst []byte, v uint64) []byte {
	for v >= 0x80 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}

func varintFieldSize(num protowire.Number, v uint64) int {
	return protowire.SizeTag(num) + protowire.SizeVarint(v)
}

func bytesFieldSize(num protowire.Number, b []byte) int {
	return protowire.SizeTag(num) + protowire.SizeBytes(len(b))
}

func lenFieldSize(num protowire.Number, n int) int {
	return protowire.SizeTag(num) + protowire.SizeBytes(n)
}

// ErrBadMeta is matched (errors.Is) by every error of [DecodeMeta].
var ErrBadMeta = errors.New("malformed RpcMeta")

// DecodeMeta parses an encoded RpcMeta into m, which it resets first. Unknown fields are skipped,
// as brpc's specification requires; chunk_info and stream_settings (brpc's streaming RPC, which
// troupe does not speak) are skipped too. Byte-slice fields of m alias b. It allocates only for
// user fields.
func DecodeMeta(b []byte, m *Meta) error {
	uf := m.UserFields[:0]
	*m = Meta{UserFields: uf}
	var f field
	for len(b) > 0 {
		n := nextField(b, &f)
		if n < 0 && f.num == 0 {
			return metaErr("field tag", protowire.ParseError(n))
		}
		if n >= 0 {
			b = b[n:]
			switch f.typ {
			case protowire.VarintType:
				setMetaVarint(m, f.num, f.v)
			case protowire.BytesType:
				n = setMetaBytes(m, f.num, f.bytes)
			}
		}
		if n < 0 {
			return metaErr(fmt.Sprintf("field %d", f.num), protowire.ParseError(n))
		}
	}
	if len(m.UserFields) == 0 {
		m.UserFields = nil
	}
	return nil
}

func metaErr(what string, err error) error {
	return fmt.Errorf("%w: %s: %v", ErrBadMeta, what, err)
}

func setMetaVarint(m *Meta, num protowire.Number, v uint64) {
	switch num {
	case fCompressType:
		m.CompressType = CompressType(int32(v))
	case fCorrelationID:
		m.CorrelationID = int64(v)
	case fAttachmentSize:
		m.AttachmentSize = int32(v)
	case fContentType:
		m.ContentType = int32(v)
	case fChecksumType:
		m.ChecksumType = int32(v)
	case fChecksumWithAttachment:
		m.ChecksumWithAttachment = v != 0
	}
}

func setMetaBytes(m *Meta, num protowire.Number, v []byte) int {
	switch num {
	case fRequest:
		return decodeRequest(m, v)
	case fResponse:
		m.IsResponse = true
		return decodeResponse(m, v)
	case fAuthenticationData:
		m.AuthenticationData = v
	case fUserFields:
		return decodeUserField(m, v)
	case fChecksumValue:
		m.ChecksumValue = v
	}
	return 0
}

// field is one field of an encoded message, as nextField reads it.
type field struct {
	num   protowire.Number
	typ   protowire.Type
	v     uint64 // a varint's value
	bytes []byte // a length-delimited value; its capacity is its length
}

// nextField reads the field at the start of b, which must not be empty, into f and returns the
// bytes it took, or a negative protowire error with f.num 0 when the tag itself was bad. A field
// of another wire type than varint or bytes is skipped: f then has no value. The one-byte tags
// of fields 1 to 15, one-byte values and one-byte lengths, which are nearly all of a meta's,
// are read here rather than by protowire's functions, which the compiler does not inline. A
// value's capacity is its length: an append to a decoded field must never write into the frame.
func nextField(b []byte, f *field) int {
	n := 1
	if c := b[0]; c < 0x80 && c >= 1<<3 {
		f.num, f.typ = protowire.Number(c>>3), protowire.Type(c&7)
	} else if f.num, f.typ, n = protowire.ConsumeTag(b); n < 0 {
		f.num = 0
		return n
	}
	b = b[n:]
	switch f.typ {
	case protowire.VarintType:
		if len(b) > 0 && b[0] < 0x80 {
			f.v = uint64(b[0])
			return n + 1
		}
		v, m := protowire.ConsumeVarint(b)
		if m < 0 {
			return m
		}
		f.v = v
		return n + m
	case protowire.BytesType:
		l, m := uint64(0), 1
		if len(b) > 0 && b[0] < 0x80 {
			l = uint64(b[0])
		} else if l, m = protowire.ConsumeVarint(b); m < 0 {
			return m
		}
		if l > uint64(len(b)-m) {
			return errTruncated
		}
		end := m + int(l)
		f.bytes = b[m:end:end]
		return n + end
	}
	m := protowire.ConsumeFieldValue(f.num, f.typ, b)
	if m < 0 {
		return m
	}
	return n + m
}

// errTruncated is protowire's error code for a value cut short (protowire.ParseError makes it
// io.ErrUnexpectedEOF).
const errTruncated = -1

func decodeRequest(m *Meta, b []byte) int {
	var f field
	for len(b) > 0 {
		n := nextField(b, &f)
		if n < 0 {
			return n
		}
		b = b[n:]
		switch {
		case f.typ == protowire.VarintType:
			switch f.num {
			case fReqLogID:
				m.LogID = int64(f.v)
			case fReqTraceID:
				m.TraceID = int64(f.v)
			case fReqSpanID:
				m.SpanID = int64(f.v)
			case fReqParentSpanID:
				m.ParentSpanID = int64(f.v)
			case fReqTimeoutMs:
				m.TimeoutMs = int32(f.v)
			}
		case f.typ == protowire.BytesType:
			switch f.num {
			case fReqService:
				m.Service = f.bytes
			case fReqMethod:
				m.Method = f.bytes
			case fReqRequestID:
				m.RequestID = f.bytes
			}
		}
	}
	return 0
}

func decodeResponse(m *Meta, b []byte) int {
	var f field
	for len(b) > 0 {
		n := nextField(b, &f)
		if n < 0 {
			return n
		}
		b = b[n:]
		switch {
		case f.num == fRespErrorCode && f.typ == protowire.VarintType:
			m.ErrorCode = int32(f.v)
		case f.num == fRespErrorText && f.typ == protowire.BytesType:
			m.ErrorText = f.bytes
		}
	}
	return 0
}

func decodeUserField(m *Meta, b []byte) int {
	var uf UserField
	var f field
	for len(b) > 0 {
		n := nextField(b, &f)
		if n < 0 {
			return n
		}
		b = b[n:]
		if f.typ != protowire.BytesType {
			continue
		}
		switch f.num {
		case 1:
			uf.Key = f.bytes
		case 2:
			uf.Value = f.bytes
		}
	}
	m.UserFields = append(m.UserFields, uf)
	return 0
}
