package actors

import (
	"sync/atomic"
	"time"
)

// Whether a socket actor yields before it writes — so that callers just answered can add their
// next frames to the same write — pays on some machines and costs on others: where waking a
// thread on the other processor is slow, yielding with eight callers cut a connection's calls/s
// by a quarter to a third, while with 64 callers not yielding cut them by a third, and on a machine with
// fast wake-ups not yielding lost at eight callers too. No fixed rule fitted both machines, so a
// socket measures: its yieldTuner runs the connection with and without the yield for short
// epochs, compares the answers per second, and keeps the better way for a while before it
// measures again.
const (
	tuneSettle = 2 * time.Millisecond  // after a switch, not measured: queues adjust to it
	tuneEpoch  = 10 * time.Millisecond // measured, per probe epoch
	tuneShort  = 250 * time.Millisecond
	tuneLong   = time.Second // kept this long when one way was clearly faster
	// tuneEvery is how many answers pass between looks at the clock.
	tuneEvery = 16
)

// tuneProbe is the order of the probe epochs: yielding, not yielding, not yielding, yielding
// (a drift in the load during the probe then weighs on both ways alike).
var tuneProbe = [4]bool{false, true, true, false}

// yieldTuner finds out whether the socket actor's writes should go out without first yielding
// for more frames. It is advanced by the connection's answers, under the pending map's lock; an
// idle connection does nothing. Starting with the yield, it probes both ways, each for two
// epochs, compares their answers per second and keeps the better way for tuneShort, or tuneLong
// when it won by 15 % or more; then it probes again. Not yielding must win by 3 % to be chosen,
// and a probe in which one epoch made less than a third of another's answers (a pause in the
// load fell into it) keeps the yield. A probe costs about 1 % of a second's calls where one way
// is a third slower than the other; a change in the load is followed within a second.
type yieldTuner struct {
	skip atomic.Bool // writes go out without the yield; read by the socket actor

	clock func() time.Duration    // monotonic time; nil: since the process started
	n     int                     // answers counted in this phase
	phase int                     // 0 – 3: probing, tuneProbe[phase]; 4: keeping the choice
	begin time.Duration           // when this phase began
	mark  time.Duration           // when its measuring began; 0 while it settles
	until time.Duration           // the end of the choice, in phase 4
	rate  [len(tuneProbe)]float64 // answers per ns in each probe epoch
}

var processStart = time.Now()

func (t *yieldTuner) now() time.Duration {
	if t.clock != nil {
		return t.clock()
	}
	return time.Since(processStart)
}

// answered counts an answer handed to its call.
func (t *yieldTuner) answered() {
	t.n++
	if t.n%tuneEvery != 0 {
		return
	}
	now := t.now()
	switch {
	case t.phase == len(tuneProbe):
		if now >= t.until {
			t.to(0, now)
		}
	case t.mark == 0:
		if now-t.begin >= tuneSettle {
			t.mark, t.n = now, 0
		}
	case now-t.mark >= tuneEpoch:
		t.rate[t.phase] = float64(t.n) / float64(now-t.mark)
		if t.phase+1 < len(tuneProbe) {
			t.to(t.phase+1, now)
			return
		}
		t.decide(now)
	}
}

// to starts probe phase i.
func (t *yieldTuner) to(i int, now time.Duration) {
	t.phase, t.begin, t.mark, t.n = i, now, 0, 0
	t.skip.Store(tuneProbe[i])
}

// decide ends a probe: it keeps the better way from now on.
func (t *yieldTuner) decide(now time.Duration) {
	var with, without, lo, hi float64 // answers per ns: with the yield, without, per epoch
	for i, r := range t.rate {
		if tuneProbe[i] {
			without += r
		} else {
			with += r
		}
		if i == 0 || r < lo {
			lo = r
		}
		hi = max(hi, r)
	}
	skip, clear := false, false
	switch {
	case hi > 3*lo: // a pause in the load, not a measure of the yield
	case without >= with*1.15:
		skip, clear = true, true
	case without >= with*1.03:
		skip = true
	case with >= without*1.15:
		clear = true
	}
	hold := tuneShort
	if clear {
		hold = tuneLong
	}
	t.phase, t.n, t.until = len(tuneProbe), 0, now+hold
	t.skip.Store(skip)
}
