package combo

import (
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/internal/callrt"
	"github.com/troupe-rpc/troupe/lb"
	"github.com/troupe-rpc/troupe/wire"
)

// selectiveCall is the engine of a selective call: one attempt at a time on a sub-channel (two
// after a backup request), each a child call, retried on other sub-channels under the rules the
// plain channel applies across servers ([callrt.Retry]). Its fields belong to the call's actor.
type selectiveCall struct {
	ch       *SelectiveChannel
	retry    callrt.Retry
	backup   bool
	attempts []*selAttempt
	running  int
	last     *selAttempt // the last attempt that finished
	endErr   *wire.Error
	timer    *time.Timer // the backup request's
	backoff  *time.Timer // the retry's
	// waitingFor is the sub-channel of the latest attempt and backingOff whether the call waits
	// to retry, for Status.
	waitingFor atomic.Pointer[string]
	backingOff atomic.Bool
}

// Status says what the call waits for, for Inspect; it is called from any goroutine.
func (s *selectiveCall) Status() string {
	if s.backingOff.Load() {
		return "backing off before a retry"
	}
	if addr := s.waitingFor.Load(); addr != nil {
		return "waiting for " + *addr
	}
	return "starting"
}

// selAttempt is one attempt of a selective call.
type selAttempt struct {
	sub   *selSub
	node  lb.ServerNode // the sub-channel as the snapshot listed it (its weight may change since)
	call  *callrt.Call
	resp  proto.Message
	begin time.Time
	done  bool
}

// Messages of a selective call's timers.
type (
	selBackup struct{}
	selRetry  struct{}
)

// Prepare refuses a call on a closed channel and takes the retry settings.
func (s *selectiveCall) Prepare(c *callrt.Call) error {
	if s.ch.closed.Load() {
		return errClosedChannel(c)
	}
	s.retry.Init(c, s.ch.opts.MaxRetry, s.ch.policy)
	return nil
}

func (s *selectiveCall) Start(c *callrt.Call) {
	if d := s.retry.BackupDelay(c, s.ch.opts.BackupRequest); d > 0 {
		s.timer = time.AfterFunc(d, func() { c.Send(&selBackup{}) })
	}
	s.attempt(c)
}

// attempt picks a sub-channel, avoiding those tried, and starts a child call on it.
func (s *selectiveCall) attempt(c *callrt.Call) {
	snap := s.ch.snap.Load()
	now := time.Now()
	req := lb.Request{Excluded: s.retry.Tried, Begin: now}
	req.Code, req.HasCode = c.Controller().RequestCode()
	i, err := snap.picker.Pick(&req)
	if err != nil {
		if s.running == 0 {
			s.failed(c, c.Errorf(wire.ErrnoOf(err), err, "Fail to select a sub-channel"))
		}
		return
	}
	sub := snap.subs[i]
	cntl := inheritAttempt(c.Controller()) // no timeout of its own: the selective call's deadline governs
	a := &selAttempt{sub: sub, node: snap.servers[i].ServerNode, resp: c.Response().ProtoReflect().New().Interface(), begin: now}
	s.attempts = append(s.attempts, a)
	s.running++
	c.Controller().SetSubs([]*callrt.Controller{cntl})
	a.call = sub.start(c, len(s.attempts)-1, c.Method(), c.Request(), a.resp, cntl)
	s.waitingFor.Store(&a.node.Addr)
	s.backingOff.Store(false)
}

func (s *selectiveCall) Receive(c *callrt.Call, msg any) {
	switch m := msg.(type) {
	case *callrt.ChildDone:
		s.onChild(c, m)
	case *selBackup:
		s.onBackup(c)
	case *selRetry:
		s.attempt(c)
	}
}

func (s *selectiveCall) onChild(c *callrt.Call, d *callrt.ChildDone) {
	if d.Index < 0 || d.Index >= len(s.attempts) || s.attempts[d.Index].done {
		return
	}
	a := s.attempts[d.Index]
	a.done, s.last = true, a
	s.running--
	err := d.Call.Err()
	s.ch.bal.Feedback(lb.Feedback{Server: a.node, Begin: a.begin, Latency: time.Since(a.begin), Failed: err != nil,
		Timeout: c.Timeout(), Retried: s.retry.Done, MaxRetry: s.retry.Max})
	if err == nil {
		s.succeed(c, a)
		return
	}
	if code := wire.ErrnoOf(err); code == wire.ENODATA || code == wire.EHOSTDOWN {
		s.ch.markDown(a.sub.handle)
	}
	if s.endErr != nil {
		if s.running == 0 {
			c.Finish(s.endErr)
		}
		return
	}
	if s.running > 0 { // the other attempt of a backup pair may still answer
		return
	}
	s.failed(c, err)
}

// failed retries on another sub-channel, after the policy's backoff, when the retry rules allow
// it, or ends the call with err.
func (s *selectiveCall) failed(c *callrt.Call, err error) {
	if !s.retry.Retryable(c, err) {
		c.Finish(err)
		return
	}
	if s.last != nil {
		s.retry.Remember(s.last.node)
	}
	s.retry.Done++
	if d := s.retry.Wait(c); d > 0 {
		s.backingOff.Store(true)
		s.backoff = time.AfterFunc(d, func() { c.Send(&selRetry{}) })
		return
	}
	s.attempt(c)
}

// succeed hands the winning attempt's answer to the caller.
func (s *selectiveCall) succeed(c *callrt.Call, a *selAttempt) {
	resp := c.Response()
	proto.Reset(resp)
	proto.Merge(resp, a.resp)
	c.Controller().SetResponseAttachment(a.call.Controller().ResponseAttachment())
	c.Controller().TakeResponseUserFields(a.call.Controller())
	c.Finish(nil)
}

func (s *selectiveCall) onBackup(c *callrt.Call) {
	if s.endErr != nil || s.running != 1 || !s.retry.Left(c) || !s.retry.SendBackup(c) {
		return
	}
	n := len(s.attempts)
	s.retry.Remember(s.attempts[n-1].node)
	s.attempt(c)
	if len(s.attempts) > n { // a sub-channel took the backup request
		s.retry.Done++
		s.backup = true
	}
}

// End stops the attempts still running (with ERPCTIMEDOUT after a timeout, ECANCELED otherwise)
// and ends the call once they reported.
func (s *selectiveCall) End(c *callrt.Call, err *wire.Error) {
	if s.endErr == nil {
		s.endErr = err
	}
	if s.running == 0 {
		c.Finish(err)
		return
	}
	code := wire.ECANCELED
	if err.Code == wire.ERPCTIMEDOUT {
		code = wire.ERPCTIMEDOUT
	}
	for _, a := range s.attempts {
		if !a.done {
			a.call.Abort(c.Errorf(code, nil, "%s", err.Text))
		}
	}
}

// Release stops the timers and records what brpc's selective controller shows: Sub(0) the last
// finished attempt, the remote side, retries.
func (s *selectiveCall) Release(c *callrt.Call) {
	for _, t := range [...]*time.Timer{s.timer, s.backoff} {
		if t != nil {
			t.Stop()
		}
	}
	main := c.Controller()
	if a := s.last; a != nil {
		main.SetSubs([]*callrt.Controller{a.call.Controller()})
		main.SetRemoteSide(a.call.Controller().RemoteSide())
	} else {
		main.SetSubs(nil)
	}
	main.SetRetried(s.retry.Done, s.backup)
}
