package combo

import (
	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
)

// SubCall is what a [CallMapper] returns for one sub-channel: the method, request and response of
// its sub-call, or [Skip] or [Bad], and how its Controller differs from the call's.
type SubCall struct {
	Method   string
	Request  proto.Message
	Response proto.Message
	// MapController, when set, sets up the sub-call's Controller before any sub-call starts, as
	// brpc's CallMapper::MapController does. sub comes with the settings the sub-call inherits
	// from main, the call's Controller: log id, request code, request id, compression and
	// request attachment; MapController may change any of them (SetLogID, SetRequestCode,
	// SetRequestID, SetCompressType, SetRequestAttachment). main is for reading only. The
	// sub-call's timeout, retry limit and backup request always come from the call, whatever
	// MapController sets: the call's deadline governs its sub-calls, and they retry as main
	// says. A panic fails the call with EREQUEST. nil (the default) leaves sub as inherited.
	MapController func(main, sub *actors.Controller)
	skip          bool
}

// Skip returns a SubCall that skips the sub-channel: no sub-call is made, and Sub(i) stays nil.
// A call whose sub-channels are all skipped fails with ECANCELED.
func Skip() SubCall { return SubCall{skip: true} }

// Bad returns a SubCall that fails the whole call with EREQUEST before any sub-call starts.
func Bad() SubCall { return SubCall{} }

// Skipped reports whether s is Skip().
func (s SubCall) Skipped() bool { return s.skip }

// IsBad reports whether s is Bad(): a request or response is missing.
func (s SubCall) IsBad() bool { return !s.skip && (s.Request == nil || s.Response == nil) }

// CallMapper maps a call on a parallel channel to the sub-call of sub-channel index (of count).
// It runs in the call's actor, for each sub-channel in index order.
type CallMapper interface {
	Map(index, count int, method string, req, resp proto.Message) SubCall
}

// CallMapperFunc is a function that is a CallMapper.
type CallMapperFunc func(index, count int, method string, req, resp proto.Message) SubCall

// Map calls f.
func (f CallMapperFunc) Map(index, count int, method string, req, resp proto.Message) SubCall {
	return f(index, count, method, req, resp)
}

// MergeResult is what a [ResponseMerger] made of one sub-call's response.
type MergeResult int

const (
	// Merged: the sub-response was merged into the call's response.
	Merged MergeResult = iota
	// Fail: this sub-call counts as failed (toward FailLimit); merging goes on. When the
	// failures reach FailLimit, this sub-call's error in the call's is ERESPONSE ("Fail to merge
	// response of channel[i]"), so a call failed by its merges alone is ERESPONSE where brpc
	// reports ECANCELED.
	Fail
	// FailAll: the whole call fails with ERESPONSE.
	FailAll
)

// ResponseMerger merges a sub-call's response into the call's response. It runs in the call's
// actor, one sub-response at a time, in sub-channel order.
type ResponseMerger interface {
	Merge(resp, sub proto.Message) MergeResult
}

// ResponseMergerFunc is a function that is a ResponseMerger.
type ResponseMergerFunc func(resp, sub proto.Message) MergeResult

// Merge calls f.
func (f ResponseMergerFunc) Merge(resp, sub proto.Message) MergeResult { return f(resp, sub) }

// defaultMerge is brpc's MergeFrom: repeated fields append, the rest overwrite.
func defaultMerge(resp, sub proto.Message) MergeResult {
	proto.Merge(resp, sub)
	return Merged
}
