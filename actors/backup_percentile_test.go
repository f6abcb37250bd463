package actors_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// bimodalServer is a loopback server whose Echo answers at once, except the first time it sees
// a message ending in "slow": that request waits slowFor (or until its connection closes), so a
// backup request of the same call answers at once. It counts the requests it received.
type bimodalServer struct {
	addr     string
	requests atomic.Int64
	seen     sync.Map
}

const slowFor = 500 * time.Millisecond

func startBimodalServer(t *testing.T) *bimodalServer {
	t.Helper()
	s := &bimodalServer{}
	srv, err := actors.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	err = actors.Handle(srv, echoservice.Method, func(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		s.requests.Add(1)
		if msg := req.GetMessage(); strings.HasSuffix(msg, "slow") {
			if _, again := s.seen.LoadOrStore(msg, true); !again {
				timer := time.NewTimer(slowFor) // the latency being modelled, not a synchronisation
				defer timer.Stop()
				select {
				case <-timer.C:
				case <-ctx.Done():
					return nil, &wire.Error{Code: wire.ELOGOFF, Text: "connection closed while slow"}
				}
			}
		}
		return &echopb.EchoResponse{Message: req.Message}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	a, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = a.String()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown() = %v", err)
		}
	})
	return s
}

// runBimodal makes n calls, 1 in 10 of them slow, from 8 goroutines; it returns how many of the
// slow ones sent a backup request.
func runBimodal(t *testing.T, ch *actors.PlainChannel, round string, n int) (slowBackedUp int) {
	t.Helper()
	var next, backed atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				msg := fmt.Sprintf("%s-%d", round, i)
				if i%10 == 0 {
					msg += "-slow"
				}
				var cntl actors.Controller
				if err := ch.Call(t.Context(), echoservice.Method, echoReq(msg), &echopb.EchoResponse{}, &cntl); err != nil {
					t.Errorf("Call(%s) = %v", msg, err)
					return
				}
				if i%10 == 0 && cntl.HasBackupRequest() {
					backed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return int(backed.Load())
}

// The percentile policy against a server whose latency is bimodal: it learns the fast answers'
// percentile, sends backup requests for the slow ones, and the extra requests the server sees
// stay within Reserve + MaxExtraLoad per call.
func TestPercentileBackupOnABimodalServer(t *testing.T) {
	const warmup, calls = 50, 400
	for _, tc := range []struct {
		name        string
		opts        actors.PercentileBackupOptions
		minBackedUp int // of the calls/10 slow calls
		budgetBinds bool
	}{
		// A budget of 50% covers every slow call and the fast ones past the 80th percentile.
		{"ample budget", actors.PercentileBackupOptions{Percentile: 0.8, MaxExtraLoad: 0.5, MinSamples: warmup}, calls / 10 / 2, false},
		// A budget of 2% with a reserve of 2 covers at most 2 + 9 backup requests: fewer than the
		// 40 slow calls.
		{"scarce budget", actors.PercentileBackupOptions{Percentile: 0.8, MaxExtraLoad: 0.02, Reserve: 2, MinSamples: warmup}, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startBimodalServer(t)
			p, err := actors.PercentileBackup(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			ch, err := newSystem(t).NewChannel(s.addr, &actors.ChannelOptions{BackupPolicy: p, Timeout: testTimeout})
			if err != nil {
				t.Fatal(err)
			}
			if backed := runBimodal(t, ch, "warmup", warmup); backed != 0 {
				t.Errorf("before MinSamples: %d slow calls sent a backup request, want 0", backed)
			}
			d := p.Delay(nil)
			if d <= 0 || d >= slowFor {
				t.Fatalf("after %d calls: Delay() = %v, want the fast answers' percentile, below %v", warmup, d, slowFor)
			}
			before := s.requests.Load()
			backed := runBimodal(t, ch, "measured", calls)
			extra := s.requests.Load() - before - calls
			budget := int64(tc.opts.Reserve) + int64(float64(warmup+calls)*tc.opts.MaxExtraLoad)
			if tc.opts.Reserve == 0 {
				budget += actors.DefaultBackupReserve
			}
			t.Logf("delay %v, %d of %d slow calls backed up, %d extra requests, budget %d", p.Delay(nil), backed, calls/10, extra, budget)
			if backed < tc.minBackedUp {
				t.Errorf("%d of %d slow calls sent a backup request, want at least %d", backed, calls/10, tc.minBackedUp)
			}
			if extra > budget {
				t.Errorf("the server saw %d extra requests, want at most Reserve + MaxExtraLoad × calls = %d", extra, budget)
			}
			if tc.budgetBinds && backed >= calls/10 {
				t.Errorf("every slow call sent a backup request (%d), want the budget to stop some", backed)
			}
		})
	}
}

// The percentile policy's per-call work allocates nothing.
func TestPercentileBackupAllocatesNothing(t *testing.T) {
	p, err := actors.PercentileBackup(actors.PercentileBackupOptions{MinSamples: 1})
	if err != nil {
		t.Fatal(err)
	}
	var cntl actors.Controller
	if n := testing.AllocsPerRun(1000, func() {
		_ = p.Delay(&cntl)
		_ = p.DoBackup(&cntl)
		p.OnCallEnd(&cntl)
	}); n != 0 {
		t.Errorf("Delay, DoBackup and OnCallEnd allocate %v times a call, want 0", n)
	}
}
