package combo_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// brpc's ParallelChannel tests (test/brpc_channel_unittest.cpp), on real loopback servers: how
// sub-calls are mapped, skipped and limited, and how their errors become the call's.

// empty_parallel_channel
func TestParallelEmpty(t *testing.T) {
	sys := newSystem(t)
	p := newPChan(t, sys, nil, "", 0, nil, nil)
	var cntl actors.Controller
	err := p.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl)
	wantErrno(t, "Call on an empty parallel channel", err, wire.EPERM)
	if cntl.SubCount() != 0 {
		t.Errorf("SubCount() = %d, want 0", cntl.SubCount())
	}
	noCallsLeft(t, sys)
}

// returns_bad_parallel
func TestParallelReturnsBad(t *testing.T) {
	svc := &echoservice.Service{}
	addr := startEcho(t, svc)
	sys := newSystem(t)
	mapped := 0
	bad := combo.CallMapperFunc(func(i, n int, method string, req, resp proto.Message) combo.SubCall {
		mapped++
		return combo.Bad()
	})
	p := newPChan(t, sys, nil, addr, nsub, bad, nil)
	var cntl actors.Controller
	err := p.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl)
	wantErrno(t, "Call with every mapper Bad", err, wire.EREQUEST)
	if !strings.Contains(err.Error(), "CallMapper of channel[0] returns Bad()") {
		t.Errorf("error = %q, want it to name channel[0]", err)
	}
	if mapped != 1 {
		t.Errorf("mappers called %d times, want 1 (Bad stops the mapping)", mapped)
	}
	for i := range cntl.SubCount() {
		if cntl.Sub(i) != nil {
			t.Errorf("Sub(%d) = %v, want nil", i, cntl.Sub(i).Err())
		}
	}
	noCallsLeft(t, sys)
	if n := svc.Requests(); n != 0 {
		t.Errorf("server got %d requests, want 0", n)
	}
}

// skip_all_channels
func TestParallelSkipAll(t *testing.T) {
	svc := &echoservice.Service{}
	addr := startEcho(t, svc)
	sys := newSystem(t)
	skip := combo.CallMapperFunc(func(int, int, string, proto.Message, proto.Message) combo.SubCall { return combo.Skip() })
	p := newPChan(t, sys, nil, addr, 5, skip, nil)
	var cntl actors.Controller
	err := p.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl)
	wantErrno(t, "Call with every sub-channel skipped", err, wire.ECANCELED)
	if cntl.SubCount() != 5 {
		t.Fatalf("SubCount() = %d, want 5", cntl.SubCount())
	}
	for i := range 5 {
		if cntl.Sub(i) != nil {
			t.Errorf("Sub(%d) = %v, want nil", i, cntl.Sub(i).Err())
		}
	}
	noCallsLeft(t, sys)
	if n := svc.Requests(); n != 0 {
		t.Errorf("server got %d requests, want 0", n)
	}
}

