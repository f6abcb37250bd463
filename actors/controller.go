package actors

import (
	"time"

	"github.com/troupe-rpc/troupe/internal/callrt"
	"github.com/troupe-rpc/troupe/wire"
)

// Controller is brpc's Controller in Go form: per-call settings a caller may set before the call,
// and the call's results after it. Pass nil to Call or Go when you need neither; the zero value
// is ready to use.
//
// Settings follow the package's rule for zero (see the package documentation): 0 leaves the
// channel's setting, a negative value means none — SetTimeout(NoTimeout), SetMaxRetry(NoRetry),
// SetBackupRequest(NoBackupRequest).
//
// A Controller belongs to one call at a time: set it up, make the call, read the results after
// the call finished (after Call returned, in the done callback, or after [Join]). Reusing it for
// another call requires [Controller.Reset] first; a reused Controller fails the call with EINVAL,
// as brpc does. It is not safe for concurrent use, except [Controller.StartCancel].
type Controller callrt.Controller

func (c *Controller) rt() *callrt.Controller { return (*callrt.Controller)(c) }

// SetTimeout overrides the channel's Timeout for this call: 0 keeps the channel's, [NoTimeout]
// (any negative d) means no deadline. A deadline on the call's context still applies: the
// earlier one wins.
func (c *Controller) SetTimeout(d time.Duration) { c.rt().SetTimeout(d) }

// Timeout returns the timeout set with SetTimeout (negative for none), and whether one was set.
func (c *Controller) Timeout() (time.Duration, bool) { return c.rt().Timeout() }

// SetMaxRetry overrides the channel's MaxRetry for this call: 0 keeps the channel's, [NoRetry]
// (any negative n) means no retry. It is at most 1000.
func (c *Controller) SetMaxRetry(n int) { c.rt().SetMaxRetry(n) }

// MaxRetry returns the retry limit set with SetMaxRetry, and whether one was set.
func (c *Controller) MaxRetry() (int, bool) { return c.rt().MaxRetry() }

// SetBackupRequest overrides the channel's BackupRequest for this call: when no answer came
// after d, a second attempt goes to another server and the first good answer wins. 0 keeps the
// channel's, [NoBackupRequest] (any negative d) turns backup requests off for the call.
func (c *Controller) SetBackupRequest(d time.Duration) { c.rt().SetBackupRequest(d) }

// BackupRequest returns the delay set with SetBackupRequest (0 when it turned them off), and
// whether one was set.
func (c *Controller) BackupRequest() (time.Duration, bool) { return c.rt().BackupRequest() }

// Deadline returns the call's deadline once it started, and whether it has one.
func (c *Controller) Deadline() (time.Time, bool) { return c.rt().Deadline() }

// SetLogID sets the log id sent to the server (RpcRequestMeta.log_id).
func (c *Controller) SetLogID(id int64) { c.rt().SetLogID(id) }

// LogID returns the log id, and whether one was set.
func (c *Controller) LogID() (int64, bool) { return c.rt().LogID() }

// SetRequestCode sets the code consistent-hashing load balancers route by.
func (c *Controller) SetRequestCode(code uint64) { c.rt().SetRequestCode(code) }

// RequestCode returns the request code, and whether one was set.
func (c *Controller) RequestCode() (uint64, bool) { return c.rt().RequestCode() }

// SetRequestID sets the request id sent to the server (RpcRequestMeta.request_id).
func (c *Controller) SetRequestID(id string) { c.rt().SetRequestID(id) }

// SetCompressType compresses the request payload with t; the server answers in kind.
func (c *Controller) SetCompressType(t wire.CompressType) { c.rt().SetCompressType(t) }

// CompressType returns the request compress type.
func (c *Controller) CompressType() wire.CompressType { return c.rt().CompressType() }

// SetRequestAttachment sets bytes sent after the request message, uninterpreted. The call reads
// them when it starts; do not modify b until the call finished.
func (c *Controller) SetRequestAttachment(b []byte) { c.rt().SetRequestAttachment(b) }

// RequestAttachment returns the request attachment.
func (c *Controller) RequestAttachment() []byte { return c.rt().RequestAttachment() }

// ResponseAttachment returns the bytes the server sent after the response message.
func (c *Controller) ResponseAttachment() []byte { return c.rt().ResponseAttachment() }

