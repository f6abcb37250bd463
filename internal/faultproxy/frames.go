package faultproxy

import (
	"encoding/binary"

	"github.com/troupe-rpc/troupe/wire"
)

// Response returns a valid baidu_std response frame answering request id with payload (an
// encoded protobuf message) and attachment.
func Response(id int64, payload, attachment []byte) []byte {
	m := wire.Meta{IsResponse: true, CorrelationID: id}
	return wire.AppendFrame(nil, &m, payload, attachment)
}

// ErrorResponse returns a response frame failing request id with code and text.
func ErrorResponse(id int64, code wire.Errno, text string) []byte {
	m := wire.Meta{IsResponse: true, CorrelationID: id, ErrorCode: int32(code), ErrorText: []byte(text)}
	return wire.AppendFrame(nil, &m, nil, nil)
}

// Request returns a request frame for method ("example.EchoService.Echo": the service is what
// comes before the last dot) with correlation id and payload. Sent to a client as an answer, it
// is a frame of the wrong kind.
func Request(id int64, method string, payload []byte) []byte {
	svc, name := method, ""
	for i := len(method) - 1; i >= 0; i-- {
		if method[i] == '.' {
			svc, name = method[:i], method[i+1:]
			break
		}
	}
	m := wire.Meta{Service: []byte(svc), Method: []byte(name), CorrelationID: id}
	return wire.AppendFrame(nil, &m, payload, nil)
}

// BadMagic returns a well-sized frame whose first four bytes are "HTTP" instead of "PRPC".
func BadMagic(id int64) []byte {
	b := Response(id, nil, nil)
	copy(b, "HTTP")
	return b
}

// OversizedHeader returns a lone frame header declaring a body of bodySize bytes (and a meta
// of 0 bytes), with no body after it.
func OversizedHeader(bodySize uint32) []byte {
	b := make([]byte, 0, wire.HeaderSize)
	b = append(b, "PRPC"...)
	b = binary.BigEndian.AppendUint32(b, bodySize)
	return binary.BigEndian.AppendUint32(b, 0)
}

// GarbageMeta returns a frame with a well-formed header whose meta is not a protobuf message.
func GarbageMeta() []byte {
	meta := []byte{0xff, 0xff, 0xff, 0xff, 0xff}
	b := make([]byte, 0, wire.HeaderSize+len(meta))
	b = append(b, "PRPC"...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(meta)))
	b = binary.BigEndian.AppendUint32(b, uint32(len(meta)))
	return append(b, meta...)
}

// Truncated returns the first n bytes of frame (all of it when n is larger).
func Truncated(frame []byte, n int) []byte {
	return frame[:min(max(n, 0), len(frame)):min(max(n, 0), len(frame))]
}
