package combo_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// Many nested calls at once whose deadlines, cancels and answers race: every call ends exactly
// once with a result brpc allows, and none is left behind.
func TestComboStressDeadlinesCancelsAndAnswers(t *testing.T) {
	addr := startEcho(t, &echoservice.Service{Sleep: 2 * time.Millisecond})
	sys := newSystem(t)
	inner := newPChan(t, sys, &combo.ParallelOptions{FailLimit: 2}, addr, 4, nil, nil)
	sel := newSChan(t, sys, &combo.SelectiveOptions{BackupRequest: time.Millisecond},
		plain(t, sys, addr, nil), plain(t, sys, addr, nil), inner)
	outer, err := combo.NewParallelChannel(sys, &combo.ParallelOptions{Timeout: 4 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer outer.Close()
	for _, ch := range []actors.Channel{inner, sel, plain(t, sys, addr, nil)} {
		if err := outer.AddChannel(ch, combo.DoesntOwnChannel, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	allowed := map[wire.Errno]bool{0: true, wire.ERPCTIMEDOUT: true, wire.ECANCELED: true}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 40 {
				ctx, cancel := context.WithCancel(t.Context())
				var cntl actors.Controller
				runs := 0
				call := outer.Go(ctx, echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl, func(*actors.Controller) { runs++ })
				if (g+i)%3 == 0 {
					time.Sleep(time.Duration(i%4) * time.Millisecond)
					cancel()
				}
				err := call.Wait()
				cancel()
				if !allowed[wire.ErrnoOf(err)] || runs != 1 {
					t.Errorf("Call() = %v with done run %d times, want success, ERPCTIMEDOUT or ECANCELED and 1 run", err, runs)
					return
				}
			}
		})
	}
	wg.Wait()
	noCallsLeft(t, sys)
}
