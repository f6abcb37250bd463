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
// latencies and, for a combo channel, the latency of each sub-call.
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
func (l *Loop) Run() (errors int64) {
	if l.Interval <= 0 {
		l.Interval = time.Second
	}
	callers := make([]*caller, l.Threads)
	for i := range callers {
		callers[i] = &caller{lat: make([]int64, 0, 1<<12), subUs: make([]atomic.Int64, l.SubChannels), subN: make([]atomic.Int64, l.SubChannels)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.Duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range callers {
		msgs := l.Messages()
		wg.Go(func() { l.loop(ctx, c, msgs) })
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	l.progress(callers, done)
	return l.summary(callers, time.Since(start))
}

func (l *Loop) loop(ctx context.Context, c *caller, m Messages) {
	att := make([]byte, l.AttachmentSize)
	var cntl actors.Controller
	for n := int64(0); ctx.Err() == nil; n++ {
		cntl.Reset()
		if m.Prepare != nil {
			m.Prepare(n)
		}
		if len(att) > 0 {
			cntl.SetRequestAttachment(att)
		}
		err := m.Call(context.Background(), &cntl)
		if err == nil && m.Check != nil {
			err = m.Check()
		}
		c.calls.Add(1)
		if err != nil {
			c.errors.Add(1)
			continue
		}
		us := cntl.Latency().Microseconds()
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

// progress prints, every interval until done, the rate and mean latency of the last interval
// and the mean latency of each sub-call:
//
//	qps=20512 latency=2401us errors=0 sub[0]=2188us sub[1]=2190us sub[2]=2187us
func (l *Loop) progress(callers []*caller, done <-chan struct{}) {
	tick := time.NewTicker(l.Interval)
	defer tick.Stop()
	last := l.totals(callers)
	lastAt := time.Now()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		now, cur := time.Now(), l.totals(callers)
		ok := (cur.calls - cur.errors) - (last.calls - last.errors)
		var b strings.Builder
		fmt.Fprintf(&b, "qps=%d latency=%dus errors=%d", int64(float64(cur.calls-last.calls)/now.Sub(lastAt).Seconds()),
			mean(cur.sumUs-last.sumUs, ok), cur.errors-last.errors)
		for i := range l.SubChannels {
			fmt.Fprintf(&b, " sub[%d]=%dus", i, mean(cur.subUs[i]-last.subUs[i], cur.subN[i]-last.subN[i]))
		}
		fmt.Fprintln(l.Out, b.String())
		last, lastAt = cur, now
	}
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
