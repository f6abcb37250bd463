package actors

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/troupe-rpc/troupe/wire"
)

// smallBreaker has brpc's unit-test windows: 500 and 1000 samples, 10% and 5%, isolation 10..200ms.
func smallBreaker() *breaker {
	p := defaultBreakerParams()
	p.shortWindow, p.shortPct, p.longWindow, p.longPct = 500, 10, 1000, 5
	p.minIsolation, p.maxIsolation = 10*time.Millisecond, 200*time.Millisecond
	return newBreaker(p)
}

// feedRate feeds n samples with the given error rate and reports whether the breaker tripped.
func feedRate(b *breaker, n int, rate float64, r *rand.Rand) bool {
	for range n {
		code := wire.Errno(0)
		if r.Float64() < rate {
			code = wire.EINTERNAL
		}
		if b.feed(code, time.Duration(900+r.IntN(200))*time.Microsecond) {
			return true
		}
	}
	return false
}

func TestBreakerTolerance(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	if feedRate(smallBreaker(), 6000, 0.03, r) {
		t.Error("3% errors tripped the breaker")
	}
	if !feedRate(smallBreaker(), 6000, 0.5, r) {
		t.Error("50% errors did not trip the breaker")
	}
	b := smallBreaker()
	feedRate(b, 2000, 0, r) // past warm-up, latency known
	if !feedRate(b, 2000, 0.3, r) {
		t.Error("a burst of 30% errors after a healthy period did not trip the breaker")
	}
	if b.feed(0, time.Millisecond) {
		t.Error("a broken breaker reported a second trip")
	}
}

func TestBreakerIgnoresELIMIT(t *testing.T) {
	b := smallBreaker()
	for range 5000 {
		if b.feed(wire.ELIMIT, time.Millisecond) {
			t.Fatal("ELIMIT tripped the breaker")
		}
	}
}

func TestBreakerIsolationDoubles(t *testing.T) {
	b := smallBreaker()
	now := time.Now()
	b.trip(now)
	if got := b.isolation; got != 10*time.Millisecond {
		t.Fatalf("first isolation = %v, want the minimum 10ms", got)
	}
	for _, want := range []time.Duration{20, 40, 80, 160, 200, 200} {
		b.lastReset = now
		b.trip(now.Add(time.Millisecond))
		if b.isolation != want*time.Millisecond {
			t.Fatalf("isolation after a quick new break = %v, want %v", b.isolation, want*time.Millisecond)
		}
	}
	b.lastReset = now
	b.trip(now.Add(time.Second)) // long after the reset: back to the minimum
	if b.isolation != 10*time.Millisecond {
		t.Fatalf("isolation after a long healthy period = %v, want 10ms", b.isolation)
	}
}
