package combo

import (
	"fmt"
	"runtime/debug"
	"strings"
	"sync/atomic"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/internal/callrt"
	"github.com/troupe-rpc/troupe/wire"
)

// parallelCall is the engine of a parallel call, with the call and its Spec inline so that a
// call costs one allocation for all three. Its fields belong to the call's actor, but for the
// counts Status reads.
type parallelCall struct {
	call callrt.Call
	spec callrt.Spec
	ch   *ParallelChannel
	subs []subChannel // the sub-channels when the call started

	started   []started // the sub-calls made, in sub-channel order (skipped ones absent)
	cntls     []*callrt.Controller
	pending   int
	nfailed   int
	shown     progress
	nsuccess  int
	failLimit int
	succLimit int
	merged    int         // started[:merged] are merged (or failed)
	endErr    *wire.Error // why the call was ended early (timeout, cancel, merge failure)
	mergeErr  *wire.Error
}

// started is one sub-call of a parallel call.
type started struct {
	index  int // the sub-channel's index
	call   *callrt.Call
	merger ResponseMerger
	resp   proto.Message
	done   bool
	err    error
	// merge is the sub-call's failure to merge (its merger returned Fail), which counts as its
	// error in the call's: ERESPONSE.
	merge *wire.Error
}

// failure returns the sub-call's error, or its failure to merge.
func (s *started) failure() error {
	if s.err == nil && s.merge != nil {
		return s.merge
	}
	return s.err
}

// Prepare refuses a call on a closed channel.
func (p *parallelCall) Prepare(c *callrt.Call) error {
	if p.ch.closed.Load() {
		return errClosedChannel(c)
	}
	return nil
}

// Release has nothing to release: the sub-calls stop with the call.
func (*parallelCall) Release(*callrt.Call) {}

func (p *parallelCall) Start(c *callrt.Call) {
	n := len(p.subs)
	p.cntls = make([]*callrt.Controller, n)
	c.Controller().SetSubs(p.cntls)
	if n == 0 {
		c.Finish(c.Errorf(wire.EPERM, nil, "No channels added"))
		return
	}
	calls, err := p.mapAll(c, n)
	if err != nil {
		c.Finish(err)
		return
	}
	if len(calls) == 0 {
		c.Finish(c.Errorf(wire.ECANCELED, nil, "Skipped all channels(%d)", n))
		return
	}
	p.limits(len(calls))
	p.startAll(c, calls)
}

// mapped is a sub-call the mapper asked for, with its Controller.
type mapped struct {
	index int
	sub   SubCall
	cntl  *callrt.Controller
}

// mapAll asks each sub-channel's mapper for its sub-call, in index order; Bad stops at once.
func (p *parallelCall) mapAll(c *callrt.Call, n int) (out []mapped, err *wire.Error) {
	out = make([]mapped, 0, n)
	var cntls []callrt.Controller // the sub-calls' Controllers, made together
	for i, s := range p.subs {
		sub, perr := p.mapOne(c, i, s)
		if perr != nil {
			return nil, perr
		}
		if sub.Skipped() {
			continue
		}
		if sub.IsBad() {
			return nil, c.Errorf(wire.EREQUEST, nil, "CallMapper of channel[%d] returns Bad()", i)
		}
		if cntls == nil {
			cntls = make([]callrt.Controller, n)
		}
		cntl, perr := mapController(c, i, sub, &cntls[i])
		if perr != nil {
			return nil, perr
		}
		out = append(out, mapped{i, sub, cntl})
	}
	return out, nil
}

// mapController makes sub-call i's Controller: the call's settings, changed by the SubCall's
// MapController under recover, then the call's timeout (disabled: the call's deadline governs),
// retry limit and backup request whatever it set.
func mapController(c *callrt.Call, i int, sub SubCall, into *callrt.Controller) (cntl *callrt.Controller, err *wire.Error) {
	main := c.Controller()
	cntl = into
	inherit(cntl, main)
	if sub.MapController == nil {
		return cntl, nil
	}
	defer func() {
		if r := recover(); r != nil {
			cntl, err = nil, c.Errorf(wire.EREQUEST, nil, "MapController of channel[%d] panicked: %v\n%s", i, r, debug.Stack())
		}
	}()
	sub.MapController(publicCntl(main), publicCntl(cntl))
	cntl.SetTimeout(actors.NoTimeout)
	cntl.InheritRetries(main)
	return cntl, nil
}

// mapOne runs one mapper under recover; no mapper broadcasts the request with a fresh response.
func (p *parallelCall) mapOne(c *callrt.Call, i int, s subChannel) (sub SubCall, err *wire.Error) {
	if s.mapper == nil {
		return SubCall{Method: c.Method(), Request: c.Request(), Response: c.Response().ProtoReflect().New().Interface()}, nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = c.Errorf(wire.EREQUEST, nil, "CallMapper of channel[%d] panicked: %v\n%s", i, r, debug.Stack())
		}
	}()
	sub = s.mapper.Map(i, len(p.subs), c.Method(), c.Request(), c.Response())
	if !sub.Skipped() && sub.Method == "" {
		sub.Method = c.Method()
	}
	return sub, nil
}

