package callrt

import (
	"time"

	"github.com/troupe-rpc/troupe/naming"
	"github.com/troupe-rpc/troupe/wire"
)

// Policy is a channel's retry policy in the runtime's terms, made once per channel from the
// user's actors.RetryPolicy. Its zero value is brpc's default policy without backoff.
type Policy struct {
	// DoRetry decides whether an attempt that ended with err (nil after a success) is retried;
	// nil retries the errors brpc retries ([wire.Errno.Temporary]) and never a success.
	DoRetry func(c *Controller, err error) bool
	// Backoff returns how long to wait before a retry; nil waits none.
	Backoff func(c *Controller) time.Duration
	// BackupDelay returns a call's backup-request delay when its Controller sets none; nil
	// takes the channel's fixed delay.
	BackupDelay func(c *Controller) time.Duration
	// DoBackup decides, once the delay passed, whether the backup request is sent; nil sends it.
	DoBackup func(c *Controller) bool
}

// avoidLast is how many servers a call avoids at most, the last ones it tried (brpc's
// RETRY_AVOIDANCE).
const avoidLast = 8

// Retry is one call's retry and backup-request state under brpc's rules, shared by the plain
// channel (across servers) and the selective channel (across sub-channels). It belongs to the
// call's actor.
type Retry struct {
	Policy
	// Max is the call's retry limit: its Controller's, else its channel's.
	Max int
	// Done counts the attempts made after the first, backup requests included.
	Done int
	// Tried lists the servers (or sub-channels) the call tried last, which the balancer avoids.
	Tried []naming.ServerNode
}

// Init resets r for call c of a channel with retry limit max and policy p.
func (r *Retry) Init(c *Call, max int, p Policy) {
	r.Policy, r.Max, r.Done, r.Tried = p, max, 0, r.Tried[:0]
	if n, ok := c.cntl.MaxRetry(); ok {
		r.Max = n
	}
}

// Left reports whether the call has quota and time left for another attempt, and its System is
// not shutting down.
func (r *Retry) Left(c *Call) bool {
	return r.Done < r.Max && !c.rt.closed.Load() && (c.deadline.IsZero() || time.Now().Before(c.deadline))
}

// Retryable reports whether the call retries after a failed attempt: quota and time are left,
// the error is not one never retried (a timeout, a cancel, EREJECT), and the policy agrees.
func (r *Retry) Retryable(c *Call, err error) bool {
	if !r.Left(c) {
		return false
	}
	code := wire.ErrnoOf(err)
	if code == wire.ERPCTIMEDOUT || code == wire.ECANCELED || code == wire.EREJECT {
		return false
	}
	if r.DoRetry != nil {
		return r.DoRetry(c.cntl, err)
	}
	return code.Temporary()
}

// RetriesSuccess reports whether the policy rejects a successful answer and the call can try
// again.
func (r *Retry) RetriesSuccess(c *Call) bool {
	return r.DoRetry != nil && r.Left(c) && r.DoRetry(c.cntl, nil)
}

// Wait returns the policy's backoff before the next retry when it ends before the deadline, 0
// otherwise.
func (r *Retry) Wait(c *Call) time.Duration {
	if r.Backoff == nil {
		return 0
	}
	d := r.Backoff(c.cntl)
	if d <= 0 || (!c.deadline.IsZero() && d >= time.Until(c.deadline)) {
		return 0
	}
	return d
}

// Remember adds a tried server to the list the balancer avoids: the last min(Max, 8), without
// repeating the latest.
func (r *Retry) Remember(n naming.ServerNode) {
	if k := len(r.Tried); k > 0 && r.Tried[k-1] == n {
		return
	}
	if limit := min(r.Max, avoidLast); len(r.Tried) >= limit && limit > 0 {
		r.Tried = r.Tried[1:]
	}
	r.Tried = append(r.Tried, n)
}

// BackupDelay returns when call c sends a backup request: its Controller's delay, else the
// policy's, else its channel's fixed one, or 0 for none, also when the request would not leave
// before the deadline.
func (r *Retry) BackupDelay(c *Call, channel time.Duration) time.Duration {
	d := channel
	if v, ok := c.cntl.BackupRequest(); ok {
		d = v
	} else if r.Policy.BackupDelay != nil {
		d = r.Policy.BackupDelay(c.cntl)
	}
	if d <= 0 || (!c.deadline.IsZero() && d >= time.Until(c.deadline)) {
		return 0
	}
	return d
}

// SendBackup reports whether the policy lets call c send the backup request its delay armed.
func (r *Retry) SendBackup(c *Call) bool {
	return r.Policy.DoBackup == nil || r.Policy.DoBackup(c.cntl)
}