// connection_failed_parallel: every sub-call is refused, so the call is.
func TestParallelConnectionFailed(t *testing.T) {
	sys := newSystem(t)
	dead := deadAddr(t)
	p, err := combo.NewParallelChannel(sys, &combo.ParallelOptions{Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for range nsub {
		ch := plain(t, sys, dead, &actors.ChannelOptions{MaxRetry: actors.NoRetry})
		if err := p.AddChannel(ch, combo.OwnsChannel, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	var cntl actors.Controller
	err = p.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl)
	if code := wire.ErrnoOf(err); code != wire.ECONNREFUSED && code != wire.ETOOMANYFAILS {
		t.Fatalf("Call to a dead server = %v, want ECONNREFUSED or ETOOMANYFAILS", err)
	}
	for i := range nsub {
		if s := cntl.Sub(i); s == nil || !s.Failed() {
			t.Errorf("Sub(%d) = %v, want a failed sub-call", i, s)
		}
	}
	noCallsLeft(t, sys)
}

// success_duplicated_parallel: one channel added 8 times is called 8 times and closed once.
func TestParallelDuplicatedChannel(t *testing.T) {
	svc := &echoservice.Service{}
	addr := startEcho(t, svc)
	sys := newSystem(t)
	p, err := combo.NewParallelChannel(sys, &combo.ParallelOptions{Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	sub := &closeCounter{Channel: plain(t, sys, addr, nil)}
	mapper := mapEach(nil)
	for i := range nsub {
		own := combo.OwnsChannel
		if i%2 == 1 {
			own = combo.DoesntOwnChannel
		}
		if err := p.AddChannel(sub, own, mapper, nil); err != nil {
			t.Fatal(err)
		}
	}
	if p.ChannelCount() != nsub {
		t.Fatalf("ChannelCount() = %d, want %d", p.ChannelCount(), nsub)
	}
	var cntl actors.Controller
	if err := p.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl); err != nil {
		t.Fatalf("Call() = %v, want success", err)
	}
	for i := range nsub {
		wantSub(t, &cntl, i, 0)
	}
	if got := sortedCodes(svc); !slices.Equal(got, []int32{1, 2, 3, 4, 5, 6, 7, 8}) {
		t.Errorf("server saw codes %v, want 1..8", got)
	}
	noCallsLeft(t, sys)
	for range 2 {
		if err := p.Close(); err != nil {
			t.Fatalf("Close() = %v", err)
		}
	}
	if n := sub.closes.Load(); n != 1 {
		t.Errorf("the sub-channel added 8 times was closed %d times, want 1", n)
	}
	if err := p.AddChannel(sub, combo.OwnsChannel, nil, nil); !errors.Is(err, actors.ErrClosed) {
		t.Errorf("AddChannel after Close = %v, want ErrClosed", err)
	}
	err = p.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil)
	wantErrno(t, "Call after Close", err, wire.ELOGOFF)
}

// skip_parallel
func TestParallelSkipOdd(t *testing.T) {
	svc := &echoservice.Service{}
	addr := startEcho(t, svc)
	sys := newSystem(t)
	base := mapEach(nil)
	mapper := combo.CallMapperFunc(func(i, n int, method string, req, resp proto.Message) combo.SubCall {
		if i%2 == 1 {
			return combo.Skip()
		}
		return base.Map(i, n, method, req, resp)
	})
	p := newPChan(t, sys, nil, addr, nsub, mapper, nil)
	var cntl actors.Controller
	if err := p.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl); err != nil {
		t.Fatalf("Call() = %v, want success", err)
	}
	if cntl.SubCount() != nsub {
		t.Fatalf("SubCount() = %d, want %d", cntl.SubCount(), nsub)
	}
	for i := range nsub {
		if i%2 == 1 {
			if cntl.Sub(i) != nil {
				t.Errorf("Sub(%d) of a skipped sub-channel = %v, want nil", i, cntl.Sub(i).Err())
			}
			continue
		}
		wantSub(t, &cntl, i, 0)
	}
	if got := sortedCodes(svc); !slices.Equal(got, []int32{1, 3, 5, 7}) {
		t.Errorf("server saw codes %v, want [1 3 5 7]", got)
	}
	noCallsLeft(t, sys)
}

// fail_limit: with FailLimit 1 the first failure ends the call and cancels the slow sub-calls,
// which the server would hold for a minute (or until it shuts down).
func TestParallelFailLimitFastFail(t *testing.T) {
	addr := startEcho(t, nil)
	sys := newSystem(t)
	mapper := mapEach(func(i int, r *echopb.EchoRequest) {
		if i == 0 {
			r.FailCode = proto.Int32(int32(wire.EINTERNAL))
			return
		}
		r.SleepUs = proto.Int32(int32(time.Minute.Microseconds()))
	})
	p := newPChan(t, sys, &combo.ParallelOptions{FailLimit: 1, Timeout: testTimeout}, addr, nsub, mapper, nil)
	var cntl actors.Controller
	start := time.Now()
	err := p.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl)
	took := time.Since(start)
	wantErrno(t, "Call with FailLimit 1 and a failing sub-call", err, wire.EINTERNAL)
	if took > testTimeout/2 {
		t.Errorf("Call took %v, want it to end at the first failure, long before the slow sub-calls' minute", took)
	}
	wantSub(t, &cntl, 0, wire.EINTERNAL)
	for i := 1; i < nsub; i++ {
		wantSub(t, &cntl, i, wire.ECANCELED)
	}
	noCallsLeft(t, sys)
}

// success_limit_parallel: the first success ends the call; the server would hold the other
// sub-calls for a minute (or until it shuts down).
func TestParallelSuccessLimit(t *testing.T) {
	svc := &echoservice.Service{}
	addr := startEcho(t, svc)
	sys := newSystem(t)
	mapper := mapEach(sleepUs(time.Minute, func(i int) bool { return i > 0 }))
	p := newPChan(t, sys, &combo.ParallelOptions{SuccessLimit: 1, Timeout: testTimeout}, addr, nsub, mapper, nil)
	var cntl actors.Controller
	resp := &echopb.EchoResponse{}
	start := time.Now()
	if err := p.Call(t.Context(), echoservice.Method, echoReq("x"), resp, &cntl); err != nil {
		t.Fatalf("Call() = %v, want success", err)
	}
	if took := time.Since(start); took > testTimeout/2 {
		t.Errorf("Call took %v, want it to end at the first success, not after the others' minute", took)
	}
	wantSub(t, &cntl, 0, 0)
	for i := 1; i < nsub; i++ {
		wantSub(t, &cntl, i, wire.EPCHANFINISH)
	}
	// Only sub-call 0 was merged; the server had recorded its code alone when it answered.
	if !slices.Equal(resp.GetCodeList(), []int32{1}) {
		t.Errorf("code_list = %v, want [1]", resp.GetCodeList())
	}
	noCallsLeft(t, sys)
}

// server_fail_parallel, and brpc's unified error over sub-calls that failed differently.
func TestParallelUnifiedErrors(t *testing.T) {
	addr := startEcho(t, nil)
	sys := newSystem(t)
	t.Run("same code", func(t *testing.T) {
		mapper := mapEach(func(i int, r *echopb.EchoRequest) { r.FailCode = proto.Int32(int32(wire.EINTERNAL)) })
		p := newPChan(t, sys, nil, addr, nsub, mapper, nil)
		var cntl actors.Controller
		err := p.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl)
		wantErrno(t, "Call with every sub-call failing EINTERNAL", err, wire.EINTERNAL)
		checkSubErrors(t, err, &cntl, func(int) wire.Errno { return wire.EINTERNAL })
	})
	t.Run("mixed codes", func(t *testing.T) {
		code := func(i int) wire.Errno {
			if i%2 == 0 {
				return wire.EINTERNAL
			}
			return wire.EREQUEST
		}
		mapper := mapEach(func(i int, r *echopb.EchoRequest) { r.FailCode = proto.Int32(int32(code(i))) })
		p := newPChan(t, sys, nil, addr, nsub, mapper, nil)
		var cntl actors.Controller
		err := p.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl)
		wantErrno(t, "Call with sub-calls failing EINTERNAL and EREQUEST", err, wire.ETOOMANYFAILS)
		checkSubErrors(t, err, &cntl, code)
	})
	noCallsLeft(t, sys)
}

