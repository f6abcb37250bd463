package combo_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// brpc's backup-request tests of SelectiveChannel.

// backuprequest_selective: a backup request goes to the other sub-channel when the first has not
// answered after 20ms; the fast one's answer wins and exactly two requests reached the servers.
// The backup delay comes from the options or from the Controller; either way it is the selective
// channel's, not passed down to its sub-channels.
func TestSelectiveBackupRequest(t *testing.T) {
	for _, via := range []string{"options", "controller"} {
		t.Run(via, func(t *testing.T) {
			// The slow server holds every request for a minute (or until it shuts down), so
			// that the fast one wins however late the backup request leaves.
			slow := &echoservice.Service{Index: 1, Sleep: time.Minute, EchoAttachment: true}
			fast := &echoservice.Service{Index: 2, EchoAttachment: true}
			slowAddr, fastAddr := startEcho(t, slow), startEcho(t, fast)
			sys := newSystem(t)
			opts := &combo.SelectiveOptions{Timeout: testTimeout}
			if via == "options" {
				opts.BackupRequest = 20 * time.Millisecond
			}
			s := newSChan(t, sys, opts, plain(t, sys, slowAddr, nil), plain(t, sys, fastAddr, nil))
			total := func() int64 { return slow.Requests() + fast.Requests() }
			sent := func() int64 { return framesTo(sys, slowAddr) + framesTo(sys, fastAddr) }
			probes := []*actors.PlainChannel{plain(t, sys, slowAddr, nil), plain(t, sys, fastAddr, nil)}
			backups := 0
			for i := range 10 {
				var cntl actors.Controller
				if via == "controller" {
					cntl.SetBackupRequest(20 * time.Millisecond)
				}
				cntl.SetRequestAttachment([]byte(fmt.Sprint("att", i)))
				resp := &echopb.EchoResponse{}
				before, sentBefore := total(), sent()
				if err := s.Call(t.Context(), echoservice.Method, echoReq("x"), resp, &cntl); err != nil {
					t.Fatalf("call %d: Call() = %v, want success", i, err)
				}
				if string(cntl.ResponseAttachment()) != fmt.Sprint("att", i) {
					t.Errorf("call %d: response attachment %q, want %q", i, cntl.ResponseAttachment(), fmt.Sprint("att", i))
				}
				want := int64(1)
				if cntl.HasBackupRequest() {
					backups++
					want = 2
					if resp.GetServerIndex() != 2 || cntl.RemoteSide() != fastAddr {
						t.Errorf("call %d with a backup request answered by server %d at %s, want the fast one at %s",
							i, resp.GetServerIndex(), cntl.RemoteSide(), fastAddr)
					}
					if cntl.RetriedCount() != 1 {
						t.Errorf("call %d: RetriedCount() = %d, want 1", i, cntl.RetriedCount())
					}
				}
				// Once the call's actors are gone nothing more can be sent for it, and once a probe
				// went through each server's socket, that socket has counted whatever was queued.
				noCallsLeft(t, sys)
				probeSockets(t, probes...)
				// The first request of a call that sent a backup may never leave: when the backup's
				// answer ends the call before the slow server's connection took the frame, the
				// socket drops it, as it drops every frame of an ended call.
				got := sent() - sentBefore - int64(len(probes))
				if got != want && !(cntl.HasBackupRequest() && got == 1) {
					t.Fatalf("call %d (backup request: %v) sent %d requests, want %d", i, cntl.HasBackupRequest(), got, want)
				}
				eventually(t, fmt.Sprintf("call %d's %d requests to reach the servers", i, got), func() bool { return total()-before >= got })
				if reached := total() - before; reached != got {
					t.Fatalf("call %d (backup request: %v) made %d server requests, want the %d it sent", i, cntl.HasBackupRequest(), reached, got)
				}
			}
			if backups == 0 {
				t.Errorf("no call sent a backup request, want those that picked the slow server first")
			}
			noCallsLeft(t, sys)
		})
	}
}

