package combo

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/internal/callrt"
	"github.com/troupe-rpc/troupe/wire"
)

// Ownership says whether a combo channel closes a sub-channel when it is closed itself.
type Ownership int

const (
	// DoesntOwnChannel leaves the sub-channel open when the combo channel closes.
	DoesntOwnChannel Ownership = iota
	// OwnsChannel closes the sub-channel (once, however often it was added) with the combo channel.
	OwnsChannel
)

// ParallelOptions configures a [ParallelChannel], after brpc's ParallelChannelOptions. The zero
// value of a field means brpc's default.
type ParallelOptions struct {
	// Timeout bounds the whole parallel call when its context has no deadline and its
	// Controller no timeout: sub-channels' own timeouts do not apply. 0 means 500 ms; negative,
	// none.
	Timeout time.Duration
	// FailLimit ends the call as soon as this many sub-calls failed, cancelling the others;
	// 0 means the number of sub-calls (the call fails only if all do). It is clamped to
	// [1, sub-calls].
	FailLimit int
	// SuccessLimit ends the call as soon as this many sub-calls succeeded, stopping the others
	// with EPCHANFINISH (not counted as failures). 0 means the number of sub-calls. Ignored when
	// FailLimit is set, as in brpc.
	SuccessLimit int
	// Strict makes a call that timed out or was cancelled fail even when fewer sub-calls than
	// FailLimit failed. By default a parallel call follows brpc: such a call succeeds with what
	// the finished sub-calls merged, because its failures stayed under the limit.
	Strict bool
	// Interceptors run around every call of the channel, the first outermost (see
	// actors.Interceptor): around the whole parallel call, Call and Go alike, and around the
	// sub-calls another combo channel makes on it. The sub-calls this channel makes happen
	// inside the last one's next, each through its sub-channel's own interceptors. None by
	// default; a nil element is an error.
	Interceptors []actors.Interceptor
}

// subChannel is one entry of a parallel channel.
type subChannel struct {
	ch     actors.Channel
	start  callrt.StartChildFunc
	mapper CallMapper
	merger ResponseMerger
}

// ParallelChannel is brpc's ParallelChannel: each call goes to every sub-channel at once,
// possibly with a different request per sub-channel ([CallMapper]), and the answers are merged
// into the caller's response ([ResponseMerger]) in sub-channel order. It satisfies
// [actors.Channel]. It is safe for concurrent use; sub-channels added during a call take part
// from the next call on. Make it with [NewParallelChannel]: a zero ParallelChannel fails every
// call with EINVAL.
type ParallelChannel struct {
	nest

	rt     *callrt.Runtime
	opts   ParallelOptions
	icpt   *interception // the Interceptors; nil for none
	mu     sync.Mutex
	subs   atomic.Pointer[[]subChannel]
	owned  map[actors.Channel]bool
	closed atomic.Bool
	own    owner
}

// NewParallelChannel returns an empty parallel channel of sys. It returns an error for invalid
// options.
func NewParallelChannel(sys *actors.System, opts *ParallelOptions) (*ParallelChannel, error) {
	rt, err := runtimeOf(sys, "NewParallelChannel")
	if err != nil {
		return nil, err
	}
	var o ParallelOptions
	if opts != nil {
		o = *opts
	}
	if o.FailLimit < 0 || o.SuccessLimit < 0 {
		return nil, fmt.Errorf("combo: ParallelOptions.FailLimit = %d, SuccessLimit = %d: want >= 0", o.FailLimit, o.SuccessLimit)
	}
	o.Timeout = timeoutOrDefault(o.Timeout)
	ic, err := newInterception("ParallelOptions", o.Interceptors, o.Timeout, "parallel channel")
	if err != nil {
		return nil, err
	}
	p := &ParallelChannel{rt: rt, opts: o, owned: map[actors.Channel]bool{}}
	p.subs.Store(&[]subChannel{})
	p.own.init(rt, &p.closed, p.closeOwned, "parallel")
	p.icpt = ic
	p.nest = nestOf(p.spec, p.icpt)
	return p, nil
}

