package actors

import (
	"testing"
	"time"
)

// tuneRun feeds a tuner answers for d of simulated time: yield and skip are the answers per
// millisecond the connection makes with and without the yield (pause, if set, says which spans
// of time have none). It returns the fraction of the time spent without the yield.
func tuneRun(tu *yieldTuner, clock *time.Duration, d time.Duration, yield, skip float64, pause func(time.Duration) bool) float64 {
	var skipped time.Duration
	for end := *clock + d; *clock < end; {
		rate := yield
		if tu.skip.Load() {
			rate = skip
		}
		step := time.Duration(float64(time.Millisecond) / rate)
		if pause != nil && pause(*clock) {
			*clock += step
			continue
		}
		if tu.skip.Load() {
			skipped += step
		}
		*clock += step
		tu.answered()
	}
	return float64(skipped) / float64(d)
}

func newTestTuner() (*yieldTuner, *time.Duration) {
	clock := new(time.Duration)
	*clock = time.Hour
	return &yieldTuner{clock: func() time.Duration { return *clock }}, clock
}

// A socket whose connection answers faster without the yield drops it, keeps that for a second
// when the gain is large, and measures again afterwards.
func TestYieldTunerDropsTheYieldWhereWritingAtOnceIsFaster(t *testing.T) {
	tu, clock := newTestTuner()
	if tu.skip.Load() {
		t.Fatal("a new socket writes without the yield; it starts with it")
	}
	tuneRun(tu, clock, 60*time.Millisecond, 40, 52, nil) // one probe: 4 × (2 + 10 ms)
	if !tu.skip.Load() {
		t.Fatalf("after a probe in which not yielding made 30 %% more answers, the socket still yields (rates %v)", tu.rate)
	}
	if f := tuneRun(tu, clock, 10*time.Second, 40, 52, nil); f < 0.9 {
		t.Fatalf("writes went out without the yield %.0f %% of the time; want ≥ 90 %%", f*100)
	}
	if f := tuneRun(tu, clock, 10*time.Second, 52, 40, nil); f > 0.2 {
		t.Fatalf("once yielding became faster, writes still went out without it %.0f %% of the time", f*100)
	}
}

// Where the yield pays, the socket keeps it nearly all the time.
func TestYieldTunerKeepsTheYieldWhereItPays(t *testing.T) {
	tu, clock := newTestTuner()
	if f := tuneRun(tu, clock, 10*time.Second, 130, 85, nil); f > 0.03 {
		t.Fatalf("writes went out without the yield %.1f %% of the time; want < 3 %% (probes only)", f*100)
	}
}

// A small gain for not yielding is taken, but for a short while only; a gain below 3 % is not.
func TestYieldTunerMarginsAndHowLongAChoiceHolds(t *testing.T) {
	for _, tc := range []struct {
		name        string
		skip        float64 // answers per ms without the yield, against 100 with it
		chosen      bool
		minF, maxF  float64 // the fraction of time without the yield over 10 s
		holdsFor    time.Duration
		reprobeSoon bool
	}{
		{name: "not yielding 8% faster", skip: 108, chosen: true, minF: 0.6, maxF: 0.95, holdsFor: tuneShort},
		{name: "not yielding 2% faster", skip: 102, chosen: false, minF: 0, maxF: 0.25, holdsFor: tuneShort},
		{name: "not yielding 20% faster", skip: 120, chosen: true, minF: 0.9, maxF: 1, holdsFor: tuneLong},
		{name: "yielding 20% faster", skip: 100 / 1.2, chosen: false, minF: 0, maxF: 0.03, holdsFor: tuneLong},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tu, clock := newTestTuner()
			tuneRun(tu, clock, 60*time.Millisecond, 100, tc.skip, nil)
			if tu.phase != len(tuneProbe) {
				t.Fatalf("after 60 ms at 100 answers per ms the first probe has not ended (phase %d)", tu.phase)
			}
			if got := tu.skip.Load(); got != tc.chosen {
				t.Fatalf("without the yield: %v, want %v (rates %v)", got, tc.chosen, tu.rate)
			}
			if held := tu.until - *clock; held <= tc.holdsFor-15*time.Millisecond || held > tc.holdsFor {
				t.Fatalf("the choice holds for %v more; want about %v", held, tc.holdsFor)
			}
			if f := tuneRun(tu, clock, 10*time.Second, 100, tc.skip, nil); f < tc.minF || f > tc.maxF {
				t.Fatalf("writes went out without the yield %.1f %% of the time; want %.0f – %.0f %%", f*100, tc.minF*100, tc.maxF*100)
			}
		})
	}
}