// limits applies brpc's defaults and clamping to the fail and success limits.
func (p *parallelCall) limits(ndone int) {
	o := p.ch.opts
	p.failLimit, p.succLimit = ndone, ndone
	if o.FailLimit > 0 {
		p.failLimit = min(o.FailLimit, ndone)
	} else if o.SuccessLimit > 0 {
		p.succLimit = min(o.SuccessLimit, ndone)
	}
}

// startAll starts the sub-calls back to back, so that their frames leave together.
func (p *parallelCall) startAll(c *callrt.Call, calls []mapped) {
	p.started = make([]started, len(calls))
	p.pending = len(calls)
	p.show()
	for k, m := range calls {
		s := p.subs[m.index]
		p.cntls[m.index] = m.cntl
		merger := s.merger
		if merger == nil {
			merger = defaultMerger
		}
		p.started[k] = started{index: m.index, merger: merger, resp: m.sub.Response}
		p.started[k].call = s.start(c, k, m.sub.Method, m.sub.Request, m.sub.Response, m.cntl)
	}
}

// defaultMerger merges with proto.Merge, brpc's default.
var defaultMerger ResponseMerger = ResponseMergerFunc(defaultMerge)

// inherit gives into, a sub-call's Controller, the settings of the main call that brpc passes
// down, and, as brpc, a disabled timeout: the combo call's deadline governs.
func inherit(into, main *callrt.Controller) {
	inheritInto(into, main)
	into.InheritRetries(main)
}

// inheritAll makes n sub-calls' Controllers with inherit, in one allocation; with want, only
// those it wants (the others are nil).
func inheritAll(main *callrt.Controller, n int, want func(k int) bool) []*callrt.Controller {
	subs := make([]*callrt.Controller, n)
	cntls := make([]callrt.Controller, n)
	for k := range subs {
		if want == nil || want(k) {
			subs[k] = &cntls[k]
			inherit(subs[k], main)
		}
	}
	return subs
}

// inheritAttempt gives an attempt of a selective call the settings brpc passes down to it: not
// the retry limit nor the backup request, which the selective call applies across its
// sub-channels (each sub-channel keeps its own). Its timeout is disabled (NoTimeout), as brpc's
// sub controllers report it: the combo call's deadline governs, not the sub-channel's timeout.
func inheritAttempt(main *callrt.Controller) *callrt.Controller {
	sub := new(callrt.Controller)
	inheritInto(sub, main)
	return sub
}

// inheritInto is inheritAttempt into a Controller the caller provides.
func inheritInto(sub, main *callrt.Controller) {
	copySettings(sub, main)
	sub.SetTimeout(actors.NoTimeout)
}

// show publishes the counts Status reports.
func (p *parallelCall) show() { p.shown.set(p.pending, len(p.started), p.nfailed) }

// Status says what the call waits for, for Inspect; it is called from any goroutine.
func (p *parallelCall) Status() string {
	pending, total, failed := p.shown.get()
	return fmt.Sprintf("%d of %d sub-calls pending, %d failed", pending, total, failed)
}

// progress is what a combo call's Status reports — its sub-calls pending, in all and failed —
// published by the call's actor as they change and read by Inspect from any goroutine. Making
// the words only when Inspect asks keeps a sub-call's end free of formatting.
type progress struct{ v atomic.Uint64 }

const progressMask = 1<<21 - 1

func (p *progress) set(pending, total, failed int) {
	p.v.Store(uint64(pending&progressMask) | uint64(total&progressMask)<<21 | uint64(failed&progressMask)<<42)
}

func (p *progress) get() (pending, total, failed int) {
	v := p.v.Load()
	return int(v & progressMask), int(v >> 21 & progressMask), int(v >> 42 & progressMask)
}

func (p *parallelCall) Receive(c *callrt.Call, msg any) {
	d, ok := msg.(*callrt.ChildDone)
	if !ok || d.Index < 0 || d.Index >= len(p.started) || p.started[d.Index].done {
		return
	}
	s := &p.started[d.Index]
	s.done, s.err = true, d.Call.Err()
	p.pending--
	switch {
	case s.err == nil:
		p.nsuccess++
		if p.nsuccess == p.succLimit && p.pending > 0 {
			p.abortPending(c.Errorf(wire.EPCHANFINISH, nil, "the parallel call finished"))
		}
	case wire.ErrnoOf(s.err) != wire.EPCHANFINISH:
		p.failed(c)
	}
	p.mergeReady(c)
	p.show()
	p.maybeFinish(c)
}

