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
		dst = protowire.AppendTag(dst, fResponse, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(responseSize(m)))
		dst = appendResponse(dst, m)
	} else {
		dst = protowire.AppendTag(dst, fRequest, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(requestSize(m)))
		dst = appendRequest(dst, m)
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
		dst = protowire.AppendTag(dst, fUserFields, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(bytesFieldSize(1, uf.Key)+bytesFieldSize(2, uf.Value)))
		dst = appendBytesField(dst, 1, uf.Key)
		dst = appendBytesField(dst, 2, uf.Value)
	}
	dst = appendVarintField(dst, fContentType, uint64(int64(m.ContentType)))
	dst = appendVarintField(dst, fChecksumType, uint64(int64(m.ChecksumType)))
	dst = appendBytesField(dst, fChecksumValue, m.ChecksumValue)
	if m.ChecksumWithAttachment {
		dst = appendVarintField(dst, fChecksumWithAttachment, 1)
	}
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

func appendVarintField(dst []byte, num protowire.Number, v uint64) []byte {
	dst = protowire.AppendTag(dst, num, protowire.VarintType)
	return protowire.AppendVarint(dst, v)
}

func appendBytesField(dst []byte, num protowire.Number, b []byte) []byte {
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	return protowire.AppendBytes(dst, b)
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
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return metaErr("field tag", protowire.ParseError(n))
		}
		b = b[n:]
		n = decodeMetaField(m, num, typ, b)
		if n < 0 {
			return metaErr(fmt.Sprintf("field %d", num), protowire.ParseError(n))
		}
		b = b[n:]
	}
	if len(m.UserFields) == 0 {
		m.UserFields = nil
	}
	return nil
}

func metaErr(what string, err error) error {
	return fmt.Errorf("%w: %s: %v", ErrBadMeta, what, err)
}

// decodeMetaField consumes one field value of type typ and returns the bytes used or a negative
// protowire error.
func decodeMetaField(m *Meta, num protowire.Number, typ protowire.Type, b []byte) int {
	if typ == protowire.VarintType {
		v, n := protowire.ConsumeVarint(b)
		if n >= 0 {
			setMetaVarint(m, num, v)
		}
		return n
	}
	if typ != protowire.BytesType {
		return protowire.ConsumeFieldValue(num, typ, b)
	}
	v, n := protowire.ConsumeBytes(b)
	if n < 0 {
		return n
	}
	v = v[:len(v):len(v)] // an append to a decoded field must never write into the frame
	if err := setMetaBytes(m, num, v); err < 0 {
		return err
	}
	return n
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

// forEachField walks the fields of an embedded message, calling varint or bytes per field and
// skipping other wire types.
func forEachField(b []byte, varint func(protowire.Number, uint64), bytes func(protowire.Number, []byte)) int {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return n
		}
		b = b[n:]
		switch typ {
		case protowire.VarintType:
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return m
			}
			varint(num, v)
			n = m
		case protowire.BytesType:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return m
			}
			bytes(num, v[:len(v):len(v)])
			n = m
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return n
			}
		}
		b = b[n:]
	}
	return 0
}

func decodeRequest(m *Meta, b []byte) int {
	return forEachField(b, func(num protowire.Number, v uint64) {
		switch num {
		case fReqLogID:
			m.LogID = int64(v)
		case fReqTraceID:
			m.TraceID = int64(v)
		case fReqSpanID:
			m.SpanID = int64(v)
		case fReqParentSpanID:
			m.ParentSpanID = int64(v)
		case fReqTimeoutMs:
			m.TimeoutMs = int32(v)
		}
	}, func(num protowire.Number, v []byte) {
		switch num {
		case fReqService:
			m.Service = v
		case fReqMethod:
			m.Method = v
		case fReqRequestID:
			m.RequestID = v
		}
	})
}

func decodeResponse(m *Meta, b []byte) int {
	return forEachField(b, func(num protowire.Number, v uint64) {
		if num == fRespErrorCode {
			m.ErrorCode = int32(v)
		}
	}, func(num protowire.Number, v []byte) {
		if num == fRespErrorText {
			m.ErrorText = v
		}
	})
}

func decodeUserField(m *Meta, b []byte) int {
	var uf UserField
	n := forEachField(b, func(protowire.Number, uint64) {}, func(num protowire.Number, v []byte) {
		switch num {
		case 1:
			uf.Key = v
		case 2:
			uf.Value = v
		}
	})
	if n < 0 {
		return n
	}
	m.UserFields = append(m.UserFields, uf)
	return 0
}