// backuprequest_selective_response_race: 150 rounds with a 1ms backup between a slow and a fast
// server. Each answer is one server's alone, never a mix of both.
func TestSelectiveBackupResponseRace(t *testing.T) {
	const rounds = 150
	slow := &echoservice.Service{Index: 1, Sleep: 10 * time.Millisecond}
	fast := &echoservice.Service{Index: 2, Sleep: 2 * time.Millisecond}
	slowAddr, fastAddr := startEcho(t, slow), startEcho(t, fast)
	sys := newSystem(t)
	s := newSChan(t, sys, &combo.SelectiveOptions{BackupRequest: time.Millisecond, Timeout: testTimeout},
		plain(t, sys, slowAddr, nil), plain(t, sys, fastAddr, nil))
	type answer struct {
		round int
		resp  *echopb.EchoResponse
	}
	var answers []answer
	backups := 0
	for r := range rounds {
		var cntl actors.Controller
		resp := &echopb.EchoResponse{}
		req := &echopb.EchoRequest{Message: proto.String(fmt.Sprint("round", r)), Code: proto.Int32(int32(r + 1))}
		if err := s.Call(t.Context(), echoservice.Method, req, resp, &cntl); err != nil {
			t.Fatalf("round %d: Call() = %v, want success", r, err)
		}
		if cntl.HasBackupRequest() {
			backups++
		}
		answers = append(answers, answer{r, resp})
	}
	// A round whose backup answered before the first request left drops that request unwritten,
	// as a socket drops every frame of an ended call: count what the sockets sent.
	noCallsLeft(t, sys)
	probes := []*actors.PlainChannel{plain(t, sys, slowAddr, nil), plain(t, sys, fastAddr, nil)}
	probeSockets(t, probes...)
	sent := framesTo(sys, slowAddr) + framesTo(sys, fastAddr) - int64(len(probes))
	if sent < rounds || sent > int64(rounds+backups) {
		t.Fatalf("the sockets sent %d requests for %d rounds with %d backup requests", sent, rounds, backups)
	}
	eventually(t, "every request sent to reach the servers", func() bool { return slow.Requests()+fast.Requests() == sent })
	codes := map[int32][]int32{1: slow.Codes(), 2: fast.Codes()}
	for _, a := range answers {
		resp := a.resp
		list := resp.GetCodeList()
		mine, ok := codes[resp.GetServerIndex()]
		switch {
		case !ok || resp.GetMessage() != fmt.Sprint("round", a.round):
			t.Fatalf("round %d: answer %v, want server 1 or 2 and message round%d", a.round, resp, a.round)
		case len(list) == 0 || list[len(list)-1] != int32(a.round+1):
			t.Fatalf("round %d: code_list ends %v, want %d", a.round, list[max(0, len(list)-3):], a.round+1)
		case len(list) > len(mine) || !slices.Equal(list, mine[:len(list)]):
			t.Fatalf("round %d: code_list of %d codes is not what server %d recorded: a mix of two answers", a.round, len(list), resp.GetServerIndex())
		}
	}
	if backups == 0 {
		t.Errorf("no round sent a backup request, want most")
	}
	if got := slow.Requests() + fast.Requests(); got != sent {
		t.Errorf("servers got %d requests, want the %d the sockets sent", got, sent)
	}
	noCallsLeft(t, sys)
}

// selective_channel_ignores_late_subdone_after_timeout: after the deadline the call ends with
// ERPCTIMEDOUT, and the sub-calls that answer later change nothing. The server holds its answers
// until the call has ended.
func TestSelectiveIgnoresLateSubDoneAfterTimeout(t *testing.T) {
	held, addr := startHeldEcho(t)
	sys := newSystem(t)
	s := newSChan(t, sys, &combo.SelectiveOptions{MaxRetry: 3, BackupRequest: time.Millisecond, Timeout: 500 * time.Millisecond},
		plain(t, sys, addr, nil), plain(t, sys, addr, nil))
	var cntl actors.Controller
	resp := &echopb.EchoResponse{}
	err := s.Call(t.Context(), echoservice.Method, echoReq("x"), resp, &cntl)
	wantErrno(t, "Call to a server that has not answered by the timeout", err, wire.ERPCTIMEDOUT)
	if !cntl.HasBackupRequest() || cntl.RetriedCount() < 1 {
		t.Fatalf("HasBackupRequest() = %v, RetriedCount() = %d, want true and >= 1", cntl.HasBackupRequest(), cntl.RetriedCount())
	}
	type snapshot struct {
		code, sub wire.Errno
		retried   int
		backup    bool
		text      string
		msg       string
	}
	take := func() snapshot {
		return snapshot{cntl.ErrorCode(), cntl.Sub(0).ErrorCode(), cntl.RetriedCount(), cntl.HasBackupRequest(), cntl.ErrorText(), resp.GetMessage()}
	}
	first := take()
	// Answer the requests now; a probe on the same connection, sent once every held request
	// was answered, comes back after their answers did.
	noCallsLeft(t, sys)
	close(held.release)
	eventually(t, "the server to answer every request it held", func() bool {
		n := held.answered.Load()
		return n >= 2 && n == held.arrived.Load()
	})
	probeSockets(t, plain(t, sys, addr, nil))
	if later := take(); later != first {
		t.Errorf("after the late answers arrived, the controller changed from %+v to %+v", first, later)
	}
	noCallsLeft(t, sys)
}