// failed counts a failure; reaching the fail limit cancels the sub-calls still running.
func (p *parallelCall) failed(c *callrt.Call) {
	p.nfailed++
	if p.nfailed == p.failLimit && p.pending > 0 {
		p.abortPending(c.Errorf(wire.ECANCELED, nil, "fail_limit=%d reached", p.failLimit))
	}
}

func (p *parallelCall) abortPending(err *wire.Error) {
	for i := range p.started {
		if s := &p.started[i]; !s.done {
			s.call.Abort(err)
		}
	}
}

// mergeReady merges the answers whose predecessors have all reported, in sub-channel order.
func (p *parallelCall) mergeReady(c *callrt.Call) {
	for p.merged < len(p.started) && p.started[p.merged].done {
		s := &p.started[p.merged]
		p.merged++
		if s.err != nil || p.nfailed >= p.failLimit || p.mergeErr != nil {
			continue
		}
		p.mergeOne(c, s)
	}
}

// mergeOne runs one merger under recover. A merger that fails the call (FailAll, or a panic)
// stops the sub-calls still running: the call's result is decided.
func (p *parallelCall) mergeOne(c *callrt.Call, s *started) {
	defer func() {
		if r := recover(); r != nil {
			p.failAll(c, c.Errorf(wire.ERESPONSE, nil, "ResponseMerger of channel[%d] panicked: %v", s.index, r))
		}
	}()
	switch s.merger.Merge(c.Response(), s.resp) {
	case Fail:
		s.merge = c.Errorf(wire.ERESPONSE, nil, "Fail to merge response of channel[%d]", s.index)
		p.failed(c)
	case FailAll:
		p.failAll(c, c.Errorf(wire.ERESPONSE, nil, "Fail to merge response of channel[%d]", s.index))
	}
}

// failAll fails the whole call with err once its sub-calls reported, stopping those still running.
func (p *parallelCall) failAll(c *callrt.Call, err *wire.Error) {
	p.mergeErr = err
	p.nfailed = len(p.started)
	p.abortPending(c.Errorf(wire.ECANCELED, nil, "a merge failed"))
}

// End cancels the sub-calls still running; the call ends once they all reported.
func (p *parallelCall) End(c *callrt.Call, err *wire.Error) {
	if p.endErr == nil {
		p.endErr = err
	}
	if p.pending == 0 {
		p.finish(c)
		return
	}
	sub := c.Errorf(wire.ECANCELED, nil, "the parallel call ended: %s", err.Text)
	p.abortPending(sub)
}

func (p *parallelCall) maybeFinish(c *callrt.Call) {
	if p.pending == 0 {
		p.finish(c)
	}
}

// finish decides the call's result once every sub-call reported: a success when fewer than
// fail_limit failed (brpc's rule, even after a timeout or a cancel, unless Strict), else the
// common code of the failures, ETOOMANYFAILS when they differ.
func (p *parallelCall) finish(c *callrt.Call) {
	switch {
	case p.mergeErr != nil:
		c.Finish(p.withSubs(p.mergeErr))
	case p.nfailed < p.failLimit && (p.endErr == nil || !p.ch.opts.Strict):
		c.Finish(nil)
	case p.endErr != nil:
		c.Finish(p.withSubs(p.endErr))
	default:
		c.Finish(p.unified(c))
	}
}

// unified builds brpc's error for too many failed sub-calls.
func (p *parallelCall) unified(c *callrt.Call) *wire.Error {
	var code wire.Errno
	mixed := false
	var text strings.Builder
	fmt.Fprintf(&text, "%d/%d channels failed, fail_limit=%d", p.nfailed, len(p.started), p.failLimit)
	for i := range p.started {
		s := &p.started[i]
		err := s.failure()
		e := wire.ErrnoOf(err)
		if e == 0 || e == wire.EPCHANFINISH {
			continue
		}
		fmt.Fprintf(&text, " [C%d]%s", s.index, partText(err))
		if e == wire.ECANCELED {
			continue
		}
		if code != 0 && code != e {
			mixed = true
		}
		code = e
	}
	switch {
	case code == 0:
		code = wire.ECANCELED
	case mixed:
		code = wire.ETOOMANYFAILS
	}
	return p.withSubs(c.Errorf(code, nil, "%s", text.String()))
}

// withSubs attaches every sub-call's error to err, for errors.As.
func (p *parallelCall) withSubs(err *wire.Error) *wire.Error {
	subs := &SubErrors{Errs: make([]error, len(p.subs))}
	for i := range p.started {
		subs.Errs[p.started[i].index] = p.started[i].failure()
	}
	e := *err
	if e.Err == nil {
		e.Err = subs
	} else {
		e.Err = &wrapped{cause: e.Err, subs: subs}
	}
	return &e
}
