package combo

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/internal/callrt"
	"github.com/troupe-rpc/troupe/wire"
)

// nest is a combo channel's [callrt.Nest], embedded under this name so that it stays unexported:
// it lets another combo channel start child calls on this one.
type nest = callrt.Nest

// runtimeOf returns the call runtime of sys, or an error for a nil System or one not made by
// actors.NewSystem.
func runtimeOf(sys *actors.System, ctor string) (*callrt.Runtime, error) {
	rt := callrt.Of(sys)
	if rt == nil {
		return nil, fmt.Errorf("combo: %s: the System is nil or not initialized (make it with actors.NewSystem): %w", ctor, wire.EINVAL)
	}
	return rt, nil
}

// cntlOf views a caller's Controller as the runtime's.
func cntlOf(c *actors.Controller) *callrt.Controller { return (*callrt.Controller)(c) }

// publicCntl views the runtime's Controller as the caller's.
func publicCntl(c *callrt.Controller) *actors.Controller { return (*actors.Controller)(c) }

// doneOf is how a Spec carries an asynchronous call's callback: nil when there is none.
func doneOf(done func(*actors.Controller)) any {
	if done == nil {
		return nil
	}
	return done
}

// runDone runs a callback doneOf made.
func runDone(done any, c *callrt.Controller) { done.(func(*actors.Controller))(publicCntl(c)) }

// specFunc describes a call of a combo channel: its engine, timeout and target.
type specFunc func(method string, req, resp proto.Message, cntl *callrt.Controller) *callrt.Spec

// goCall starts a call of a combo channel of type typ, made by maker, whose runtime is rt. A
// channel's zero value has no runtime: its calls fail with EINVAL, their done callback run when
// goCall returns.
func goCall(rt *callrt.Runtime, typ, maker string, spec specFunc, ic *interception, ctx context.Context, method string, req, resp proto.Message, cntl *actors.Controller, done func(*actors.Controller)) *actors.Call {
	if rt == nil {
		err := wire.Errorf(wire.EINVAL, "combo."+typ+" is not initialized: make it with "+maker)
		s := callrt.Spec{Method: method, Controller: cntlOf(cntl), Done: doneOf(done), Target: typ}
		return (*actors.Call)(callrt.Refuse(&s, err, runDone))
	}
	if ic != nil {
		return (*actors.Call)(ic.start(rt, spec, ctx, method, req, resp, cntlOf(cntl), doneOf(done), nil, 0))
	}
	s := spec(method, req, resp, cntlOf(cntl))
	s.Done = doneOf(done)
	return (*actors.Call)(rt.Start(ctx, nil, s))
}

// nestOf is the Nest of a combo channel whose calls spec describes, through the channel's
// interceptors if it has any.
func nestOf(spec specFunc, ic *interception) nest {
	return callrt.MakeNest(func(parent *callrt.Call, index int, method string, req, resp proto.Message, cntl *callrt.Controller) *callrt.Call {
		if ic != nil {
			return ic.start(parent.Runtime(), spec, context.Background(), method, req, resp, cntl, nil, parent, index)
		}
		s := spec(method, req, resp, cntl)
		s.Parent, s.Index = parent, index
		return parent.Runtime().Start(context.Background(), nil, s)
	})
}

// errNotInitialized is what a method of a combo channel's zero value returns.
func errNotInitialized(typ string) error {
	return fmt.Errorf("combo: %s is not initialized: make it with New%s: %w", typ, typ, wire.EINVAL)
}

// childStarter returns how a combo channel starts child calls on ch: through the nest of a
// channel troupe made, through its Go for a user's own channel.
func childStarter(ch actors.Channel) callrt.StartChildFunc {
	if start := callrt.ChildStarter(ch); start != nil {
		return start
	}
	return userChannel{ch}.startChild
}

// userChannel nests a user's own channel: each child call's engine makes the call with the
// channel's Go and reports its end.
type userChannel struct{ ch actors.Channel }

func (u userChannel) startChild(parent *callrt.Call, index int, method string, req, resp proto.Message, cntl *callrt.Controller) *callrt.Call {
	return parent.Runtime().Start(context.Background(), nil, &callrt.Spec{Method: method, Request: req, Response: resp,
		Controller: cntl, Engine: &userCall{ch: u.ch}, Target: fmt.Sprintf("%T", u.ch), Parent: parent, Index: index})
}

// userCall is the engine of a child call on a user's channel. The user's call gets a Controller
// of its own with the child's settings; its results are copied back when its done runs.
type userCall struct {
	ch     actors.Channel
	call   *actors.Call
	cntl   actors.Controller
	cancel context.CancelFunc
}

// userDone tells a userCall that the user's call finished.
type userDone struct{}