// SetRequestUserField sets a user field of the request meta (RpcMeta.user_fields, brpc's
// request_user_fields), replacing the value of a key already set. A server reads it with
// [ServerCall.UserField]. The meta carries the fields sorted by key, as protobuf's deterministic
// encoding of brpc's map does.
func (c *Controller) SetRequestUserField(key, value string) { c.rt().SetRequestUserField(key, value) }

// RequestUserField returns the value of a request user field, and whether it is set.
func (c *Controller) RequestUserField(key string) (string, bool) { return c.rt().RequestUserField(key) }

// RequestUserFields returns a copy of the request user fields, nil when none is set.
func (c *Controller) RequestUserFields() map[string]string { return c.rt().RequestUserFields() }

// ResponseUserField returns the value of a user field the server sent in the response meta
// (brpc's response_user_fields), and whether it sent it. Read it after the call finished.
func (c *Controller) ResponseUserField(key string) (string, bool) {
	return c.rt().ResponseUserField(key)
}

// ResponseUserFields returns a copy of the user fields the server sent in the response meta, nil
// when it sent none.
func (c *Controller) ResponseUserFields() map[string]string { return c.rt().ResponseUserFields() }

// SetTraceID sets the trace id sent to the server (RpcRequestMeta.trace_id); 0, the default,
// sends none.
func (c *Controller) SetTraceID(id int64) { c.rt().SetTraceID(id) }

// TraceID returns the trace id set, 0 for none.
func (c *Controller) TraceID() int64 { return c.rt().TraceID() }

// SetSpanID sets the span id sent to the server (RpcRequestMeta.span_id); 0, the default, sends
// none.
func (c *Controller) SetSpanID(id int64) { c.rt().SetSpanID(id) }

// SpanID returns the span id set, 0 for none.
func (c *Controller) SpanID() int64 { return c.rt().SpanID() }

// SetParentSpanID sets the parent span id sent to the server (RpcRequestMeta.parent_span_id); 0,
// the default, sends none.
func (c *Controller) SetParentSpanID(id int64) { c.rt().SetParentSpanID(id) }

// ParentSpanID returns the parent span id set, 0 for none.
func (c *Controller) ParentSpanID() int64 { return c.rt().ParentSpanID() }

// StartCancel cancels the call this Controller is used for, like brpc's StartCancel: a call not
// yet started fails with ECANCELED as soon as it starts; a call in flight ends with ECANCELED; a
// finished call is not affected. It is safe to call from any goroutine once the call started, and
// before it from the goroutine that will start it.
func (c *Controller) StartCancel() { c.rt().StartCancel() }

// Failed reports whether the call failed.
func (c *Controller) Failed() bool { return c.rt().Failed() }

// ErrorCode returns the code of the failure, or 0.
func (c *Controller) ErrorCode() wire.Errno { return c.rt().ErrorCode() }

// ErrorText returns the text of the failure, or "".
func (c *Controller) ErrorText() string { return c.rt().ErrorText() }

// Err returns the call's error, or nil.
func (c *Controller) Err() error { return c.rt().Err() }

// RemoteSide returns the server of the last attempt, "127.0.0.1:8000".
func (c *Controller) RemoteSide() string { return c.rt().RemoteSide() }

// LocalSide returns the local address of the connection the call's answer came on; for a call
// that got no answer, that of the connection its server's socket used last.
func (c *Controller) LocalSide() string { return c.rt().LocalSide() }

// Latency returns how long the call took, all attempts included.
func (c *Controller) Latency() time.Duration { return c.rt().Latency() }

// RetriedCount returns how many attempts were made after the first (backup requests included).
func (c *Controller) RetriedCount() int { return c.rt().RetriedCount() }

// HasBackupRequest reports whether a backup request was sent.
func (c *Controller) HasBackupRequest() bool { return c.rt().HasBackupRequest() }

// SubCount returns the number of sub-calls of a combo call; 0 for a plain channel's call.
func (c *Controller) SubCount() int { return c.rt().SubCount() }

// Sub returns the controller of sub-call i of a combo call, or nil: for a plain channel's call,
// for i out of range, and for a sub-call that was skipped or never started.
func (c *Controller) Sub(i int) *Controller { return (*Controller)(c.rt().Sub(i)) }

// Reset clears settings and results so that the Controller can serve another call. It must not be
// called while a call using it is in flight.
func (c *Controller) Reset() { c.rt().Reset() }
