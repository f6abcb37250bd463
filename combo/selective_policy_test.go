package combo_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// askPolicy is a BackupPolicy with a fixed delay and answer that counts what it is asked;
// asked closes when DoBackup is first asked.
type askPolicy struct {
	delay time.Duration
	send  bool

	delays, backups, ends atomic.Int32
	asked                 chan struct{}
	once                  sync.Once
}

func (p *askPolicy) Delay(*actors.Controller) time.Duration { p.delays.Add(1); return p.delay }

func (p *askPolicy) DoBackup(*actors.Controller) bool {
	p.backups.Add(1)
	p.once.Do(func() { close(p.asked) })
	return p.send
}

func (p *askPolicy) OnCallEnd(*actors.Controller) { p.ends.Add(1) }

// startGate starts a server whose Echo answers once open is called (or its connection closes),
// counting the requests it received.
func startGate(t *testing.T) (addr string, requests *atomic.Int64, open func()) {
	t.Helper()
	gate, requests := make(chan struct{}), new(atomic.Int64)
	var once sync.Once
	open = func() { once.Do(func() { close(gate) }) }
	srv, err := actors.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	err = actors.Handle(srv, echoservice.Method, func(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		requests.Add(1)
		select {
		case <-gate:
			return &echopb.EchoResponse{Message: req.Message}, nil
		case <-ctx.Done():
			return nil, &wire.Error{Code: wire.ELOGOFF, Text: "connection closed while waiting"}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	a, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		open()
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown() = %v", err)
		}
	})
	return a.String(), requests, open
}

func TestSelectiveBackupPolicyAndBackupRequestAreExclusive(t *testing.T) {
	_, err := combo.NewSelectiveChannel(newSystem(t), &combo.SelectiveOptions{BackupRequest: time.Millisecond,
		BackupPolicy: &askPolicy{asked: make(chan struct{})}})
	if err == nil || !strings.Contains(err.Error(), "BackupRequest") || !strings.Contains(err.Error(), "BackupPolicy") {
		t.Fatalf("NewSelectiveChannel(BackupRequest and BackupPolicy) = %v, want an error naming both", err)
	}
}

// A selective channel's BackupPolicy: its Delay arms the backup request to a second sub-channel,
// its DoBackup decides whether it goes, and its OnCallEnd hears of the call once.
func TestSelectiveBackupPolicy(t *testing.T) {
	for _, send := range []bool{false, true} {
		t.Run(map[bool]string{false: "DoBackup=false", true: "DoBackup=true"}[send], func(t *testing.T) {
			addr1, req1, open1 := startGate(t)
			addr2, req2, open2 := startGate(t)
			sys := newSystem(t)
			p := &askPolicy{delay: 5 * time.Millisecond, send: send, asked: make(chan struct{})}
			s := newSChan(t, sys, &combo.SelectiveOptions{Timeout: testTimeout, BackupPolicy: p},
				plain(t, sys, addr1, nil), plain(t, sys, addr2, nil))
			var cntl actors.Controller
			call := s.Go(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl, nil)
			select {
			case <-p.asked:
			case <-time.After(testTimeout):
				t.Fatal("DoBackup was not asked")
			}
			want := int64(1)
			if send {
				want = 2
				eventually(t, "the backup request reaching the second server", func() bool { return req1.Load()+req2.Load() == 2 })
			}
			open1()
			open2()
			select {
			case <-call.Done():
			case <-time.After(testTimeout):
				t.Fatal("the call did not finish")
			}
			if err := call.Err(); err != nil {
				t.Fatalf("Call() = %v", err)
			}
			if cntl.HasBackupRequest() != send {
				t.Errorf("HasBackupRequest() = %v, want %v", cntl.HasBackupRequest(), send)
			}
			if n := req1.Load() + req2.Load(); n != want {
				t.Errorf("servers saw %d requests, want %d", n, want)
			}
			if d, b, e := p.delays.Load(), p.backups.Load(), p.ends.Load(); d != 1 || b != 1 || e != 1 {
				t.Errorf("Delay, DoBackup, OnCallEnd asked %d, %d, %d times; want 1, 1, 1", d, b, e)
			}
		})
	}
}
