package combo

import (
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/internal/callrt"
	"github.com/troupe-rpc/troupe/wire"
)

// hashingCall is the engine of a partitioned call. Its fields belong to the call's actor.
type hashingCall struct {
	h   *HashingPartitioner
	st  *hashState // the partitions the call started with
	pm  PartitionedMethod
	sub []*partSub // one per partition touched, ascending partition
	// pending counts the sub-calls that have not reported.
	pending int
	endErr  *wire.Error
	shown   progress
}

// partSub is one partition's sub-call.
type partSub struct {
	part int // the partition's position in the call's hashState, or its logical id
	call *callrt.Call
	resp proto.Message
	inst *customInstance // the instance a custom-partitioned sub-call went to
	done bool
	err  error
}

// Prepare refuses a call on a closed partitioner.
func (p *hashingCall) Prepare(c *callrt.Call) error {
	if p.h.closed.Load() {
		return errClosedChannel(c)
	}
	return nil
}

// Release has nothing to release: the sub-calls stop with the call.
func (*hashingCall) Release(*callrt.Call) {}

func (p *hashingCall) Start(c *callrt.Call) {
	h := p.h
	h.calls.Add(1)
	pm, ok := h.methods[c.Method()]
	if !ok {
		c.Finish(c.Errorf(wire.EREQUEST, &NoPartitioningKeysError{Method: c.Method()}, "no partitioning keys for method %s", c.Method()))
		return
	}
	p.pm = pm
	h.revive(time.Now())
	p.st = h.state.Load()
	if len(p.st.ids) == 0 {
		c.Finish(c.Errorf(wire.ENODATA, nil, "the hashing partitioner has no partition"))
		return
	}
	groups, err := p.split(c)
	if err != nil {
		h.mergeFailures.Add(1)
		c.Finish(err)
		return
	}
	reqs := make([]proto.Message, len(groups))
	for k, g := range groups {
		if reqs[k], err = p.mergeRequests(c, g.part, g.reqs); err != nil {
			h.mergeFailures.Add(1)
			c.Finish(err)
			return
		}
	}
	main := c.Controller()
	p.sub = make([]*partSub, len(groups))
	p.pending = len(groups)
	h.fanOut.Add(int64(len(groups)))
	for k, g := range groups {
		p.sub[k] = &partSub{part: g.part, resp: p.merger().newResponse(c)}
	}
	subs := inheritAll(main, len(p.sub), nil)
	main.SetSubs(subs)
	for k, s := range p.sub {
		s.call = childStarter(p.st.chans[s.part])(c, k, c.Method(), reqs[k], s.resp, subs[k])
	}
	p.status(c)
}

// group is the sub-requests bound for one partition, in key order.
type group struct {
	part int
	reqs []proto.Message
}

// split runs Split under recover and groups its sub-requests per partition.
func (p *hashingCall) split(c *callrt.Call) (groups []group, werr *wire.Error) {
	defer func() {
		if r := recover(); r != nil {
			werr = c.Errorf(wire.EREQUEST, nil, "Split of %s panicked: %v", c.Method(), r)
		}
	}()
	keyed, err := p.pm.Split(c.Request())
	if err != nil {
		return nil, wrapErr(c, wire.EREQUEST, err, "Split")
	}
	if len(keyed) == 0 {
		return nil, c.Errorf(wire.EREQUEST, &NoPartitioningKeysError{Method: c.Method()}, "Split of %s returned no keys", c.Method())
	}
	h := p.h
	r := p.st.ring.Load()
	keys := make([]string, 0, len(keyed))
	for k := range keyed {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	at := map[int]int{}
	for _, k := range keys {
		part, _ := h.lookup(r, k)
		i, ok := at[part]
		if !ok {
			i = len(groups)
			at[part] = i
			groups = append(groups, group{part: part})
		}
		groups[i].reqs = append(groups[i].reqs, keyed[k])
	}
	slices.SortFunc(groups, func(a, b group) int { return a.part - b.part })
	return groups, nil
}

// mergeRequests combines the sub-requests of one partition under recover.
func (p *hashingCall) mergeRequests(c *callrt.Call, part int, reqs []proto.Message) (out proto.Message, werr *wire.Error) {
	if len(reqs) == 1 {
		return reqs[0], nil
	}
	if p.pm.MergeRequests == nil {
		return nil, c.Errorf(wire.EREQUEST, nil, "%d keys of %s map to partition %d and the method has no MergeRequests", len(reqs), c.Method(), p.st.ids[part])
	}
	defer func() {
		if r := recover(); r != nil {
			werr = c.Errorf(wire.EREQUEST, nil, "MergeRequests of %s panicked: %v", c.Method(), r)
		}
	}()
	out, err := p.pm.MergeRequests(reqs)
	if err != nil {
		return nil, wrapErr(c, wire.EREQUEST, err, "MergeRequests")
	}
	if out == nil {
		return nil, c.Errorf(wire.EREQUEST, nil, "MergeRequests of %s returned nil", c.Method())
	}
	return out, nil
}

// merger merges with the method's functions.
func (p *hashingCall) merger() answerMerger {
	return answerMerger{merge: p.pm.MergeResponses, newResp: p.pm.NewResponse}
}

func (p *hashingCall) status(*callrt.Call) { p.shown.set(p.pending, len(p.sub), 0) }

// Status says what the call waits for, for Inspect; it is called from any goroutine.
func (p *hashingCall) Status() string {
	pending, total, _ := p.shown.get()
	return fmt.Sprintf("%d of %d partitions pending", pending, total)
}

func (p *hashingCall) Receive(c *callrt.Call, msg any) {
	d, ok := msg.(*callrt.ChildDone)
	if !ok || d.Index < 0 || d.Index >= len(p.sub) || p.sub[d.Index].done {
		return
	}
	s := p.sub[d.Index]
	s.done, s.err = true, d.Call.Err()
	p.pending--
	p.h.subResult(p.st.health[s.part], s.err)
	p.status(c)
	if p.pending == 0 {
		p.finish(c)
	}
}

// End stops the sub-calls still running; the call ends with err once they all reported.
func (p *hashingCall) End(c *callrt.Call, err *wire.Error) {
	if p.endErr == nil {
		p.endErr = err
	}
	if p.pending == 0 {
		p.finish(c)
		return
	}
	abortSubs(c, p.sub, err)
}

// abortSubs stops the sub-calls of a partitioned call that have not reported; they report
// ECANCELED.
func abortSubs(c *callrt.Call, subs []*partSub, err *wire.Error) {
	sub := c.Errorf(wire.ECANCELED, nil, "the partitioned call ended: %s", err.Text)
	for _, s := range subs {
		if !s.done && s.call != nil {
			s.call.Abort(sub)
		}
	}
}

// finish merges the answers once every sub-call reported.
func (p *hashingCall) finish(c *callrt.Call) {
	if p.endErr != nil {
		c.Finish(p.endErr)
		return
	}
	c.Finish(mergeSubs(c, p.sub, p.merger(), &p.h.mergeFailures))
}

// mergeSubs merges the answers of a partitioned call's sub-calls, all reported, into its
// response and returns the call's error, counting a failed merge in mergeFailures.
func mergeSubs(c *callrt.Call, subs []*partSub, m answerMerger, mergeFailures *atomic.Int64) error {
	var succ []proto.Message
	var fails []error
	for _, s := range subs {
		if s.err != nil {
			fails = append(fails, s.err)
		} else {
			succ = append(succ, s.resp)
		}
	}
	err, mergeFailed := m.result(c, succ, fails)
	if mergeFailed {
		mergeFailures.Add(1)
	}
	return err
}