// A backup request that finds no other usable sub-channel is not sent, and the call does not
// claim it was: HasBackupRequest holds exactly when a second request reached a server.
func TestSelectiveBackupWithoutAnotherSubChannel(t *testing.T) {
	slow := &echoservice.Service{Sleep: 20 * time.Millisecond}
	addr := startEcho(t, slow)
	sys := newSystem(t)
	empty := newSChan(t, sys, nil) // fails with ENODATA, then is skipped for a second
	s := newSChan(t, sys, &combo.SelectiveOptions{LoadBalancer: "random", BackupRequest: 5 * time.Millisecond, Timeout: testTimeout},
		empty, plain(t, sys, addr, nil))
	for retried := 0; retried == 0; { // until a call picked the empty sub-channel, marking it down
		var cntl actors.Controller
		if err := s.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl); err != nil {
			t.Fatalf("Call() = %v, want success", err)
		}
		retried = cntl.RetriedCount()
	}
	marked := time.Now()
	for i := range 10 {
		if time.Since(marked) > 800*time.Millisecond {
			break // the empty sub-channel is about to be tried again
		}
		var cntl actors.Controller
		before := slow.Requests()
		if err := s.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl); err != nil {
			t.Fatalf("call %d: Call() = %v, want success", i, err)
		}
		want := int64(1)
		if cntl.HasBackupRequest() {
			want = 2
		}
		if got := slow.Requests() - before; got != want || cntl.RetriedCount() != int(want-1) {
			t.Fatalf("call %d: HasBackupRequest() = %v, RetriedCount() = %d, but the server got %d requests",
				i, cntl.HasBackupRequest(), cntl.RetriedCount(), got)
		}
	}
	noCallsLeft(t, sys)
}

// framesTo returns how many request frames the System's socket to addr has sent.
func framesTo(sys *actors.System, addr string) int64 {
	n := sys.Inspect().Find(func(n *actors.Node) bool { return n.Kind == "socket" && n.Name == addr })
	if n == nil {
		return 0
	}
	return n.Counters["frames"] - n.Counters["frames_dropped"]
}

// probeMethod is a method the servers do not have: its call is answered at once with ENOMETHOD.
const probeMethod = "example.EchoService.Probe"

// probeSockets makes a call through each channel and waits for its answer. The request follows
// whatever its socket had queued, and the answer whatever the server had written on that
// connection before.
func probeSockets(t *testing.T, chans ...*actors.PlainChannel) {
	t.Helper()
	for _, ch := range chans {
		err := ch.Call(t.Context(), probeMethod, echoReq("probe"), &echopb.EchoResponse{}, nil)
		wantErrno(t, "probe", err, wire.ENOMETHOD)
	}
}

// heldEcho is an echo server that holds every request until release is closed.
type heldEcho struct {
	svc               echoservice.Service
	release           chan struct{}
	arrived, answered atomic.Int64
}

func startHeldEcho(t *testing.T) (*heldEcho, string) {
	t.Helper()
	h := &heldEcho{release: make(chan struct{})}
	srv, err := actors.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	err = actors.Handle(srv, echoservice.Method, func(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		h.arrived.Add(1)
		defer h.answered.Add(1)
		select {
		case <-h.release:
		case <-ctx.Done():
		}
		return h.svc.Echo(ctx, req)
	})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return h, addr.String()
}
