package callrt

import (
	"context"
	"errors"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/wire"
)

// Next is what the innermost interceptor of a chain calls: it makes the channel's own call with
// what the chain passes it, and waits for it.
type Next func(ctx context.Context, method string, req, resp proto.Message, cntl *Controller) error

// Intercepted is the engine of a call made through a channel's interceptors. The call owns the
// deadline, the cancellation and the done callback as every call does; its work is running the
// chain, off the call's actor: on a goroutine of the System for an asynchronous call or a child,
// on the caller's goroutine for a synchronous one ([RunInline]). The chain's result, posted back
// to the call, ends it; so does the deadline or a cancel, even while an interceptor still runs,
// and the chain's context then ends, which stops what next started.
//
// Each next starts the channel's call as a call of its own (StartCall), under the context the
// chain gave it and with a Controller of its own that takes the settings of the Controller the
// chain gave; that Controller gets the results when the call ended, unless the intercepted call
// ended first (it then belongs to the caller again).
type Intercepted struct {
	// Ctx is the caller's context, whose values the chain sees; nil for a child call.
	Ctx context.Context
	// Admit, if set, may refuse the call before it starts: a closed channel.
	Admit func(c *Call) error
	// Chain runs the interceptors around next, with the call's method, messages and Controller.
	Chain func(ctx context.Context, method string, req, resp proto.Message, cntl *Controller, next Next) error
	// StartCall starts the channel's own call; it is a call of its own, not the intercepted
	// call's child, so that the context and the Controller the chain passed govern it.
	StartCall func(ctx context.Context, method string, req, resp proto.Message, cntl *Controller) *Call
	// Inline makes the chain run on the goroutine that calls [RunInline].
	Inline bool

	ctx     context.Context
	cancel  context.CancelFunc
	started bool

	mu    sync.Mutex
	ended bool // the call finished: the chain no longer writes into its Controller
}

// chainDone carries the chain's result to its call.
type chainDone struct{ err error }

// Prepare lets the channel refuse the call.
func (e *Intercepted) Prepare(c *Call) error {
	if e.Admit != nil {
		return e.Admit(c)
	}
	return nil
}

// Start gives the chain its context, which ends with the call, and runs it on a goroutine of the
// System unless the caller runs it inline.
func (e *Intercepted) Start(c *Call) {
	base := e.Ctx
	if base == nil {
		base = context.Background()
	}
	base = c.TraceContext(base)
	if dl := c.EffectiveDeadline(); !dl.IsZero() {
		e.ctx, e.cancel = context.WithDeadline(base, dl)
	} else {
		e.ctx, e.cancel = context.WithCancel(base)
	}
	e.started = true
	if e.Inline {
		return
	}
	if err := c.rt.Go(func() { e.run(c) }); err != nil {
		c.Finish(ClosedError(c.method))
	}
}

// RunInline runs the chain of c, a call of an Inline engine, on the calling goroutine, and waits
// for c. A call that ended before it started runs no chain.
func RunInline(c *Call) error {
	if e, ok := c.engine.(*Intercepted); ok && e.started {
		e.run(c)
	}
	return c.Wait()
}

// run runs the chain, under recover, and posts its result to the call.
func (e *Intercepted) run(c *Call) {
	c.Send(&chainDone{err: e.runChain(c)})
}

func (e *Intercepted) runChain(c *Call) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = c.Errorf(wire.EINTERNAL, nil, "interceptor panicked: %v", r)
		}
	}()
	return e.Chain(e.ctx, c.method, c.req, c.resp, c.cntl, e.next)
}

// next makes the channel's call for the chain and gives cntl its results.
func (e *Intercepted) next(ctx context.Context, method string, req, resp proto.Message, cntl *Controller) error {
	inner := new(Controller)
	if cntl != nil {
		inner.takeSettings(cntl)
	}
	err := e.StartCall(ctx, method, req, resp, inner).Wait()
	if cntl != nil {
		e.mu.Lock()
		if !e.ended {
			cntl.takeResults(inner)
		}
		e.mu.Unlock()
	}
	return err
}

// Receive ends the call with the chain's result.
func (e *Intercepted) Receive(c *Call, msg any) {
	if d, ok := msg.(*chainDone); ok {
		c.Finish(chainError(c, d.err))
	}
}

// End ends the call at once; Release ends the chain's context.
func (e *Intercepted) End(c *Call, err *wire.Error) { c.Finish(err) }

// Release ends the chain's context, which stops what next started, and keeps next from writing
// into the Controller any more.
func (e *Intercepted) Release(*Call) {
	e.mu.Lock()
	e.ended = true
	e.mu.Unlock()
	if e.cancel != nil {
		e.cancel()
	}
}

// chainError makes an error of the chain that is not a *wire.Error one, wrapping it, with the
// code wire.ErrnoOf gives it: a context's end is a timeout or a cancel, a wire.Errno its own
// code, anything else EINTERNAL.
func chainError(c *Call, err error) error {
	var we *wire.Error
	if err == nil || errors.As(err, &we) {
		return err
	}
	return c.Errorf(wire.ErrnoOf(err), err, "%v", err)
}

// Status says what the call waits for, for Inspect.
func (e *Intercepted) Status() string { return "running interceptors" }
