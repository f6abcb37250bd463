package callrt

import (
	"sync/atomic"
	"time"

	"github.com/troupe-rpc/troupe/wire"
)

// Controller is the data of actors.Controller, which is defined on it: the settings a caller
// makes, and the results the call and its engine record. actors exports the caller's methods;
// the setters of results are for engines only.
//
// Settings follow one rule: a zero value means "not set" (the channel's setting applies), a
// negative one means "none" (no deadline, no retry, no backup request).
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
	userFields     []UserField // request user fields, sorted by key
	traceID        int64
	spanID         int64
	parentSpanID   int64
	cancelled      atomic.Bool

	// results
	used           bool
	call           atomic.Pointer[Call]
	err            error
	code           wire.Errno
	respAttachment []byte
	respFields     []UserField // response user fields, in the order the server sent them
	remote, local  string
	latency        time.Duration
	deadline       time.Time
	retried        int
	backup         bool
	subs           []*Controller
}

// MaxRetryLimit bounds every retry limit, as brpc's does.
const MaxRetryLimit = 1000

// SetTimeout sets the call's timeout: 0 unsets it, a negative d means no deadline.
func (c *Controller) SetTimeout(d time.Duration) {
	c.timeout, c.hasTimeout = d, d != 0
	if d < 0 {
		c.timeout = -1
	}
}

// Timeout returns the timeout set, negative for none, and whether one was set.
func (c *Controller) Timeout() (time.Duration, bool) { return c.timeout, c.hasTimeout }

// SetMaxRetry sets the retry limit: 0 unsets it, a negative n means no retry.
func (c *Controller) SetMaxRetry(n int) {
	c.maxRetry, c.hasMaxRetry = min(max(n, 0), MaxRetryLimit), n != 0
}

// MaxRetry returns the retry limit set, and whether one was set.
func (c *Controller) MaxRetry() (int, bool) { return c.maxRetry, c.hasMaxRetry }

// SetBackupRequest sets the backup-request delay: 0 unsets it, a negative d means none.
func (c *Controller) SetBackupRequest(d time.Duration) {
	c.backupDelay, c.hasBackup = max(d, 0), d != 0
}

// BackupRequest returns the delay set (0 for none), and whether one was set.
func (c *Controller) BackupRequest() (time.Duration, bool) { return c.backupDelay, c.hasBackup }

// InheritRetries gives c the retry limit and the backup-request delay from set, as set there.
func (c *Controller) InheritRetries(from *Controller) {
	c.maxRetry, c.hasMaxRetry = from.maxRetry, from.hasMaxRetry
	c.backupDelay, c.hasBackup = from.backupDelay, from.hasBackup
}

// Deadline returns the call's deadline once it started, and whether it has one.
func (c *Controller) Deadline() (time.Time, bool) { return c.deadline, !c.deadline.IsZero() }

// Remaining returns the time left before the deadline, and whether there is a deadline.
func (c *Controller) Remaining() (time.Duration, bool) {
	if c == nil || c.deadline.IsZero() {
		return 0, false
	}
	return time.Until(c.deadline), true
}

// SetLogID sets the log id sent to the server.
func (c *Controller) SetLogID(id int64) { c.logID, c.hasLogID = id, true }

// LogID returns the log id, and whether one was set.
func (c *Controller) LogID() (int64, bool) { return c.logID, c.hasLogID }

// SetRequestCode sets the code consistent-hashing balancers route by.
func (c *Controller) SetRequestCode(code uint64) { c.requestCode, c.hasRequestCode = code, true }

// RequestCode returns the request code, and whether one was set.
func (c *Controller) RequestCode() (uint64, bool) { return c.requestCode, c.hasRequestCode }

// SetRequestID sets the request id sent to the server.
func (c *Controller) SetRequestID(id string) { c.requestID = id }

// RequestID returns the request id.
func (c *Controller) RequestID() string { return c.requestID }

// SetCompressType sets the request's compression.
func (c *Controller) SetCompressType(t wire.CompressType) { c.compress = t }

