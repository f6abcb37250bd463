package lb_test

import (
	"errors"
	"testing"
	"time"

	"github.com/troupe-rpc/troupe/lb"
	"github.com/troupe-rpc/troupe/wire"
)

// TestRevivedFromAllFailed is brpc's revived_from_all_failed_sanity with
// min_working_instances=2 hold_seconds=1: with both servers Down the first call gets EHOSTDOWN
// and starts recovery, the next ones EREJECT; with one back about half the calls are turned
// away; once the count has held for more than a second, none is.
func TestRevivedFromAllFailed(t *testing.T) {
	for _, policy := range []string{"rr", "random"} {
		t.Run(policy, func(t *testing.T) {
			clock := newFakeClock()
			b := mustNew(t, policy+":min_working_instances=2 hold_seconds=1")
			lb.SetClock(b, clock.Now)
			servers := mkServers(2)
			servers[0].Down, servers[1].Down = true, true
			p := b.Build(servers)
			_, err := p.Pick(nil)
			wantCode(t, "first Pick with both Down", err, wire.EHOSTDOWN)
			for range 10 {
				_, err := p.Pick(nil)
				wantCode(t, "Pick while recovering with both Down", err, wire.EREJECT)
			}
			servers = mkServers(2)
			servers[0].Down = true
			p = b.Build(servers)
			if rejected := countRejects(t, p, 1000); abs(2*rejected-1000) >= 200 {
				t.Errorf("one of 2 back: %d of 1000 rejected, want about half", rejected)
			}
			clock.Advance(time.Second + time.Millisecond)
			if rejected := countRejects(t, p, 1000); rejected != 0 {
				t.Errorf("after the hold time: %d of 1000 rejected, want 0", rejected)
			}
		})
	}
}

// TestRecoveryWithoutParams: without the parameters, an all-Down list never leads to EREJECT.
func TestRecoveryWithoutParams(t *testing.T) {
	b := mustNew(t, "rr")
	servers := mkServers(2)
	servers[0].Down, servers[1].Down = true, true
	p := b.Build(servers)
	for range 3 {
		_, err := p.Pick(nil)
		wantCode(t, "Pick", err, wire.EHOSTDOWN)
	}
	if rejected := countRejects(t, b.Build(mkServers(2)), 100); rejected != 0 {
		t.Errorf("%d of 100 rejected, want 0", rejected)
	}
}

// countRejects picks n times and returns how many picks were EREJECT; any other error fails.
func countRejects(t *testing.T, p lb.Picker, n int) int {
	t.Helper()
	rejected := 0
	for range n {
		_, err := p.Pick(nil)
		switch {
		case errors.Is(err, wire.EREJECT):
			rejected++
		case err != nil:
			t.Fatalf("Pick = %v, want a server or EREJECT", err)
		}
	}
	return rejected
}

func abs(x int) int { return max(x, -x) }