func (*userCall) Prepare(*callrt.Call) error { return nil }

// Start makes the user's call under a context that ends with the child: at the parent's
// deadline, or when the child is ended.
func (u *userCall) Start(c *callrt.Call) {
	ctx, cancel := context.WithCancel(context.Background())
	if dl := c.EffectiveDeadline(); !dl.IsZero() {
		cancel()
		ctx, cancel = context.WithDeadline(context.Background(), dl)
	}
	u.cancel = cancel
	copySettings(cntlOf(&u.cntl), c.Controller())
	cntlOf(&u.cntl).InheritRetries(c.Controller())
	defer func() {
		if r := recover(); r != nil {
			c.Finish(c.Errorf(wire.EINTERNAL, nil, "Go of %T panicked: %v\n%s", u.ch, r, debug.Stack()))
		}
	}()
	u.call = u.ch.Go(c.TraceContext(ctx), c.Method(), c.Request(), c.Response(), &u.cntl, func(*actors.Controller) { c.Send(&userDone{}) })
	if u.call == nil {
		c.Finish(c.Errorf(wire.EINTERNAL, nil, "Go of %T returned no call", u.ch))
	}
}

// Receive takes the user's call's result.
func (u *userCall) Receive(c *callrt.Call, msg any) {
	if _, ok := msg.(*userDone); !ok {
		return
	}
	main := c.Controller()
	main.SetRemoteSide(u.cntl.RemoteSide())
	main.SetResponseAttachment(u.cntl.ResponseAttachment())
	main.TakeResponseUserFields(cntlOf(&u.cntl))
	main.SetRetried(u.cntl.RetriedCount(), u.cntl.HasBackupRequest())
	c.Finish(userError(c, u.call.Err()))
}

// userError gives an error of a user's channel a brpc code: a context's end is a timeout or a
// cancel, anything else without a code is EINTERNAL.
func userError(c *callrt.Call, err error) error {
	switch {
	case err == nil || wire.ErrnoOf(err) != 0:
		return err
	case errors.Is(err, context.DeadlineExceeded):
		return c.Errorf(wire.ERPCTIMEDOUT, err, "%v", err)
	case errors.Is(err, context.Canceled):
		return c.Errorf(wire.ECANCELED, err, "%v", err)
	}
	return err
}

// End ends the child at once and cancels the user's call, whose answer no one reads any more.
func (u *userCall) End(c *callrt.Call, err *wire.Error) { c.Finish(err) }

// Release cancels the user's call's context.
func (u *userCall) Release(*callrt.Call) {
	if u.cancel != nil {
		u.cancel()
	}
}

// copySettings gives a sub-call's Controller the settings of its call's that brpc passes down:
// log id, request code, request id, compression, attachment, request user fields and trace ids
// (not the timeout: the call's
// deadline governs, nor the retry limit and backup request, which a combo channel decides).
func copySettings(sub, main *callrt.Controller) {
	if id, ok := main.LogID(); ok {
		sub.SetLogID(id)
	}
	if code, ok := main.RequestCode(); ok {
		sub.SetRequestCode(code)
	}
	sub.SetRequestID(main.RequestID())
	sub.SetCompressType(main.CompressType())
	sub.SetRequestAttachment(main.RequestAttachment())
	sub.InheritMeta(main)
}

// runtimePolicy turns a channel's RetryPolicy into the runtime's, once per channel; nil is brpc's
// default policy without backoff.
func runtimePolicy(p actors.RetryPolicy) callrt.Policy {
	if p == nil {
		return callrt.Policy{}
	}
	rp := callrt.Policy{DoRetry: func(c *callrt.Controller, err error) bool { return p.DoRetry(publicCntl(c), err) }}
	if b, ok := p.(actors.BackoffPolicy); ok {
		rp.Backoff = func(c *callrt.Controller) time.Duration { return b.Backoff(publicCntl(c)) }
	}
	return rp
}

// backupRuntime puts a channel's BackupPolicy into its runtime policy, once per channel.
func backupRuntime(rp *callrt.Policy, p actors.BackupPolicy) {
	rp.BackupDelay = func(c *callrt.Controller) time.Duration { return p.Delay(publicCntl(c)) }
	rp.DoBackup = func(c *callrt.Controller) bool { return p.DoBackup(publicCntl(c)) }
}

// backupEnded tells a backup policy that call c ended, under recover: a panic of the user's code
// must not take the call's actor down.
func backupEnded(rt *callrt.Runtime, p actors.BackupPolicy, c *callrt.Controller) {
	defer func() {
		if r := recover(); r != nil {
			rt.Logger().Error("combo: BackupPolicy.OnCallEnd panicked", "panic", fmt.Sprint(r))
		}
	}()
	p.OnCallEnd(publicCntl(c))
}