// CompressType returns the request's compression.
func (c *Controller) CompressType() wire.CompressType { return c.compress }

// SetRequestAttachment sets the bytes sent after the request message.
func (c *Controller) SetRequestAttachment(b []byte) { c.reqAttachment = b }

// RequestAttachment returns the request attachment.
func (c *Controller) RequestAttachment() []byte { return c.reqAttachment }

// ResponseAttachment returns the bytes the server sent after the response message.
func (c *Controller) ResponseAttachment() []byte { return c.respAttachment }

// SetResponseAttachment records the response attachment.
func (c *Controller) SetResponseAttachment(b []byte) { c.respAttachment = b }

// StartCancel cancels the call the Controller is used for (brpc's StartCancel).
func (c *Controller) StartCancel() {
	c.cancelled.Store(true)
	if call := c.call.Load(); call != nil {
		call.Cancel()
	}
}

// Cancelled reports whether StartCancel was called.
func (c *Controller) Cancelled() bool { return c.cancelled.Load() }

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

// RemoteSide returns the server of the last attempt.
func (c *Controller) RemoteSide() string { return c.remote }

// SetRemoteSide records the server that answered.
func (c *Controller) SetRemoteSide(addr string) { c.remote = addr }

// LocalSide returns the local address of the connection the call's answer came on.
func (c *Controller) LocalSide() string { return c.local }

// SetLocalSide records the local address of the connection the answer came on.
func (c *Controller) SetLocalSide(addr string) { c.local = addr }

// Latency returns how long the call took.
func (c *Controller) Latency() time.Duration { return c.latency }

// RetriedCount returns how many attempts were made after the first.
func (c *Controller) RetriedCount() int { return c.retried }

// HasBackupRequest reports whether a backup request was sent.
func (c *Controller) HasBackupRequest() bool { return c.backup }

// SetRetried records the retries and whether a backup request was sent.
func (c *Controller) SetRetried(n int, backup bool) { c.retried, c.backup = n, backup }

// SetBackupSent records that a backup request was sent.
func (c *Controller) SetBackupSent() { c.backup = true }

// SubCount returns the number of sub-calls of a combo call.
func (c *Controller) SubCount() int { return len(c.subs) }

// Sub returns the controller of sub-call i, or nil.
func (c *Controller) Sub(i int) *Controller {
	if i < 0 || i >= len(c.subs) {
		return nil
	}
	return c.subs[i]
}

// SetSubs records the sub-calls' controllers of a combo call (nil for one that did not start).
func (c *Controller) SetSubs(subs []*Controller) { c.subs = subs }

// takeSettings gives c the settings of from, as the call an interceptor's next makes takes them
// from the Controller the interceptor passed (a cancel is not a setting: it goes to the call).
func (c *Controller) takeSettings(from *Controller) {
	c.timeout, c.hasTimeout = from.timeout, from.hasTimeout
	c.maxRetry, c.hasMaxRetry = from.maxRetry, from.hasMaxRetry
	c.logID, c.hasLogID = from.logID, from.hasLogID
	c.requestCode, c.hasRequestCode = from.requestCode, from.hasRequestCode
	c.requestID = from.requestID
	c.backupDelay, c.hasBackup = from.backupDelay, from.hasBackup
	c.compress, c.reqAttachment = from.compress, from.reqAttachment
	c.userFields = from.userFields
	c.traceID, c.spanID, c.parentSpanID = from.traceID, from.spanID, from.parentSpanID
}

// takeResults gives c the results of the call from made, as the Controller an interceptor passed
// to next gets them: the error, the answer's attachment and user fields, the servers, the
// retries and the sub-calls. The latency and the deadline stay c's own call's.
func (c *Controller) takeResults(from *Controller) {
	c.err, c.code = from.err, from.code
	c.respAttachment, c.respFields = from.respAttachment, from.respFields
	c.remote, c.local = from.remote, from.local
	c.retried, c.backup = from.retried, from.backup
	c.subs = from.subs
}

// Reset clears settings and results.
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
