package actors

import (
	"context"
	"crypto/tls"
	"iter"
	"net"

	"github.com/troupe-rpc/troupe/wire"
)

// ServerCall is what a handler can learn about, and add to, the request it serves: what the
// request's RpcMeta brought (method, log id, request id, trace and span ids, timeout, user
// fields, attachment) and what the response carries besides the message (attachment, user
// fields). Get it with [ServerCallFromContext]; interceptors also receive it. It belongs to the
// goroutine running the handler and its interceptors, and must not be used after the handler
// returned: the server then reuses the memory of a request without an attachment for the next
// one. The request attachment is the exception: a handler may keep it.
//
// The handler's ctx ends (ctx.Done is closed) when the earliest of these happens:
//
//   - the deadline the client sent passes: RpcRequestMeta.timeout_ms, counted from when the server
//     read the request, so time spent queued counts; ctx.Deadline reports it and ctx.Err is
//     context.DeadlineExceeded. A request without timeout_ms (or with 0) has no deadline;
//   - the client's connection closes: ctx.Err is context.Canceled;
//   - the server's [Server.Shutdown] stops waiting for handlers (its own ctx ended) and closes
//     the connections: context.Canceled too.
//
// The answer of a handler that returns once its deadline has passed is dropped: the client has
// given up on it (brpc would send it, for the client to drop). The client's call so ends with
// its own ERPCTIMEDOUT, never with what a handler returns at the deadline, such as ctx.Err().
// The handler's ctx must not be used after it returns.
type ServerCall struct {
	method         string
	meta           *wire.Meta
	reqAttachment  []byte
	respAttachment []byte
	respFields     []wire.UserField
	remote, local  net.Addr
	tls            *tls.ConnectionState
}

// TLS returns the state of the call's TLS connection: its version, cipher suite, and with mutual
// TLS the client's verified certificates (PeerCertificates, VerifiedChains). It is nil for a call
// that came over a plain connection.
func (c *ServerCall) TLS() *tls.ConnectionState { return c.tls }

// ServerCallFromContext returns the call a handler's ctx belongs to, or nil outside a handler.
func ServerCallFromContext(ctx context.Context) *ServerCall {
	c, _ := ctx.Value(serverCallKey{}).(*ServerCall)
	return c
}

// Method returns the full method name, "example.EchoService.Echo".
func (c *ServerCall) Method() string { return c.method }

// RequestAttachment returns the bytes the client attached after the request message.
func (c *ServerCall) RequestAttachment() []byte { return c.reqAttachment }

// SetResponseAttachment attaches b after the response message. It is sent only with a successful
// response, as brpc does.
func (c *ServerCall) SetResponseAttachment(b []byte) { c.respAttachment = b }

// LogID returns the log id the client set, or 0.
func (c *ServerCall) LogID() int64 { return c.meta.LogID }

// RequestID returns the request id the client set, or "".
func (c *ServerCall) RequestID() string { return string(c.meta.RequestID) }

// TimeoutMs returns the remaining timeout the client sent, or 0 when it sent none.
func (c *ServerCall) TimeoutMs() int32 { return c.meta.TimeoutMs }

// TraceID returns the trace id the client sent (RpcRequestMeta.trace_id), or 0.
func (c *ServerCall) TraceID() int64 { return c.meta.TraceID }

// SpanID returns the span id the client sent (RpcRequestMeta.span_id), or 0.
func (c *ServerCall) SpanID() int64 { return c.meta.SpanID }

// ParentSpanID returns the parent span id the client sent (RpcRequestMeta.parent_span_id), or 0.
func (c *ServerCall) ParentSpanID() int64 { return c.meta.ParentSpanID }

// UserField returns the value of a user field of the request meta (RpcMeta.user_fields, brpc's
// Controller::request_user_fields), and whether it was present. Of a key sent twice, the last
// value counts, as when protobuf parses the map.
func (c *ServerCall) UserField(key string) (string, bool) {
	fields := c.meta.UserFields
	for i := len(fields) - 1; i >= 0; i-- {
		if string(fields[i].Key) == key {
			return string(fields[i].Value), true
		}
	}
	return "", false
}

// UserFields returns the user fields of the request meta, each key once with the value
// [ServerCall.UserField] gives, in the order the client sent them.
func (c *ServerCall) UserFields() iter.Seq2[string, string] {
	return func(yield func(key, value string) bool) {
		fields := c.meta.UserFields
		for i, uf := range fields {
			if sentAgain(fields[i+1:], uf.Key) {
				continue
			}
			if !yield(string(uf.Key), string(uf.Value)) {
				return
			}
		}
	}
}

// sentAgain reports whether key is among fields.
func sentAgain(fields []wire.UserField, key []byte) bool {
	for _, uf := range fields {
		if string(uf.Key) == string(key) {
			return true
		}
	}
	return false
}

// SetResponseUserField sets a user field of the response meta (RpcMeta.user_fields, brpc's
// Controller::response_user_fields), replacing the value of a key set before. The fields are sent
// with the answer whether it is a response or the handler's error, in the order their keys were
// first set; an answer the server makes without the handler (an overcrowded connection's
// EOVERCROWDED) carries none.
func (c *ServerCall) SetResponseUserField(key, value string) {
	for i := range c.respFields {
		if string(c.respFields[i].Key) == key {
			c.respFields[i].Value = []byte(value)
			return
		}
	}
	c.respFields = append(c.respFields, wire.UserField{Key: []byte(key), Value: []byte(value)})
}

// RemoteAddr returns the client's address.
func (c *ServerCall) RemoteAddr() net.Addr { return c.remote }

// LocalAddr returns the server's address on this connection.
func (c *ServerCall) LocalAddr() net.Addr { return c.local }
