package actors

import (
	"context"
	"fmt"
	"runtime/debug"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/internal/callrt"
	"github.com/troupe-rpc/troupe/wire"
)

// Invoker makes a call and waits for it: the next step of an interceptor chain, which the last
// interceptor's next makes the channel's own call.
type Invoker func(ctx context.Context, method string, req, resp proto.Message, cntl *Controller) error

// Interceptor runs around every call of a channel, [Channel.Call] and [Channel.Go] alike (the
// shape of gRPC-Go's unary client interceptor). It sees the method, the request, the response
// and the call's Controller (never nil), and calls next to go on — after changing ctx or the
// Controller's settings if it wants to (a log id, a user field, a shorter timeout) — or returns
// without calling it: the call then ends with what it returned, a nil error meaning success with
// resp as the interceptor left it. An error without a brpc code ends the call with EINTERNAL
// (ERPCTIMEDOUT or ECANCELED for a context's end), wrapping it. A panic ends it with EINTERNAL,
// its text naming the panic and holding the stack.
//
// Where it runs: a synchronous call runs the chain on the caller's goroutine, an asynchronous
// call (and a sub-call a combo channel makes) on a goroutine of the System, so that Go returns at
// once. The call's deadline and a cancel end the call even while an interceptor runs; ctx ends
// then too, and an interceptor that blocks must return when it does.
//
// What next does: it makes the channel's call — all its attempts, retries and backup requests
// included — under the ctx it is given (whose deadline bounds the call, with the Controller's
// timeout or else the channel's) and with the settings of the Controller it is given; that
// Controller holds the results when next returned. Calling next several times makes several
// calls. next after the call ended fails at once.
type Interceptor func(ctx context.Context, method string, req, resp proto.Message, cntl *Controller, next Invoker) error

// ChainInterceptors returns one Interceptor that runs ics in order, the first outermost: the
// first is entered first and exited last. A panic in one of them is recovered where it
// happened: its caller's next returns an EINTERNAL error naming the panic. nil interceptors are
// skipped; ChainInterceptors returns nil when none is left.
func ChainInterceptors(ics ...Interceptor) Interceptor {
	var list []Interceptor
	for _, ic := range ics {
		if ic != nil {
			list = append(list, ic)
		}
	}
	if len(list) == 0 {
		return nil
	}
	return func(ctx context.Context, method string, req, resp proto.Message, cntl *Controller, next Invoker) error {
		return runLayer(list, 0, ctx, method, req, resp, cntl, next)
	}
}

// runLayer runs interceptor i of list, under recover, with a next that runs the one after it.
func runLayer(list []Interceptor, i int, ctx context.Context, method string, req, resp proto.Message, cntl *Controller, last Invoker) (err error) {
	if i == len(list) {
		return last(ctx, method, req, resp, cntl)
	}
	defer func() {
		if r := recover(); r != nil {
			err = &wire.Error{Code: wire.EINTERNAL, Method: method,
				Text: fmt.Sprintf("interceptor %d of %d panicked: %v\n%s", i+1, len(list), r, debug.Stack())}
		}
	}()
	return list[i](ctx, method, req, resp, cntl, func(ctx context.Context, method string, req, resp proto.Message, cntl *Controller) error {
		return runLayer(list, i+1, ctx, method, req, resp, cntl, last)
	})
}

// validateInterceptors checks that no interceptor is nil and keeps a copy of the list.
func (v *ChannelOptions) validateInterceptors() error {
	for i, ic := range v.Interceptors {
		if ic == nil {
			return fmt.Errorf("troupe: ChannelOptions.Interceptors[%d] is nil", i)
		}
	}
	v.Interceptors = append([]Interceptor(nil), v.Interceptors...)
	return nil
}

// intercept starts a call of the channel through its interceptors; inline leaves the chain to the
// caller, who runs it with callrt.RunInline.
func (ch *PlainChannel) intercept(ctx context.Context, method string, req, resp proto.Message, cntl *callrt.Controller, done func(*Controller), parent *callrt.Call, index int, inline bool) *callrt.Call {
	spec := callrt.Spec{Method: method, Request: req, Response: resp, Controller: cntl,
		Timeout: ch.opts.Timeout, Target: ch.target, Parent: parent, Index: index}
	if done != nil {
		spec.Done = done
	}
	spec.Engine = &callrt.Intercepted{Ctx: ctx, Inline: inline, Admit: ch.admit, Chain: ch.chain, StartCall: ch.startNext}
	return ch.sys.rt.Start(ctx, nil, &spec)
}

// admit refuses a call of a closed channel.
func (ch *PlainChannel) admit(c *callrt.Call) error {
	if ch.closed.Load() {
		return errChannelClosed(c.Method(), ch.target)
	}
	return nil
}

// chain runs the channel's interceptors around next.
func (ch *PlainChannel) chain(ctx context.Context, method string, req, resp proto.Message, cntl *callrt.Controller, next callrt.Next) error {
	return ch.icpt(ctx, method, req, resp, (*Controller)(cntl), func(ctx context.Context, method string, req, resp proto.Message, cntl *Controller) error {
		return next(ctx, method, req, resp, cntl.rt())
	})
}

// startNext starts the call an interceptor's next makes.
func (ch *PlainChannel) startNext(ctx context.Context, method string, req, resp proto.Message, cntl *callrt.Controller) *callrt.Call {
	return (*callrt.Call)(ch.start(ctx, method, req, resp, cntl, nil, nil, 0, nil))
}
