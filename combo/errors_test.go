package combo_test

import (
	"errors"
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// A parallel failure names the method and the channel once, at the top; each [C<i>] part is the
// sub-call's code and text only, as in brpc, also for a nested parallel channel, while
// errors.As still reaches every sub-call's whole error.
func TestParallelErrorTextNested(t *testing.T) {
	addr := startEcho(t, nil)
	sys := newSystem(t)
	inner := newPChan(t, sys, nil, addr, 2, nil, nil)
	outer, err := combo.NewParallelChannel(sys, &combo.ParallelOptions{Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = outer.Close() })
	if err := outer.AddChannel(plain(t, sys, addr, nil), combo.OwnsChannel, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := outer.AddChannel(inner, combo.DoesntOwnChannel, nil, nil); err != nil {
		t.Fatal(err)
	}
	req := echoReq("x")
	req.FailCode = proto.Int32(int32(wire.EINTERNAL))
	var cntl actors.Controller
	err = outer.Call(t.Context(), echoservice.Method, req, &echopb.EchoResponse{}, &cntl)
	wantErrno(t, "Call with every sub-call failing EINTERNAL", err, wire.EINTERNAL)

	want := fmt.Sprintf("%s @parallel channel [E2001]2/2 channels failed, fail_limit=2 "+
		"[C0][E2001]Server fail [C1][E2001]2/2 channels failed, fail_limit=2 "+
		"[C0][E2001]Server fail [C1][E2001]Server fail", echoservice.Method)
	if err.Error() != want {
		t.Errorf("error text:\n got %q\nwant %q", err.Error(), want)
	}
	if cntl.ErrorText() != want {
		t.Errorf("ErrorText() = %q, want %q", cntl.ErrorText(), want)
	}

	// The sub-calls' whole errors stay reachable, with their method and server.
	var subs *combo.SubErrors
	if !errors.As(err, &subs) || len(subs.Errs) != 2 {
		t.Fatalf("errors.As(err, *SubErrors) = %v, want the 2 sub-calls' errors", subs)
	}
	var leaf *wire.Error
	if !errors.As(subs.Errs[0], &leaf) || leaf.Method != echoservice.Method || leaf.Addr != addr || leaf.Code != wire.EINTERNAL {
		t.Errorf("SubErrors.Errs[0] = %#v, want EINTERNAL of %s @%s", leaf, echoservice.Method, addr)
	}
	var innerSubs *combo.SubErrors
	if !errors.As(subs.Errs[1], &innerSubs) || len(innerSubs.Errs) != 2 {
		t.Fatalf("errors.As(SubErrors.Errs[1], *SubErrors) = %v, want the nested call's 2 errors", innerSubs)
	}
	for i, e := range innerSubs.Errs {
		var we *wire.Error
		if !errors.As(e, &we) || we.Method != echoservice.Method || we.Addr != addr || we.Code != wire.EINTERNAL {
			t.Errorf("nested SubErrors.Errs[%d] = %v, want EINTERNAL of %s @%s", i, e, echoservice.Method, addr)
		}
	}
	if got := subs.Error(); got != "[C0][E2001]Server fail [C1][E2001]2/2 channels failed, fail_limit=2 [C0][E2001]Server fail [C1][E2001]Server fail" {
		t.Errorf("SubErrors.Error() = %q, want the compact parts", got)
	}
	noCallsLeft(t, sys)
}
