package actors

import (
	"math/rand/v2"
	"time"

	"github.com/troupe-rpc/troupe/internal/callrt"
	"github.com/troupe-rpc/troupe/wire"
)

// RetryPolicy decides whether a call retries after an attempt (brpc's RetryPolicy). DoRetry is
// called with the attempt's error, or with nil after a success, which a policy may reject to try
// another server (an answer it finds unqualified). Whatever it says, a call never retries past
// its retry limit or its deadline, nor after a timeout, a cancel or an EREJECT. A policy may also
// implement [BackoffPolicy]. It must be safe for concurrent use.
type RetryPolicy interface {
	DoRetry(cntl *Controller, err error) bool
}

// BackoffPolicy is a RetryPolicy that waits before retrying. A backoff that would not end before
// the call's deadline is skipped.
type BackoffPolicy interface {
	RetryPolicy
	Backoff(cntl *Controller) time.Duration
}

// DefaultRetryPolicy is brpc's: retry connection failures (EFAILEDSOCKET, EEOF, ECONNREFUSED,
// ECONNRESET, EPIPE, ETIMEDOUT of a connect, …), a server that is stopping (ELOGOFF) or
// overloaded (ELIMIT, EOVERCROWDED), and a balancer with no usable server (ENODATA, EHOSTDOWN);
// never a successful call. It is what a channel uses when ChannelOptions.RetryPolicy is nil.
type DefaultRetryPolicy struct{}

// DoRetry reports whether err is one brpc retries.
func (DefaultRetryPolicy) DoRetry(_ *Controller, err error) bool {
	return err != nil && wire.ErrnoOf(err).Temporary()
}

// FixedBackoff is brpc's RpcRetryPolicyWithFixedBackoff: the default policy, waiting Wait before
// each retry unless less than NoBackoffUnder is left before the deadline.
type FixedBackoff struct {
	DefaultRetryPolicy
	Wait           time.Duration // the wait before a retry
	NoBackoffUnder time.Duration // no wait when less time than this is left
}

// Backoff returns the fixed wait.
func (p FixedBackoff) Backoff(cntl *Controller) time.Duration {
	if d, ok := cntl.rt().Remaining(); ok && d < p.NoBackoffUnder {
		return 0
	}
	return p.Wait
}

// JitteredBackoff is brpc's RpcRetryPolicyWithJitteredBackoff: the default policy, waiting a
// uniformly random time in [Min, Max] before each retry unless less than NoBackoffUnder is left.
type JitteredBackoff struct {
	DefaultRetryPolicy
	Min, Max       time.Duration
	NoBackoffUnder time.Duration
}

// Backoff returns a random wait in [Min, Max].
func (p JitteredBackoff) Backoff(cntl *Controller) time.Duration {
	if d, ok := cntl.rt().Remaining(); ok && d < p.NoBackoffUnder {
		return 0
	}
	if p.Max <= p.Min {
		return p.Min
	}
	return p.Min + rand.N(p.Max-p.Min+1)
}

// runtimePolicy turns a channel's RetryPolicy into the runtime's, once per channel; nil is brpc's
// default policy without backoff.
func runtimePolicy(p RetryPolicy) callrt.Policy {
	if p == nil {
		return callrt.Policy{}
	}
	rp := callrt.Policy{DoRetry: func(c *callrt.Controller, err error) bool { return p.DoRetry((*Controller)(c), err) }}
	if b, ok := p.(BackoffPolicy); ok {
		rp.Backoff = func(c *callrt.Controller) time.Duration { return b.Backoff((*Controller)(c)) }
	}
	return rp
}
