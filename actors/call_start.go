package actors

import (
	"context"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/mailbox"
	"github.com/troupe-rpc/troupe/wire"
)

// start makes a call of a plain channel.
func (ch *PlainChannel) start(ctx context.Context, method string, req, resp proto.Message, cntl *Controller, done func(*Controller)) *Call {
	c := &Call{sys: ch.sys, ch: ch, method: method, req: req, resp: resp, cntl: cntl, done: done,
		target: ch.target, onEnd: ch.onEnd, defTO: ch.opts.Timeout}
	return c.start(ctx)
}

// startChild makes a call of a plain channel as a child of parent.
func (ch *PlainChannel) startChild(parent *Call, index int, method string, req, resp proto.Message, cntl *Controller) *Call {
	c := &Call{sys: ch.sys, ch: ch, method: method, req: req, resp: resp, cntl: cntl, parent: parent, index: index,
		target: ch.target, onEnd: ch.onEnd, defTO: -1}
	return c.start(context.Background())
}

// CallSpec describes a call for [System.StartCall]: what every call has, and the [Engine] that
// does this kind of call's work. Combo channels build their calls with it.
type CallSpec struct {
	Method     string
	Request    proto.Message
	Response   proto.Message
	Controller *Controller       // nil: the call uses one of its own
	Done       func(*Controller) // an asynchronous call's callback, or nil
	Engine     Engine
	// Timeout is the channel's timeout, used unless the Controller has one; negative for none,
	// 0 for DefaultTimeout. A child call has no deadline of its own: its parent's governs.
	Timeout time.Duration
	// Target names the channel in errors and in Inspect.
	Target string
	// Parent, when set, makes the call Parent's child: it lives under Parent's actor, stops
	// with it, has no deadline or context of its own, runs no Done, and tells Parent it ended
	// with a [*ChildDone] carrying Index.
	Parent *Call
	Index  int
	// OnEnd, if set, is called once with the call's error as it ends; channels count calls
	// with it. It must not block.
	OnEnd func(error)
}

// StartCall starts a call whose work an Engine does: it checks the arguments, gives the call its
// deadline, cancellation and actor, and calls the engine's Start in the call's first turn. A call
// that cannot start (a cancelled context, a reused Controller, a closed System) finishes at once
// with its error; Done then runs on another goroutine. ctx is ignored for a child call.
func (s *System) StartCall(ctx context.Context, spec *CallSpec) *Call {
	c := &Call{sys: s, engine: spec.Engine, method: spec.Method, req: spec.Request, resp: spec.Response,
		cntl: spec.Controller, done: spec.Done, parent: spec.Parent, index: spec.Index, target: spec.Target,
		onEnd: spec.OnEnd, defTO: spec.Timeout}
	if c.defTO == 0 {
		c.defTO = DefaultTimeout
	}
	if c.parent != nil {
		c.defTO, c.done, ctx = -1, nil, context.Background()
	}
	return c.start(ctx)
}

// start runs the call's first turn on the starting goroutine and hands over to its actor.
func (c *Call) start(ctx context.Context) *Call {
	c.finished, c.begin = make(chan struct{}), time.Now()
	if c.cntl == nil {
		c.cntl = new(Controller) // not kept in the Call: most callers pass their own
	}
	if err := c.cntl.begin(c); err != nil {
		c.finishEarly(err, false)
		return c
	}
	if !c.sys.enter() {
		c.finishEarly(closedError(c.method), false)
		return c
	}
	if c.ch != nil {
		c.ch.inflight.Add(1)
	}
	if err := c.prepare(ctx); err != nil {
		c.finishEarly(err, true)
		return c
	}
	var parent *mailbox.Light
	if c.parent != nil {
		parent = c.parent.light.Load()
		c.inherited = c.parent.effectiveDeadline()
	}
	l := mailbox.SpawnHeld(c.sys.lights, c.sys.pool, parent, c.prefix(), c)
	c.light.Store(l)
	if c.sys.closed.Load() {
		l.Send(msgShutdown)
	} else if c.cntl.cancelled.Load() {
		l.Send(msgCancel)
	}
	c.arm(ctx, l)
	c.begins()
	l.Release()
	return c
}

// effectiveDeadline is the call's deadline, or the one it inherited as a child.
func (c *Call) effectiveDeadline() time.Time {
	if !c.deadline.IsZero() {
		return c.deadline
	}
	return c.inherited
}

func (c *Call) prefix() string {
	if c.parent != nil {
		return "sub"
	}
	return "call"
}

// prepare checks what every call needs and gives it a deadline; the plain engine then encodes
// the request.
func (c *Call) prepare(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return c.ctxError(err)
	}
	if c.cntl.cancelled.Load() {
		return c.errorf(wire.ECANCELED, nil, "Call was cancelled before it started")
	}
	if _, _, err := splitMethod(c.method); err != nil {
		return c.errorf(wire.ENOMETHOD, nil, "%s", err.Error())
	}
	if c.req == nil || c.resp == nil {
		return c.errorf(wire.EINVAL, nil, "request and response must be non-nil")
	}
	c.setDeadline(ctx)
	if c.engine == nil {
		return c.preparePlain()
	}
	return nil
}

// preparePlain encodes the request once for every attempt and takes the channel's retry settings.
func (c *Call) preparePlain() error {
	if c.ch.closed.Load() {
		return closedError(c.method)
	}
	pb := getPayload()
	b, err := proto.MarshalOptions{}.MarshalAppend(pb.b[:0], c.req)
	pb.b = b[:0]
	if err != nil {
		putPayload(pb)
		return c.errorf(wire.EREQUEST, err, "Fail to serialize request")
	}
	if t := c.cntl.compress; t != wire.CompressNone {
		b, err = wire.Compress(nil, b, t)
		putPayload(pb)
		if err != nil {
			return c.errorf(wire.EREQUEST, err, "Fail to compress request")
		}
		pb = nil
	}
	c.payload, c.payloadBuf = b, pb
	c.maxRetry = c.ch.opts.MaxRetry
	if n, ok := c.cntl.MaxRetry(); ok {
		c.maxRetry = n
	}
	c.policy = c.ch.opts.RetryPolicy
	return nil
}

// begins starts the call's work in its first turn.
func (c *Call) begins() {
	if c.engine != nil {
		c.engine.Start(c)
		return
	}
	c.send()
}
