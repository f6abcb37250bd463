// Package closedloop is the closed loop of callers behind the echo examples: each caller makes one
// synchronous call after another on a channel until the duration ends; a progress line reports
// each interval and a summary line ends the run. It links no message package of its own: the
// caller gives the call, made with its generated client, so that a program speaking brpc's
// parallel example's EchoService (whose messages share their names with the string echo's) can
// use it too.
package closedloop

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/troupe-rpc/troupe/actors"
)

// Messages are one caller's call, made with the caller's own request over and over.
type Messages struct {
	// Call (required) makes one synchronous call with cntl, typically with a generated client.
	Call func(ctx context.Context, cntl *actors.Controller) error
	// Prepare, if set, readies the request for the caller's n-th call (n counts from 0).
	Prepare func(n int64)
	// Check, if set, checks the response after a call succeeded; an error counts the call as
	// failed.
	Check func() error
}

// Loop is a closed loop of callers, each making Messages' call: each caller records its
// latencies and, for a combo channel, the latency of each sub-call. A call's latency is the time
// its caller saw, from before it started the call until it ran again after the call returned,
// as the raw and gRPC-Go peers measure theirs: it includes the wake-up of the caller, which
// Controller.Latency (the call's own time, as brpc reports it) does not.
type Loop struct {
	// Messages (required) makes each caller's messages; it is called once per caller, before the
	// calls start.
	Messages       func() Messages
	Threads        int
	SubChannels    int // sub-channels whose sub-call latency is reported
	AttachmentSize int
	Duration       time.Duration
	Interval       time.Duration // between progress lines; 0 means a second
	Out            io.Writer
	// SummaryExtra, if set, adds fields to the summary line; it gets the number of calls made.
	SummaryExtra func(calls int64) string
}

// caller is one caller's record. lat is its own; the counters are read by the progress printer.
type caller struct {
	lat    []int64 // latencies of the successful calls, in µs
	calls  atomic.Int64
	errors atomic.Int64
	sumUs  atomic.Int64
	subUs  []atomic.Int64 // summed latency of each sub-call of the successful calls
	subN   []atomic.Int64
}

// Run runs the callers, prints a progress line every interval and the summary line at the end,
// and returns how many calls failed.
//
// The loop keeps no Go timer: each caller reads the clock after its call, to stop once the
// duration ended and, when the interval passed, to print the progress line (so no line comes
// while every caller waits for its call). A pending Go timer
// is not free for the process measured (its scheduler checks the timer whenever it looks for
// work, and wakes its network poller when a thread goes idle with the timer in view), and a load
// generator should cost its program no more than its calls.
func (l *Loop) Run() (errors int64) {
	if l.Interval <= 0 {
		l.Interval = time.Second
	}
	callers := make([]*caller, l.Threads)
	for i := range callers {
		callers[i] = &caller{lat: make([]int64, 0, 1<<12), subUs: make([]atomic.Int64, l.SubChannels), subN: make([]atomic.Int64, l.SubChannels)}
	}
	start := time.Now()
	p := &progress{l: l, callers: callers, end: start.Add(l.Duration), last: l.totals(callers), lastAt: start}
	p.next.Store(start.Add(l.Interval).UnixNano())
	var wg sync.WaitGroup
	for _, c := range callers {
		msgs := l.Messages()
		wg.Go(func() { l.loop(p, c, msgs) })
	}
	wg.Wait()
	return l.summary(callers, time.Since(start))
}