// A pause in the load that falls into a probe epoch is not taken for a verdict on the yield.
func TestYieldTunerIgnoresAProbeWithAPause(t *testing.T) {
	tu, clock := newTestTuner()
	start := *clock
	// The yield is the faster way, but the first epoch (with it: measured 2 – 12 ms) has a 9 ms
	// pause, which makes yielding look far slower over the probe.
	pause := func(at time.Duration) bool { at -= start; return at >= 3*time.Millisecond && at < 12*time.Millisecond }
	tuneRun(tu, clock, 60*time.Millisecond, 100, 90, pause)
	if tu.phase != len(tuneProbe) || tu.skip.Load() || tu.until-*clock > tuneShort {
		t.Fatalf("after a probe with a pause: phase %d, without the yield %v, held %v more; want the yield for at most %v (rates %v)",
			tu.phase, tu.skip.Load(), tu.until-*clock, tuneShort, tu.rate)
	}
}

// An idle connection has no answers and so never looks at the clock.
func TestYieldTunerIdleDoesNothing(t *testing.T) {
	looks := 0
	tu := &yieldTuner{clock: func() time.Duration { looks++; return time.Hour }}
	for range tuneEvery - 1 {
		tu.answered()
	}
	if looks != 0 {
		t.Fatalf("the tuner read the clock %d times for %d answers; want 0", looks, tuneEvery-1)
	}
	tu.answered()
	if looks != 1 {
		t.Fatalf("the tuner read the clock %d times for %d answers; want 1", looks, tuneEvery)
	}
}

// The console shows whether a socket yields before its writes.
func TestYieldTunerChoiceIsInspectable(t *testing.T) {
	sk := &socket{addr: "127.0.0.1:1"}
	if got := sk.inspect(time.Now()).Counters["write_yield"]; got != 1 {
		t.Fatalf("a new socket shows write_yield %d, want 1", got)
	}
	sk.pending.tune.skip.Store(true)
	if got := sk.inspect(time.Now()).Counters["write_yield"]; got != 0 {
		t.Fatalf("a socket that writes at once shows write_yield %d, want 0", got)
	}
}

// A single connection's writer yields for the frames of calls that were just answered only until
// it gathered maxYieldFrames frames, and counts afresh once the mailbox drained (and wrote them).
func TestSocketYieldsUntilItGatheredEnoughFrames(t *testing.T) {
	a := &socketActor{sk: &socket{}}
	if a.yieldFirst() {
		t.Fatal("the writer yields although no answered call is about to send")
	}
	a.sk.pending.comingN.Store(3)
	for i := range maxYieldFrames {
		if !a.yieldFirst() {
			t.Fatalf("with %d frames gathered and answered calls about to send, the writer does not yield", i)
		}
		a.gathered++
	}
	if a.yieldFirst() {
		t.Fatalf("with %d frames gathered, the writer yields for more", a.gathered)
	}
	a.onDrained()
	if !a.yieldFirst() {
		t.Fatal("after the mailbox drained, the writer still counts the frames it wrote")
	}
	a.sk.pending.tune.skip.Store(true)
	if a.yieldFirst() {
		t.Fatal("the writer yields although its connection measured that writing at once is faster")
	}
}
