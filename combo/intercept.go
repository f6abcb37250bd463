package combo

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/internal/callrt"
)

// interception is how a combo channel runs its Interceptors around its calls: each call through
// them is a call of its own (the deadline, the cancel and the done callback are its), whose chain
// makes the combo call with the interceptors' next. A channel without interceptors has none.
type interception struct {
	chain   actors.Interceptor
	timeout time.Duration // the channel's Timeout, already defaulted
	target  string
}

// newInterception checks a combo channel's Interceptors and chains them; nil when there are
// none.
func newInterception(typ string, ics []actors.Interceptor, timeout time.Duration, target string) (*interception, error) {
	for i, ic := range ics {
		if ic == nil {
			return nil, fmt.Errorf("combo: %s.Interceptors[%d] is nil", typ, i)
		}
	}
	chain := actors.ChainInterceptors(ics...)
	if chain == nil {
		return nil, nil
	}
	return &interception{chain: chain, timeout: timeout, target: target}, nil
}

// start starts a call through the interceptors: at the top with ctx and done, or as parent's
// child. next starts the combo call itself, described by spec, as a call of its own.
func (ic *interception) start(rt *callrt.Runtime, spec specFunc, ctx context.Context, method string, req, resp proto.Message, cntl *callrt.Controller, done any, parent *callrt.Call, index int) *callrt.Call {
	e := &callrt.Intercepted{Ctx: ctx,
		Chain: func(ctx context.Context, method string, req, resp proto.Message, cntl *callrt.Controller, next callrt.Next) error {
			return ic.chain(ctx, method, req, resp, publicCntl(cntl), func(ctx context.Context, method string, req, resp proto.Message, cntl *actors.Controller) error {
				return next(ctx, method, req, resp, cntlOf(cntl))
			})
		},
		StartCall: func(ctx context.Context, method string, req, resp proto.Message, cntl *callrt.Controller) *callrt.Call {
			return rt.Start(ctx, nil, spec(method, req, resp, cntl))
		},
	}
	return rt.Start(ctx, nil, &callrt.Spec{Method: method, Request: req, Response: resp, Controller: cntl, Done: done,
		Engine: e, Timeout: ic.timeout, Target: ic.target, Parent: parent, Index: index})
}