// checkSubErrors checks that err names every failed sub-call as [C<i>], that errors.As reaches
// each sub-call's error by index, and that Sub(i) agrees.
func checkSubErrors(t *testing.T, err error, cntl *actors.Controller, code func(int) wire.Errno) {
	t.Helper()
	if !strings.Contains(err.Error(), fmt.Sprintf("%d/%d channels failed, fail_limit=%d", nsub, nsub, nsub)) {
		t.Errorf("error = %q, want brpc's \"8/8 channels failed, fail_limit=8\"", err)
	}
	var subs *combo.SubErrors
	if !errors.As(err, &subs) {
		t.Fatalf("errors.As(%v, *SubErrors) = false, want true", err)
	}
	if len(subs.Errs) != nsub {
		t.Fatalf("SubErrors has %d errors, want %d", len(subs.Errs), nsub)
	}
	for i := range nsub {
		if !strings.Contains(err.Error(), fmt.Sprintf("[C%d]", i)) {
			t.Errorf("error = %q, want it to list [C%d]", err, i)
		}
		if got := wire.ErrnoOf(subs.Errs[i]); got != code(i) {
			t.Errorf("SubErrors.Errs[%d] = %v, want code %v", i, subs.Errs[i], code(i))
		}
		wantSub(t, cntl, i, code(i))
	}
	if errors.Is(err, wire.EINTERNAL) && wire.ErrnoOf(err) != wire.EINTERNAL {
		t.Errorf("errors.Is(%v, EINTERNAL) = true: errors.Is must not look into the sub-calls", err)
	}
}

// request_not_init_parallel: a request missing its required field fails every sub-call with
// EREQUEST, which becomes the call's code.
func TestParallelRequestNotInit(t *testing.T) {
	svc := &echoservice.Service{}
	addr := startEcho(t, svc)
	sys := newSystem(t)
	p := newPChan(t, sys, nil, addr, nsub, nil, nil)
	var cntl actors.Controller
	err := p.Call(t.Context(), echoservice.Method, &echopb.EchoRequest{}, &echopb.EchoResponse{}, &cntl)
	wantErrno(t, "Call with a request missing its message", err, wire.EREQUEST)
	for i := range nsub {
		wantSub(t, &cntl, i, wire.EREQUEST)
	}
	noCallsLeft(t, sys)
	if n := svc.Requests(); n != 0 {
		t.Errorf("server got %d requests, want 0", n)
	}
}

func sortedCodes(svc *echoservice.Service) []int32 {
	c := svc.Codes()
	slices.Sort(c)
	return c
}