func (l *Loop) loop(p *progress, c *caller, m Messages) {
	att := make([]byte, l.AttachmentSize)
	var cntl actors.Controller
	for n := int64(0); ; n++ {
		began := time.Now()
		if !p.tick(began) {
			return
		}
		cntl.Reset()
		if m.Prepare != nil {
			m.Prepare(n)
		}
		if len(att) > 0 {
			cntl.SetRequestAttachment(att)
		}
		err := m.Call(context.Background(), &cntl)
		took := time.Since(began)
		if err == nil && m.Check != nil {
			err = m.Check()
		}
		c.calls.Add(1)
		if err != nil {
			c.errors.Add(1)
			continue
		}
		us := took.Microseconds()
		c.sumUs.Add(us)
		c.lat = append(c.lat, us)
		for i := range min(l.SubChannels, cntl.SubCount()) {
			if s := cntl.Sub(i); s != nil {
				c.subUs[i].Add(s.Latency().Microseconds())
				c.subN[i].Add(1)
			}
		}
	}
}

// totals sums the callers' counters.
type totals struct {
	calls, errors, sumUs int64
	subUs, subN          []int64
}

func (l *Loop) totals(callers []*caller) totals {
	t := totals{subUs: make([]int64, l.SubChannels), subN: make([]int64, l.SubChannels)}
	for _, c := range callers {
		t.calls += c.calls.Load()
		t.errors += c.errors.Load()
		t.sumUs += c.sumUs.Load()
		for i := range l.SubChannels {
			t.subUs[i] += c.subUs[i].Load()
			t.subN[i] += c.subN[i].Load()
		}
	}
	return t
}

// progress tells the callers when to stop and prints, every interval, the rate and mean latency
// of the last interval and the mean latency of each sub-call:
//
//	qps=20512 latency=2401us errors=0 sub[0]=2188us sub[1]=2190us sub[2]=2187us
type progress struct {
	l       *Loop
	callers []*caller
	end     time.Time
	next    atomic.Int64 // when the next line is due, in Unix nanoseconds
	mu      sync.Mutex   // the printer's: the fields below
	last    totals
	lastAt  time.Time
}

// tick reports whether a caller goes on at now, and prints the progress line when it is due.
func (p *progress) tick(now time.Time) bool {
	if !now.Before(p.end) {
		return false
	}
	if now.UnixNano() < p.next.Load() || !p.mu.TryLock() { // not due, or another caller prints it
		return true
	}
	defer p.mu.Unlock()
	if now.UnixNano() < p.next.Load() {
		return true // printed meanwhile
	}
	p.next.Store(now.Add(p.l.Interval).UnixNano())
	cur := p.l.totals(p.callers)
	ok := (cur.calls - cur.errors) - (p.last.calls - p.last.errors)
	var b strings.Builder
	fmt.Fprintf(&b, "qps=%d latency=%dus errors=%d", int64(float64(cur.calls-p.last.calls)/now.Sub(p.lastAt).Seconds()),
		mean(cur.sumUs-p.last.sumUs, ok), cur.errors-p.last.errors)
	for i := range p.l.SubChannels {
		fmt.Fprintf(&b, " sub[%d]=%dus", i, mean(cur.subUs[i]-p.last.subUs[i], cur.subN[i]-p.last.subN[i]))
	}
	fmt.Fprintln(p.l.Out, b.String())
	p.last, p.lastAt = cur, now
	return true
}

// summary prints the last line, qps=<n> p50_us=<n> p99_us=<n> errors=<n>, and returns the errors.
func (l *Loop) summary(callers []*caller, elapsed time.Duration) int64 {
	var all []int64
	for _, c := range callers {
		all = append(all, c.lat...)
	}
	slices.Sort(all)
	pct := func(p float64) int64 {
		if len(all) == 0 {
			return 0
		}
		return all[min(len(all)-1, int(p*float64(len(all))))]
	}
	t := l.totals(callers)
	line := fmt.Sprintf("qps=%d p50_us=%d p99_us=%d errors=%d",
		int64(float64(t.calls)/elapsed.Seconds()), pct(0.50), pct(0.99), t.errors)
	if l.SummaryExtra != nil {
		line += " " + l.SummaryExtra(t.calls)
	}
	fmt.Fprintln(l.Out, line)
	return t.errors
}

func mean(sum, n int64) int64 {
	if n <= 0 {
		return 0
	}
	return sum / n
}
