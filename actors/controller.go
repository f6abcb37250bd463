package actors

import (
	"sync/atomic"
	"time"

	"github.com/troupe-rpc/troupe/wire"
)

// Controller is brpc's Controller in Go form: per-call settings a caller may set before the call,
// and the call's results after it. Pass nil to Call or Go when you need neither.
//
// A Controller belongs to one call at a time: set it up, make the call, read the results after
// the call finished (after Call returned, in the done callback, or after [Join]). Reusing it for
// another call requires [Controller.Reset] first; a reused Controller fails the call with EINVAL,
// as brpc does. It is not safe for concurrent use, except [Controller.StartCancel].
type Controller struct {
	// settings
	timeout        time.Duration
	hasTimeout     bool
	maxRetry       int
	hasMaxRetry    bool
	logID          int64
	hasLogID       bool
	requestCode    uint64
	hasRequestCode bool
	requestID      string
	backupDelay    time.Duration
	hasBackup      bool
	compress       wire.CompressType
	reqAttachment  []byte
	cancelled      atomic.Bool

	// results
	used           bool
	call           atomic.Pointer[Call]
	err            error
	code           wire.Errno
	respAttachment []byte
	remote, local  string
	latency        time.Duration
	deadline       time.Time
	retried        int
	backup         bool
	subs           []*Controller
}

// SetTimeout overrides the channel's Timeout for this call; a negative d means no deadline. A
// deadline on the call's context still applies: the earlier one wins.
func (c *Controller) SetTimeout(d time.Duration) { c.timeout, c.hasTimeout = d, true }

// Timeout returns the timeout set with SetTimeout, and whether one was set.
func (c *Controller) Timeout() (time.Duration, bool) { return c.timeout, c.hasTimeout }

// SetMaxRetry overrides the channel's MaxRetry for this call. 0 means no retry.
func (c *Controller) SetMaxRetry(n int) { c.maxRetry, c.hasMaxRetry = max(0, min(n, 1000)), true }

// MaxRetry returns the retry limit set with SetMaxRetry, and whether one was set.
func (c *Controller) MaxRetry() (int, bool) { return c.maxRetry, c.hasMaxRetry }

// SetBackupRequest overrides the channel's BackupRequest for this call: when no answer came
// after d, a second attempt goes to another server and the first good answer wins. 0 or a
// negative d turns backup requests off for the call.
func (c *Controller) SetBackupRequest(d time.Duration) { c.backupDelay, c.hasBackup = d, true }

// BackupRequest returns the delay set with SetBackupRequest, and whether one was set.
func (c *Controller) BackupRequest() (time.Duration, bool) { return c.backupDelay, c.hasBackup }

// Deadline returns the call's deadline once it started, and whether it has one.
func (c *Controller) Deadline() (time.Time, bool) { return c.deadline, !c.deadline.IsZero() }

// remaining returns the time left before the deadline, and whether there is a deadline.
func (c *Controller) remaining() (time.Duration, bool) {
	if c.deadline.IsZero() {
		return 0, false
	}
	return time.Until(c.deadline), true
}

// SetLogID sets the log id sent to the server (RpcRequestMeta.log_id).
func (c *Controller) SetLogID(id int64) { c.logID, c.hasLogID = id, true }

// LogID returns the log id, and whether one was set.
func (c *Controller) LogID() (int64, bool) { return c.logID, c.hasLogID }

// SetRequestCode sets the code consistent-hashing load balancers route by.
func (c *Controller) SetRequestCode(code uint64) { c.requestCode, c.hasRequestCode = code, true }

// RequestCode returns the request code, and whether one was set.
func (c *Controller) RequestCode() (uint64, bool) { return c.requestCode, c.hasRequestCode }

// SetRequestID sets the request id sent to the server (RpcRequestMeta.request_id).
func (c *Controller) SetRequestID(id string) { c.requestID = id }

// SetCompressType compresses the request payload with t; the server answers in kind.
func (c *Controller) SetCompressType(t wire.CompressType) { c.compress = t }

