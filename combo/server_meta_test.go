package combo_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// What the server sees of a combo call's sub-calls: the meta brpc's sub-controllers carry.

// metaRecorder is an echo server that records the log id and the timeout of every request, and
// its attachment by log id.
type metaRecorder struct {
	mu          sync.Mutex
	logIDs      []int64
	timeouts    []int32
	attachments map[int64][]string
}

func (m *metaRecorder) echo(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
	call := actors.ServerCallFromContext(ctx)
	m.mu.Lock()
	m.logIDs = append(m.logIDs, call.LogID())
	m.timeouts = append(m.timeouts, call.TimeoutMs())
	if m.attachments == nil {
		m.attachments = map[int64][]string{}
	}
	m.attachments[call.LogID()] = append(m.attachments[call.LogID()], string(call.RequestAttachment()))
	m.mu.Unlock()
	return &echopb.EchoResponse{Message: proto.String(req.GetMessage())}, nil
}

// take returns what was recorded since the last take.
func (m *metaRecorder) take() (logIDs []int64, timeouts []int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	logIDs, timeouts = m.logIDs, m.timeouts
	m.logIDs, m.timeouts = nil, nil
	return logIDs, timeouts
}

func startRecorder(t *testing.T) (*metaRecorder, string) {
	t.Helper()
	srv, err := actors.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	m := &metaRecorder{}
	if err := actors.Handle(srv, echoservice.Method, m.echo); err != nil {
		t.Fatal(err)
	}
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return m, addr.String()
}

// comboChannels returns a parallel channel of 3 sub-channels and a selective channel of 2, both
// to addr, with a 300ms timeout.
func comboChannels(t *testing.T, sys *actors.System, addr string) map[string]actors.Channel {
	t.Helper()
	return map[string]actors.Channel{
		"parallel":  newPChan(t, sys, &combo.ParallelOptions{Timeout: 300 * time.Millisecond}, addr, 3, nil, nil),
		"selective": newSChan(t, sys, &combo.SelectiveOptions{Timeout: 300 * time.Millisecond}, plain(t, sys, addr, nil), plain(t, sys, addr, nil)),
	}
}

// The log id of the main call reaches the server with every sub-call.
func TestComboLogIDReachesServer(t *testing.T) {
	rec, addr := startRecorder(t)
	sys := newSystem(t)
	for name, ch := range comboChannels(t, sys, addr) {
		var cntl actors.Controller
		cntl.SetLogID(42)
		if err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl); err != nil {
			t.Fatalf("%s: Call() = %v, want success", name, err)
		}
		logIDs, _ := rec.take()
		if len(logIDs) == 0 {
			t.Fatalf("%s: the server saw no request", name)
		}
		for _, id := range logIDs {
			if id != 42 {
				t.Errorf("%s: the server saw log id %d, want 42", name, id)
			}
		}
	}
	noCallsLeft(t, sys)
}

// brpc's sub-calls have no deadline of their own, but carry the main call's ("real timeout") to
// the server in timeout_ms, as a plain call does, so that the server can give up in time.
func TestComboTimeoutReachesServer(t *testing.T) {
	rec, addr := startRecorder(t)
	sys := newSystem(t)
	chans := comboChannels(t, sys, addr)
	chans["plain"] = plain(t, sys, addr, &actors.ChannelOptions{Timeout: 300 * time.Millisecond})
	for name, ch := range chans {
		if err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); err != nil {
			t.Fatalf("%s: Call() = %v, want success", name, err)
		}
		_, timeouts := rec.take()
		for _, ms := range timeouts {
			if ms <= 0 || ms > 300 {
				t.Errorf("%s: the server saw timeout_ms=%d, want the call's remaining time, in (0, 300]", name, ms)
			}
		}
	}
	noCallsLeft(t, sys)
}
