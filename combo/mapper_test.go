package combo_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// mapSettings returns a mapper that broadcasts the request and gives sub-call i log id 100+i and
// attachment "att<i>", except sub-call keep, which keeps the call's settings. It also tries to
// give each sub-call a timeout and a retry limit of its own, which the call's override.
func mapSettings(keep int) combo.CallMapper {
	return combo.CallMapperFunc(func(i, n int, method string, req, resp proto.Message) combo.SubCall {
		sub := combo.SubCall{Method: method, Request: req, Response: &echopb.EchoResponse{}}
		if i != keep {
			sub.MapController = func(main, sub *actors.Controller) {
				sub.SetLogID(100 + int64(i))
				sub.SetRequestAttachment(fmt.Appendf(nil, "att%d", i))
				sub.SetTimeout(time.Nanosecond)
				sub.SetMaxRetry(7)
			}
		}
		return sub
	})
}

// The server sees each sub-call's mapped log id and attachment; a sub-call without
// MapController carries the call's; timeout and retry limit stay the call's.
func TestMapControllerReachesServer(t *testing.T) {
	rec, addr := startRecorder(t)
	sys := newSystem(t)
	const n, keep = 3, 2
	p := newPChan(t, sys, &combo.ParallelOptions{Timeout: 300 * time.Millisecond}, addr, n, mapSettings(keep), nil)
	var cntl actors.Controller
	cntl.SetLogID(7)
	cntl.SetRequestAttachment([]byte("main"))
	cntl.SetMaxRetry(2)
	if err := p.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl); err != nil {
		t.Fatalf("Call() = %v, want success", err)
	}
	want := map[int64][]string{100: {"att0"}, 101: {"att1"}, 7: {"main"}}
	rec.mu.Lock()
	got := rec.attachments
	rec.mu.Unlock()
	if len(got) != len(want) {
		t.Errorf("the server saw log ids and attachments %v, want %v", got, want)
	}
	for id, atts := range want {
		if !slices.Equal(got[id], atts) {
			t.Errorf("the server saw attachments %q with log id %d, want %q", got[id], id, atts)
		}
	}
	_, timeouts := rec.take()
	for _, ms := range timeouts {
		if ms <= 0 || ms > 300 {
			t.Errorf("the server saw timeout_ms=%d, want the call's remaining time, in (0, 300]", ms)
		}
	}
	for i := range n {
		wantSub(t, &cntl, i, 0)
		sub := cntl.Sub(i)
		if d, ok := sub.Timeout(); !ok || d != actors.NoTimeout {
			t.Errorf("Sub(%d).Timeout() = %v, %v; want NoTimeout, set, whatever MapController set (the call's deadline governs)", i, d, ok)
		}
		if r, ok := sub.MaxRetry(); !ok || r != 2 {
			t.Errorf("Sub(%d).MaxRetry() = %d, %v, want the call's 2", i, r, ok)
		}
		wantID, wantAtt := 100+int64(i), fmt.Sprintf("att%d", i)
		if i == keep {
			wantID, wantAtt = 7, "main"
		}
		if id, ok := sub.LogID(); !ok || id != wantID {
			t.Errorf("Sub(%d).LogID() = %d, %v, want %d", i, id, ok, wantID)
		}
		if got := string(sub.RequestAttachment()); got != wantAtt {
			t.Errorf("Sub(%d).RequestAttachment() = %q, want %q", i, got, wantAtt)
		}
	}
	if id, _ := cntl.LogID(); id != 7 || string(cntl.RequestAttachment()) != "main" {
		t.Errorf("the call's Controller changed: log id %d, attachment %q, want 7 and main", id, cntl.RequestAttachment())
	}
	noCallsLeft(t, sys)
}

// MapController sees the call's Controller, and a sub-call inherits what it does not change.
func TestMapControllerSeesMain(t *testing.T) {
	rec, addr := startRecorder(t)
	sys := newSystem(t)
	mapper := combo.CallMapperFunc(func(i, n int, method string, req, resp proto.Message) combo.SubCall {
		return combo.SubCall{Method: method, Request: req, Response: &echopb.EchoResponse{},
			MapController: func(main, sub *actors.Controller) {
				id, _ := main.LogID()
				sub.SetLogID(id*10 + int64(i))
			}}
	})
	p := newPChan(t, sys, nil, addr, 2, mapper, nil)
	var cntl actors.Controller
	cntl.SetLogID(4)
	cntl.SetRequestAttachment([]byte("shared"))
	if err := p.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl); err != nil {
		t.Fatalf("Call() = %v, want success", err)
	}
	rec.mu.Lock()
	got := rec.attachments
	rec.mu.Unlock()
	for _, id := range []int64{40, 41} {
		if !slices.Equal(got[id], []string{"shared"}) {
			t.Errorf("the server saw attachments %q with log id %d, want [shared]", got[id], id)
		}
	}
	noCallsLeft(t, sys)
}

// A MapController that panics fails the call with EREQUEST before any sub-call starts.
func TestMapControllerPanics(t *testing.T) {
	svc := &echoservice.Service{}
	addr := startEcho(t, svc)
	sys := newSystem(t)
	mapper := combo.CallMapperFunc(func(i, n int, method string, req, resp proto.Message) combo.SubCall {
		sub := combo.SubCall{Method: method, Request: req, Response: &echopb.EchoResponse{}}
		if i == 1 {
			sub.MapController = func(main, sub *actors.Controller) { panic("boom") }
		}
		return sub
	})
	p := newPChan(t, sys, nil, addr, 3, mapper, nil)
	var cntl actors.Controller
	err := p.Call(context.Background(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl)
	wantErrno(t, "Call whose MapController panics", err, wire.EREQUEST)
	if cntl.SubCount() != 3 {
		t.Errorf("SubCount() = %d, want 3", cntl.SubCount())
	}
	for i := range cntl.SubCount() {
		if cntl.Sub(i) != nil {
			t.Errorf("Sub(%d) = %v, want nil: no sub-call started", i, cntl.Sub(i).Err())
		}
	}
	noCallsLeft(t, sys)
	if n := svc.Requests(); n != 0 {
		t.Errorf("server got %d requests, want 0", n)
	}
}
