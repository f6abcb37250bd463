package combo

import (
	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/internal/callrt"
	"github.com/troupe-rpc/troupe/wire"
)

// answerMerger combines the answers of a partitioned call's sub-calls, for both partitioners.
type answerMerger struct {
	merge   func(successes []proto.Message, failures []error) (proto.Message, error)
	newResp func() proto.Message
}

// newResponse returns a fresh message for one partition's answer.
func (m answerMerger) newResponse(c *callrt.Call) proto.Message {
	if m.newResp != nil {
		if r := m.newResp(); r != nil {
			return r
		}
	}
	return c.Response().ProtoReflect().New().Interface()
}

// result merges the answers into the call's response and returns the call's error: without a
// merge function, the first failure or the successes merged with proto.Merge; with one, what it
// decides (one of the failures it was given is passed on unchanged, as Finagle's
// Throw(failures.head)). mergeFailed tells a failure of the merge itself from a sub-call's.
func (m answerMerger) result(c *callrt.Call, succ []proto.Message, fails []error) (err error, mergeFailed bool) {
	if m.merge == nil && len(fails) > 0 {
		return fails[0], false
	}
	out, err := m.run(c, succ, fails)
	if p, ok := err.(errPassed); ok {
		return p.error, false
	}
	resp := c.Response()
	if err == nil && out != nil && out.ProtoReflect().Descriptor() != resp.ProtoReflect().Descriptor() {
		err = c.Errorf(wire.ERESPONSE, nil, "MergeResponses of %s returned a %s, want a %s", c.Method(),
			out.ProtoReflect().Descriptor().FullName(), resp.ProtoReflect().Descriptor().FullName())
	}
	if err != nil {
		return err, true
	}
	if out != resp {
		proto.Reset(resp)
		if out != nil {
			proto.Merge(resp, out)
		}
	}
	return nil, false
}

// run runs the merge function under recover, or the default merge.
func (m answerMerger) run(c *callrt.Call, succ []proto.Message, fails []error) (out proto.Message, werr error) {
	if m.merge == nil {
		out = m.newResponse(c)
		for _, s := range succ {
			proto.Merge(out, s)
		}
		return out, nil
	}
	defer func() {
		if r := recover(); r != nil {
			werr = c.Errorf(wire.ERESPONSE, nil, "MergeResponses of %s panicked: %v", c.Method(), r)
		}
	}()
	out, err := m.merge(succ, fails)
	if err != nil {
		for _, f := range fails {
			if err == f {
				return nil, errPassed{f} // a sub-call's failure, passed on as it is
			}
		}
		return nil, wrapErr(c, wire.ERESPONSE, err, "MergeResponses")
	}
	return out, nil
}

// errPassed is a sub-call's failure that MergeResponses chose as the call's result.
type errPassed struct{ error }

// wrapErr makes err the call's error, keeping its own code if it has one.
func wrapErr(c *callrt.Call, code wire.Errno, err error, what string) *wire.Error {
	if n := wire.ErrnoOf(err); n != 0 && n != wire.EINTERNAL {
		code = n
	}
	return c.Errorf(code, err, "%s of %s failed: %v", what, c.Method(), err)
}
