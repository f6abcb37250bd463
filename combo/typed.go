package combo

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/wire"
)

// Typed partitioning: the functions of a [PartitionedMethod] or a [CustomMethod] written with the
// method's own request and response types, with no type assertions. A call whose request or
// response is of another type fails with EREQUEST or ERESPONSE naming both types, rather than
// reaching the functions.

// TypedPartitionedMethod is a [PartitionedMethod] of a method whose requests are Req and
// responses Resp (pointers to generated messages, such as *kvpb.GetRequest). Method turns it
// into the PartitionedMethod a [HashingPartitioner] takes; a nil function stays nil, with its
// default meaning.
type TypedPartitionedMethod[Req, Resp proto.Message] struct {
	// Split is [PartitionedMethod.Split].
	Split func(req Req) (map[string]Req, error)
	// MergeRequests is [PartitionedMethod.MergeRequests].
	MergeRequests func(reqs []Req) (Req, error)
	// MergeResponses is [PartitionedMethod.MergeResponses].
	MergeResponses func(successes []Resp, failures []error) (Resp, error)
	// NewResponse is [PartitionedMethod.NewResponse].
	NewResponse func() Resp
}

// Method returns the untyped PartitionedMethod that calls m's functions.
func (m TypedPartitionedMethod[Req, Resp]) Method() PartitionedMethod {
	var pm PartitionedMethod
	if m.Split != nil {
		pm.Split = func(req proto.Message) (map[string]proto.Message, error) {
			r, err := asRequest[Req](req)
			if err != nil {
				return nil, err
			}
			keyed, err := m.Split(r)
			if err != nil {
				return nil, err
			}
			out := make(map[string]proto.Message, len(keyed))
			for k, sub := range keyed {
				out[k] = sub
			}
			return out, nil
		}
	}
	if m.MergeRequests != nil {
		pm.MergeRequests = func(reqs []proto.Message) (proto.Message, error) {
			typed := make([]Req, len(reqs))
			for i, r := range reqs {
				var err error
				if typed[i], err = asRequest[Req](r); err != nil {
					return nil, err
				}
			}
			merged, err := m.MergeRequests(typed)
			if err != nil || isNilMessage(merged) {
				return nil, err
			}
			return merged, nil
		}
	}
	pm.MergeResponses = typedMerger(m.MergeResponses)
	pm.NewResponse = typedNew(m.NewResponse)
	return pm
}

// TypedCustomMethod is a [CustomMethod] of a method whose requests are Req and responses Resp.
// Method turns it into the CustomMethod a [CustomPartitioner] takes; a nil function stays nil,
// with its default meaning.
type TypedCustomMethod[Req, Resp proto.Message] struct {
	// Partition is [CustomMethod.Partition].
	Partition func(ctx context.Context, req Req) (map[int]Req, error)
	// MergeResponses is [CustomMethod.MergeResponses].
	MergeResponses func(successes []Resp, failures []error) (Resp, error)
	// NewResponse is [CustomMethod.NewResponse].
	NewResponse func() Resp
}

// Method returns the untyped CustomMethod that calls m's functions.
func (m TypedCustomMethod[Req, Resp]) Method() CustomMethod {
	var cm CustomMethod
	if m.Partition != nil {
		cm.Partition = func(ctx context.Context, req proto.Message) (map[int]proto.Message, error) {
			r, err := asRequest[Req](req)
			if err != nil {
				return nil, err
			}
			parts, err := m.Partition(ctx, r)
			if err != nil {
				return nil, err
			}
			out := make(map[int]proto.Message, len(parts))
			for id, sub := range parts {
				out[id] = sub
			}
			return out, nil
		}
	}
	cm.MergeResponses = typedMerger(m.MergeResponses)
	cm.NewResponse = typedNew(m.NewResponse)
	return cm
}

func typedMerger[Resp proto.Message](merge func([]Resp, []error) (Resp, error)) func([]proto.Message, []error) (proto.Message, error) {
	if merge == nil {
		return nil
	}
	return func(successes []proto.Message, failures []error) (proto.Message, error) {
		typed := make([]Resp, len(successes))
		for i, s := range successes {
			r, ok := s.(Resp)
			if !ok {
				return nil, wire.Errorf(wire.ERESPONSE, fmt.Sprintf("a partition answered with a %T, the merger takes %s", s, typeName[Resp]()))
			}
			typed[i] = r
		}
		merged, err := merge(typed, failures)
		if err != nil || isNilMessage(merged) {
			return nil, err
		}
		return merged, nil
	}
}

func typedNew[Resp proto.Message](newResp func() Resp) func() proto.Message {
	if newResp == nil {
		return nil
	}
	return func() proto.Message { return newResp() }
}

// asRequest returns m as a Req, or EREQUEST naming both types.
func asRequest[Req proto.Message](m proto.Message) (Req, error) {
	r, ok := m.(Req)
	if !ok {
		var zero Req
		return zero, wire.Errorf(wire.EREQUEST, fmt.Sprintf("the request is a %T, the method's partitioning takes %s", m, typeName[Req]()))
	}
	return r, nil
}

// isNilMessage reports whether m is nil or a nil pointer: the untyped functions' nil.
func isNilMessage(m proto.Message) bool {
	return m == nil || !m.ProtoReflect().IsValid()
}

func typeName[T any]() string {
	var zero T
	return fmt.Sprintf("%T", zero)
}
