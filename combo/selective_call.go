package combo

import (
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/lb"
	"github.com/troupe-rpc/troupe/naming"
	"github.com/troupe-rpc/troupe/wire"
)

// selectiveCall is the engine of a selective call: one attempt at a time on a sub-channel (two
// after a backup request), each a child call. Its fields belong to the call's actor.
type selectiveCall struct {
	ch       *SelectiveChannel
	maxRetry int
	retried  int
	backup   bool
	tried    []naming.ServerNode
	attempts []*selAttempt
	running  int
	last     *selAttempt // the last attempt that finished
	endErr   *wire.Error
	timer    *time.Timer
}

// selAttempt is one attempt of a selective call.
type selAttempt struct {
	sub  *selSub
	call *actors.Call
	resp proto.Message
	done bool
}

// selBackup is the backup-request timer's message.
type selBackup struct{}

func (s *selectiveCall) Start(c *actors.Call) {
	if s.ch.closed.Load() {
		c.Finish(errClosedChannel(c))
		return
	}
	s.maxRetry = s.ch.opts.MaxRetry
	if n, ok := c.Controller().MaxRetry(); ok {
		s.maxRetry = n
	}
	s.armBackup(c)
	s.attempt(c)
}

// armBackup starts the backup-request timer when a backup would leave before the deadline.
func (s *selectiveCall) armBackup(c *actors.Call) {
	d := s.ch.opts.BackupRequest
	if v, ok := c.Controller().BackupRequest(); ok {
		d = v
	}
	if dl, ok := c.Deadline(); d <= 0 || (ok && d >= time.Until(dl)) {
		return
	}
	s.timer = time.AfterFunc(d, func() { c.Send(&selBackup{}) })
}

// attempt picks a sub-channel, avoiding those tried, and starts a child call on it.
func (s *selectiveCall) attempt(c *actors.Call) {
	snap := s.ch.snap.Load()
	req := lb.Request{Excluded: s.tried, Begin: time.Now()}
	req.Code, req.HasCode = c.Controller().RequestCode()
	i, err := snap.picker.Pick(&req)
	if err != nil {
		if s.running == 0 {
			s.failed(c, c.Errorf(wire.ErrnoOf(err), err, "Fail to select a sub-channel"))
		}
		return
	}
	sub := snap.subs[i]
	cntl := inheritAttempt(c.Controller())
	a := &selAttempt{sub: sub, resp: c.Response().ProtoReflect().New().Interface()}
	s.attempts = append(s.attempts, a)
	s.running++
	c.Controller().SetSubs([]*actors.Controller{cntl})
	a.call = sub.ch.StartChild(c, len(s.attempts)-1, c.Method(), c.Request(), a.resp, cntl)
	c.SetStatus("waiting for " + sub.node.Addr)
}

func (s *selectiveCall) Receive(c *actors.Call, msg any) {
	switch m := msg.(type) {
	case *actors.ChildDone:
		s.onChild(c, m)
	case *selBackup:
		s.onBackup(c)
	}
}

func (s *selectiveCall) onChild(c *actors.Call, d *actors.ChildDone) {
	if d.Index < 0 || d.Index >= len(s.attempts) || s.attempts[d.Index].done {
		return
	}
	a := s.attempts[d.Index]
	a.done, s.last = true, a
	s.running--
	err := d.Call.Err()
	if err == nil {
		s.succeed(c, a)
		return
	}
	if code := wire.ErrnoOf(err); code == wire.ENODATA || code == wire.EHOSTDOWN {
		s.ch.markDown(a.sub.handle)
	}
	if s.endErr != nil {
		if s.running == 0 {
			s.finish(c, s.endErr)
		}
		return
	}
	if s.running > 0 { // the other attempt of a backup pair may still answer
		return
	}
	s.failed(c, err)
}

// failed retries on another sub-channel when the policy allows it, or ends the call with err.
func (s *selectiveCall) failed(c *actors.Call, err error) {
	if s.retryable(c, err) {
		if s.last != nil {
			s.tried = append(s.tried, s.last.sub.node)
		}
		s.retried++
		s.attempt(c)
		return
	}
	s.finish(c, err)
}

func (s *selectiveCall) retryable(c *actors.Call, err error) bool {
	if s.retried >= s.maxRetry {
		return false
	}
	if dl, ok := c.Deadline(); ok && !time.Now().Before(dl) {
		return false
	}
	code := wire.ErrnoOf(err)
	if code == wire.ERPCTIMEDOUT || code == wire.ECANCELED || code == wire.EREJECT {
		return false
	}
	if p := s.ch.opts.RetryPolicy; p != nil {
		return p.DoRetry(c.Controller(), err)
	}
	return code.Temporary()
}

// succeed hands the winning attempt's answer to the caller.
func (s *selectiveCall) succeed(c *actors.Call, a *selAttempt) {
	resp := c.Response()
	proto.Reset(resp)
	proto.Merge(resp, a.resp)
	main, sub := c.Controller(), a.call.Controller()
	main.SetResponseAttachment(sub.ResponseAttachment())
	s.finish(c, nil)
}

func (s *selectiveCall) onBackup(c *actors.Call) {
	if s.endErr != nil || s.running != 1 || s.retried >= s.maxRetry {
		return
	}
	n := len(s.attempts)
	s.tried = append(s.tried, s.attempts[n-1].sub.node)
	s.attempt(c)
	if len(s.attempts) > n { // a sub-channel took the backup request
		s.retried++
		s.backup = true
	}
}

// End stops the attempts still running (with ERPCTIMEDOUT after a timeout, ECANCELED otherwise)
// and ends the call once they reported.
func (s *selectiveCall) End(c *actors.Call, err *wire.Error) {
	if s.endErr == nil {
		s.endErr = err
	}
	if s.running == 0 {
		s.finish(c, err)
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

// finish records what brpc's selective controller shows — Sub(0) the last finished attempt,
// the remote side, retries — and ends the call.
func (s *selectiveCall) finish(c *actors.Call, err error) {
	if s.timer != nil {
		s.timer.Stop()
	}
	main := c.Controller()
	if a := s.last; a != nil {
		main.SetSubs([]*actors.Controller{a.call.Controller()})
		main.SetRemoteSide(a.call.Controller().RemoteSide())
	} else {
		main.SetSubs(nil)
	}
	main.SetRetried(s.retried, s.backup)
	c.Finish(err)
}