// AddChannel adds a sub-channel with its mapper (nil: every sub-call gets the caller's method
// and request) and merger (nil: proto.Merge, brpc's MergeFrom). The same channel may be added
// several times, to make several sub-calls to it. An owned channel is closed once when the
// parallel channel is.
func (p *ParallelChannel) AddChannel(ch actors.Channel, own Ownership, mapper CallMapper, merger ResponseMerger) error {
	if p.rt == nil {
		return errNotInitialized("ParallelChannel")
	}
	if isNil(ch) {
		return errors.New("combo: AddChannel(nil)")
	}
	if p.closed.Load() {
		return actors.ErrClosed
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	old := *p.subs.Load()
	subs := append(old[:len(old):len(old)], subChannel{ch: ch, start: childStarter(ch), mapper: mapper, merger: merger})
	p.subs.Store(&subs)
	if own == OwnsChannel {
		p.owned[ch] = true
	} else if _, ok := p.owned[ch]; !ok {
		p.owned[ch] = false
	}
	return nil
}

// ChannelCount returns how many sub-channels were added (a channel added twice counts twice).
func (p *ParallelChannel) ChannelCount() int { return len(p.subList()) }

// subList returns the sub-channels (none for a zero ParallelChannel).
func (p *ParallelChannel) subList() []subChannel {
	if s := p.subs.Load(); s != nil {
		return *s
	}
	return nil
}

// Weight returns the channel's capacity: the smallest of its sub-channels' (0 when it has none
// or a sub-channel has no weight).
func (p *ParallelChannel) Weight() int {
	subs := p.subList()
	if len(subs) == 0 {
		return 0
	}
	w := -1
	for _, s := range subs {
		sw := weightOf(s.ch)
		if w < 0 || sw < w {
			w = sw
		}
	}
	return w
}

// Weighted is a channel that knows its capacity, which combo channels combine: a selective
// channel's is the sum of its sub-channels', a parallel channel's the minimum.
type Weighted interface{ Weight() int }

func weightOf(ch actors.Channel) int {
	if w, ok := ch.(Weighted); ok {
		return w.Weight()
	}
	return 0
}

// Call makes a parallel call and waits for it. See [actors.Channel].
func (p *ParallelChannel) Call(ctx context.Context, method string, req, resp proto.Message, cntl *actors.Controller) error {
	return p.Go(ctx, method, req, resp, cntl, nil).Wait()
}

// Go starts a parallel call. See [actors.Channel].
func (p *ParallelChannel) Go(ctx context.Context, method string, req, resp proto.Message, cntl *actors.Controller, done func(*actors.Controller)) *actors.Call {
	return goCall(p.rt, "ParallelChannel", "NewParallelChannel", p.spec, p.icpt, ctx, method, req, resp, cntl, done)
}

func (p *ParallelChannel) spec(method string, req, resp proto.Message, cntl *callrt.Controller) *callrt.Spec {
	subs := p.subList()
	pc := &parallelCall{ch: p, subs: subs}
	pc.spec = callrt.Spec{Method: method, Request: req, Response: resp, Controller: cntl,
		Engine: pc, Timeout: p.opts.Timeout, Target: "parallel channel", Subs: len(subs), Call: &pc.call}
	return p.own.track(&pc.spec)
}

// Close makes later calls fail at once with ErrClosed; calls in flight complete normally, and
// the owned sub-channels are closed, once each, when the last of them ended — before Close
// returns, with their errors, when none is in flight. Close is idempotent.
func (p *ParallelChannel) Close() error { return p.own.close() }

// closeOwned closes the owned sub-channels.
func (p *ParallelChannel) closeOwned() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for ch, owned := range p.owned {
		if owned {
			errs = append(errs, ch.Close())
		}
	}
	return errors.Join(errs...)
}

// errClosedChannel is the error of a call on a closed combo channel.
func errClosedChannel(c *callrt.Call) *wire.Error {
	return c.Errorf(wire.ELOGOFF, actors.ErrClosed, "channel is closed")
}

// timeoutOrDefault applies the rule for zero to a combo channel's Timeout: 0 is the default,
// negative is none.
func timeoutOrDefault(d time.Duration) time.Duration {
	if d == 0 {
		return actors.DefaultTimeout
	}
	return max(d, actors.NoTimeout)
}

// isNil reports whether ch is nil, or a nil pointer in an interface.
func isNil(ch actors.Channel) bool {
	if ch == nil {
		return true
	}
	v := reflect.ValueOf(ch)
	return v.Kind() == reflect.Pointer && v.IsNil()
}
