package combo

import (
	"context"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/internal/callrt"
	"github.com/troupe-rpc/troupe/wire"
)

var _ actors.Channel = (*CustomPartitioner)(nil)

// partitioned carries a Partition result from its goroutine to the call's actor.
type partitioned struct {
	subs map[int]proto.Message
	err  error
}

// IgnoreDeadLetterLogging: Partition may return after the call ended.
func (*partitioned) IgnoreDeadLetterLogging() {}

// customCall is the engine of a custom-partitioned call. Its fields belong to the call's actor.
type customCall struct {
	p      *CustomPartitioner
	cm     CustomMethod
	schema *customSchema
	cancel context.CancelFunc // stops the Partition goroutine
	sub    []*partSub         // one per partition, ascending partition id
	// pending counts the sub-calls that have not reported; -1 while Partition runs.
	pending int
	endErr  *wire.Error
}

// Prepare refuses a call on a closed partitioner.
func (e *customCall) Prepare(c *callrt.Call) error {
	if e.p.closed.Load() {
		return errClosedChannel(c)
	}
	return nil
}

// Release stops the Partition goroutine if it still runs.
func (e *customCall) Release(*callrt.Call) {
	if e.cancel != nil {
		e.cancel()
	}
}

func (e *customCall) Start(c *callrt.Call) {
	p := e.p
	p.calls.Add(1)
	cm, ok := p.methods[c.Method()]
	if !ok {
		c.Finish(c.Errorf(wire.EREQUEST, &PartitioningStrategyError{Method: c.Method()}, "no partitioning strategy for method %s", c.Method()))
		return
	}
	e.cm = cm
	e.schema = p.schema.Load()
	e.pending = -1
	var ctx context.Context
	if d, ok := c.Deadline(); ok {
		ctx, e.cancel = context.WithDeadline(context.Background(), d)
	} else {
		ctx, e.cancel = context.WithCancel(context.Background())
	}
	ctx = context.WithValue(ctx, schemaKey{}, e.schema)
	c.SetStatus("partitioning the request")
	req := c.Request()
	err := p.rt.Go(func() {
		subs, err := runPartition(ctx, cm.Partition, req)
		c.Send(&partitioned{subs: subs, err: err})
	})
	if err != nil {
		e.done(c, c.Errorf(wire.ELOGOFF, err, "troupe system is shut down"))
	}
}

// runPartition calls Partition under recover.
func runPartition(ctx context.Context, f func(context.Context, proto.Message) (map[int]proto.Message, error), req proto.Message) (subs map[int]proto.Message, err error) {
	defer func() {
		if r := recover(); r != nil {
			subs, err = nil, fmt.Errorf("Partition panicked: %v", r)
		}
	}()
	return f(ctx, req)
}

func (e *customCall) Receive(c *callrt.Call, msg any) {
	switch m := msg.(type) {
	case *partitioned:
		if e.pending == -1 && e.endErr == nil {
			e.fanOut(c, m)
		}
	case *callrt.ChildDone:
		if m.Index < 0 || m.Index >= len(e.sub) || e.sub[m.Index].done || e.sub[m.Index].call == nil {
			return
		}
		s := e.sub[m.Index]
		s.done, s.err = true, m.Call.Err()
		e.pending--
		e.p.subResult(s.inst, s.err)
		e.status(c)
		if e.pending == 0 {
			e.finish(c)
		}
	}
}

// fanOut starts one child per partition of a Partition result.
func (e *customCall) fanOut(c *callrt.Call, m *partitioned) {
	p := e.p
	if m.err != nil {
		p.mergeFailures.Add(1)
		e.done(c, wrapErr(c, wire.EREQUEST, m.err, "Partition"))
		return
	}
	if len(m.subs) == 0 {
		p.mergeFailures.Add(1)
		e.done(c, c.Errorf(wire.EREQUEST, &NoPartitioningKeysError{Method: c.Method()}, "Partition of %s returned no partitions", c.Method()))
		return
	}
	ids := make([]int, 0, len(m.subs))
	for id, r := range m.subs {
		if r == nil {
			p.mergeFailures.Add(1)
			e.done(c, c.Errorf(wire.EREQUEST, nil, "Partition of %s returned a nil request for partition %d", c.Method(), id))
			return
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	main := c.Controller()
	e.sub = make([]*partSub, len(ids))
	e.pending = 0
	p.fanOut.Add(int64(len(ids)))
	for k, id := range ids {
		s := &partSub{part: id}
		e.sub[k] = s
		if e.schema.parts[id] == nil {
			s.done = true
			s.err = c.Errorf(wire.ENODATA, nil, "no instance serves logical partition %d", id)
			p.subFailures.Add(1)
			continue
		}
		s.resp = answerMerger{newResp: e.cm.NewResponse}.newResponse(c)
		e.pending++
	}
	if e.pending == 0 {
		e.finish(c)
		return
	}
	now := time.Now().UnixNano()
	subs := inheritAll(main, len(e.sub), func(k int) bool { return !e.sub[k].done })
	main.SetSubs(subs)
	for k, s := range e.sub {
		if !s.done {
			s.inst = e.schema.parts[s.part].pick(now)
			s.call = childStarter(s.inst.ch)(c, k, c.Method(), m.subs[s.part], s.resp, subs[k])
		}
	}
	e.status(c)
}

func (e *customCall) status(c *callrt.Call) {
	c.SetStatus(fmt.Sprintf("%d of %d partitions pending", e.pending, len(e.sub)))
}

// End stops Partition or the sub-calls still running; the call ends with err at once, or once
// the sub-calls all reported.
func (e *customCall) End(c *callrt.Call, err *wire.Error) {
	if e.endErr == nil {
		e.endErr = err
	}
	if e.pending <= 0 {
		e.done(c, e.endErr)
		return
	}
	abortSubs(c, e.sub, err)
}

// done finishes the call with err; Release stops the Partition goroutine if it still runs.
func (e *customCall) done(c *callrt.Call, err error) { c.Finish(err) }

// finish merges the answers once every sub-call reported.
func (e *customCall) finish(c *callrt.Call) {
	if e.endErr != nil {
		e.done(c, e.endErr)
		return
	}
	merger := answerMerger{merge: e.cm.MergeResponses, newResp: e.cm.NewResponse}
	e.done(c, mergeSubs(c, e.sub, merger, &e.p.mergeFailures))
}