// CompressType returns the request compress type.
func (c *Controller) CompressType() wire.CompressType { return c.compress }

// SetRequestAttachment sets bytes sent after the request message, uninterpreted. The call reads
// them when it starts; do not modify b until the call finished.
func (c *Controller) SetRequestAttachment(b []byte) { c.reqAttachment = b }

// RequestAttachment returns the request attachment.
func (c *Controller) RequestAttachment() []byte { return c.reqAttachment }

// ResponseAttachment returns the bytes the server sent after the response message.
func (c *Controller) ResponseAttachment() []byte { return c.respAttachment }

// StartCancel cancels the call this Controller is used for, like brpc's StartCancel: a call not
// yet started fails with ECANCELED as soon as it starts; a call in flight ends with ECANCELED; a
// finished call is not affected. It is safe to call from any goroutine once the call started, and
// before it from the goroutine that will start it.
func (c *Controller) StartCancel() {
	c.cancelled.Store(true)
	if call := c.call.Load(); call != nil {
		call.Cancel()
	}
}

// Failed reports whether the call failed.
func (c *Controller) Failed() bool { return c.err != nil }

// ErrorCode returns the code of the failure, or 0.
func (c *Controller) ErrorCode() wire.Errno { return c.code }

// ErrorText returns the text of the failure, or "".
func (c *Controller) ErrorText() string {
	if c.err == nil {
		return ""
	}
	return c.err.Error()
}

// Err returns the call's error, or nil.
func (c *Controller) Err() error { return c.err }

// RemoteSide returns the server of the last attempt, "127.0.0.1:8000".
func (c *Controller) RemoteSide() string { return c.remote }

// LocalSide returns the local address of the connection the call's answer came on; for a call
// that got no answer, that of the connection its server's socket used last.
func (c *Controller) LocalSide() string { return c.local }

// Latency returns how long the call took, all attempts included.
func (c *Controller) Latency() time.Duration { return c.latency }

// RetriedCount returns how many attempts were made after the first (backup requests included).
func (c *Controller) RetriedCount() int { return c.retried }

// HasBackupRequest reports whether a backup request was sent.
func (c *Controller) HasBackupRequest() bool { return c.backup }

// SubCount returns the number of sub-calls of a combo call; 0 for a plain channel's call.
func (c *Controller) SubCount() int { return len(c.subs) }

// Sub returns the controller of sub-call i of a combo call, or nil: for a plain channel's call,
// for i out of range, and for a sub-call that was skipped or never started.
func (c *Controller) Sub(i int) *Controller {
	if i < 0 || i >= len(c.subs) {
		return nil
	}
	return c.subs[i]
}

// SetSubs records the sub-calls' controllers of a combo call (nil for one that did not start).
// Combo channels call it from their engine before the call finishes.
func (c *Controller) SetSubs(subs []*Controller) { c.subs = subs }

// SetRemoteSide records the server that answered, for channels whose engine does not talk to
// sockets itself (a selective channel copies its chosen sub-call's).
func (c *Controller) SetRemoteSide(addr string) { c.remote = addr }

// SetResponseAttachment records the response attachment, for channels whose engine takes it
// from a sub-call.
func (c *Controller) SetResponseAttachment(b []byte) { c.respAttachment = b }

// SetRetried records the retries and backup requests a combo call's engine made.
func (c *Controller) SetRetried(n int, backup bool) { c.retried, c.backup = n, backup }

// Reset clears settings and results so that the Controller can serve another call. It must not be
// called while a call using it is in flight.
func (c *Controller) Reset() { *c = Controller{} }

// begin claims the Controller for a call; it fails when the Controller was used and not Reset.
func (c *Controller) begin(call *Call) error {
	if c.used {
		return wire.Errorf(wire.EINVAL, "Controller was used by another call; Reset it before reuse")
	}
	c.used = true
	c.call.Store(call)
	return nil
}

func (c *Controller) setResult(err error) {
	c.err = err
	c.code = wire.ErrnoOf(err)
}
