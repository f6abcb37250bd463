package combo_test

import (
	"fmt"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// codeMapper sets code = i+1 on each sub-call's request, as brpc's success_parallel test does.
var codeMapper = combo.CallMapperFunc(func(i, n int, method string, req, resp proto.Message) combo.SubCall {
	r := proto.Clone(req).(*echopb.EchoRequest)
	r.Code = proto.Int32(int32(i + 1))
	r.Message = proto.String(fmt.Sprint("sub-", i))
	return combo.SubCall{Method: method, Request: r, Response: &echopb.EchoResponse{}}
})

func TestParallelBroadcast(t *testing.T) {
	svc := &echoservice.Service{}
	addr := startEcho(t, svc)
	sys := newSystem(t)
	p, err := combo.NewParallelChannel(sys, &combo.ParallelOptions{Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	for range 8 {
		if err := p.AddChannel(plain(t, sys, addr, nil), combo.OwnsChannel, codeMapper, nil); err != nil {
			t.Fatal(err)
		}
	}
	var cntl actors.Controller
	resp := &echopb.EchoResponse{}
	if err := p.Call(t.Context(), echoservice.Method, echoReq("hello"), resp, &cntl); err != nil {
		t.Fatalf("Call() = %v", err)
	}
	if cntl.SubCount() != 8 {
		t.Fatalf("SubCount() = %d, want 8", cntl.SubCount())
	}
	for i := range 8 {
		if s := cntl.Sub(i); s == nil || s.Failed() {
			t.Fatalf("Sub(%d) = %v", i, s)
		}
	}
	// proto.Merge overwrites the message: the last sub-channel's wins, whatever order the
	// answers arrived in.
	if resp.GetMessage() != "sub-7" {
		t.Errorf("merged message = %q, want sub-7", resp.GetMessage())
	}
	got := svc.Codes()
	slices.Sort(got)
	if !slices.Equal(got, []int32{1, 2, 3, 4, 5, 6, 7, 8}) {
		t.Errorf("server saw codes %v, want 1..8", got)
	}
	noCallsLeft(t, sys)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}
