package actors

import (
	"context"
	"crypto/tls"
	"net"

	"github.com/troupe-rpc/troupe/wire"
)

// ServerCall is what a handler can learn about, and add to, the request it serves. Get it with
// [ServerCallFromContext]. It belongs to the handler's goroutine, and must not be used after the
// handler returned.
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
// A handler that returns after its deadline passed still has its answer sent, as brpc does (the
// client, having given up, drops it); an error such as ctx.Err() is sent as any error without a
// code is, as EINTERNAL. The handler's ctx must not be used after it returns.
type ServerCall struct {
	method         string
	meta           *wire.Meta
	reqAttachment  []byte
	respAttachment []byte
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

// UserField returns the value of a user field of the request meta, and whether it was present.
func (c *ServerCall) UserField(key string) (string, bool) {
	for _, uf := range c.meta.UserFields {
		if string(uf.Key) == key {
			return string(uf.Value), true
		}
	}
	return "", false
}

// RemoteAddr returns the client's address.
func (c *ServerCall) RemoteAddr() net.Addr { return c.remote }

// LocalAddr returns the server's address on this connection.
func (c *ServerCall) LocalAddr() net.Addr { return c.local }
