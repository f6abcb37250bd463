package lb_test

import (
	"testing"
	"time"

	"github.com/troupe-rpc/troupe/lb"
)

// laRun drives an la balancer on a fake clock: each step picks, feeds back what outcome says
// for the picked server, and moves the clock by 100µs. It returns the picks of the last half.
func laRun(t *testing.T, n, steps int, outcome func(i int) lb.Feedback) []int {
	t.Helper()
	clock := newFakeClock()
	b := mustNew(t, "la")
	lb.SetClock(b, clock.Now)
	servers := mkServers(n)
	p := b.Build(servers)
	counts := make([]int, n)
	for step := range steps {
		begin := clock.Now()
		i := mustPick(t, p, &lb.Request{Begin: begin})
		f := outcome(i)
		f.Server, f.Begin = servers[i].ServerNode, begin
		b.Feedback(f)
		clock.Advance(100 * time.Microsecond)
		if step >= steps/2 {
			counts[i]++
		}
	}
	return counts
}

func TestLocalityAwarePrefersFastServer(t *testing.T) {
	latency := []time.Duration{time.Millisecond, 10 * time.Millisecond}
	counts := laRun(t, 2, 20000, func(i int) lb.Feedback { return lb.Feedback{Latency: latency[i]} })
	t.Logf("1ms server: %d picks, 10ms server: %d picks", counts[0], counts[1])
	if counts[0] < 5*counts[1] || counts[1] == 0 {
		t.Errorf("picks %v, want the 1ms server ≥ 5× the 10ms one, and the 10ms one > 0", counts)
	}
}

func TestLocalityAwareErrorsLoseTraffic(t *testing.T) {
	counts := laRun(t, 3, 30000, func(i int) lb.Feedback {
		return lb.Feedback{Latency: time.Millisecond, Failed: i == 2, Timeout: 100 * time.Millisecond}
	})
	t.Logf("picks of two healthy servers and a failing one: %v", counts)
	if share := float64(counts[2]) / 15000; share > 0.05 || counts[2] == 0 {
		t.Errorf("failing server got %.2f%% of the picks, want some but under 5%%", 100*share)
	}
}

// TestLocalityAwareInflightPunishment: a server whose attempts hang loses its traffic.
func TestLocalityAwareInflightPunishment(t *testing.T) {
	clock := newFakeClock()
	b := mustNew(t, "la")
	lb.SetClock(b, clock.Now)
	servers := mkServers(2)
	p := b.Build(servers)
	others := func(i int) []lb.ServerNode { return []lb.ServerNode{servers[1-i].ServerNode} }
	for range 200 { // both learn 1ms
		for i := range 2 {
			begin := clock.Now()
			mustPick(t, p, &lb.Request{Begin: begin, Excluded: others(i)})
			b.Feedback(lb.Feedback{Server: servers[i].ServerNode, Begin: begin, Latency: time.Millisecond})
			clock.Advance(time.Millisecond)
		}
	}
	for range 10 { // attempts on server 0 that never end
		if i := mustPick(t, p, &lb.Request{Begin: clock.Now(), Excluded: others(0)}); i != 0 {
			t.Fatalf("Pick excluding server 1 = %d, want 0", i)
		}
	}
	clock.Advance(100 * time.Millisecond)
	counts := [2]int{}
	for range 1000 {
		begin := clock.Now()
		i := mustPick(t, p, &lb.Request{Begin: begin})
		b.Feedback(lb.Feedback{Server: servers[i].ServerNode, Begin: begin, Latency: time.Millisecond})
		counts[i]++
	}
	if counts[0] > 100 {
		t.Errorf("picks %v: the server with hung attempts got more than 10%%", counts)
	}
}
