package combo_test

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// A typed partitioning method refuses a request or an answer of another type with a clear error,
// before its functions see it; with the method's own types it partitions as the untyped one.
func TestTypedPartitioningChecksTypes(t *testing.T) {
	sys := newSystem(t)
	svcs, chans := partitionCluster(t, sys, make([]string, 2))
	var splits, merges int
	method := combo.TypedPartitionedMethod[*echopb.EchoRequest, *echopb.EchoResponse]{
		Split: func(req *echopb.EchoRequest) (map[string]*echopb.EchoRequest, error) {
			splits++
			out := map[string]*echopb.EchoRequest{}
			for _, k := range strings.Split(req.GetMessage(), ",") {
				out[k] = echoReq(k)
			}
			return out, nil
		},
		MergeRequests: func(reqs []*echopb.EchoRequest) (*echopb.EchoRequest, error) {
			keys := make([]string, len(reqs))
			for i, r := range reqs {
				keys[i] = r.GetMessage()
			}
			return echoReq(strings.Join(keys, ",")), nil
		},
		MergeResponses: func(succ []*echopb.EchoResponse, fails []error) (*echopb.EchoResponse, error) {
			merges++
			if len(fails) > 0 {
				return nil, fails[0]
			}
			n := 0
			for _, r := range succ {
				n += len(strings.Split(r.GetMessage(), ","))
			}
			return &echopb.EchoResponse{Message: proto.String(strings.Repeat("k", n))}, nil
		},
	}.Method()
	h, err := combo.NewHashingPartitioner(sys, chans, map[string]combo.PartitionedMethod{echoservice.Method: method}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })

	resp := &echopb.EchoResponse{}
	if err := h.Call(t.Context(), echoservice.Method, echoReq("a,b,c,d,e,f"), resp, nil); err != nil || resp.GetMessage() != "kkkkkk" {
		t.Fatalf("Call = %q, %v, want six keys answered", resp.GetMessage(), err)
	}

	err = h.Call(t.Context(), echoservice.Method, wrapperspb.String("a,b"), resp, nil)
	wantErrno(t, "Call with a request of another type", err, wire.EREQUEST)
	if !strings.Contains(err.Error(), "*wrapperspb.StringValue") || !strings.Contains(err.Error(), "*echopb.EchoRequest") {
		t.Errorf("error = %q, want it to name both request types", err)
	}

	// The answers go into messages of the caller's response type, which the merger does not take.
	err = h.Call(t.Context(), echoservice.Method, echoReq("a,b"), wrapperspb.String(""), nil)
	wantErrno(t, "Call with a response of another type", err, wire.ERESPONSE)
	if !strings.Contains(err.Error(), "*wrapperspb.StringValue") || !strings.Contains(err.Error(), "*echopb.EchoResponse") {
		t.Errorf("error = %q, want it to name both response types", err)
	}
	if splits != 2 || merges != 1 {
		t.Errorf("Split ran %d times and MergeResponses %d, want 2 and 1: a wrong type never reaches them", splits, merges)
	}
	var served int64
	for _, s := range svcs {
		served += s.Requests()
	}
	if served < 2 || served > 4 {
		t.Errorf("servers got %d requests, want those of the two calls that passed the request check", served)
	}
	noCallsLeft(t, sys)
}
