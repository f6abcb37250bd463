package main

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain also lets the test binary be the soak's echo server: run sends its children the
// arguments "-serve <addr>" to the same executable.
func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == serveFlag {
		os.Exit(serve(os.Args[2]))
	}
	goleak.VerifyTestMain(m)
}

// TestSoakShort runs a short soak, with its kills, naming edits and slow readers, and checks
// that the report parses, counts calls that succeeded and passes.
func TestSoakShort(t *testing.T) {
	var out strings.Builder
	c := config{duration: 2 * time.Second, warmup: 4 * time.Second, callers: 8, window: 4, servers: 4,
		slowReaders: 2, seed: 1, goMemory: underRace, out: &out}
	err := run(c)
	t.Logf("report:\n%s", out.String())
	if err != nil {
		t.Fatalf("run() = %v", err)
	}
	report := map[string]string{}
	for line := range strings.Lines(out.String()) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ": ")
		if !ok {
			t.Fatalf("report line %q is not \"key: value\"", line)
		}
		report[k] = v
	}
	for _, k := range []string{"soak", "calls", "successes", "errors", "successes/calls by channel", "finished twice", "never finished", "kills",
		"restarts", "naming edits", "slow reader connections", "client rss", "client anonymous rss", "client anonymous rss holding data", "client live heap", "client heap in use, stacks, runtime", "client threads", "client goroutines",
		"client actors left after closing", "server rss", "result"} {
		if _, ok := report[k]; !ok {
			t.Errorf("report has no %q line", k)
		}
	}
	if got := report["result"]; got != "PASS" {
		t.Errorf("result: %s, want PASS", got)
	}
	number := func(k string) int {
		n, err := strconv.Atoi(report[k])
		if err != nil {
			t.Fatalf("%s: %q is not a number", k, report[k])
		}
		return n
	}
	if calls, ok := number("calls"), number("successes"); ok == 0 || ok > calls {
		t.Errorf("calls: %d, successes: %d; want some successes, no more than the calls", calls, ok)
	}
	if n := number("finished twice") + number("never finished"); n != 0 {
		t.Errorf("finished twice + never finished = %d, want 0", n)
	}
}

// TestSoakRejectsBadFlags checks that run refuses a configuration it cannot run.
func TestSoakRejectsBadFlags(t *testing.T) {
	for _, c := range []config{
		{duration: time.Second, warmup: time.Second, callers: 0, window: 1, servers: 2},
		{duration: time.Second, warmup: time.Second, callers: 1, window: 1, servers: 1},
		{duration: 0, warmup: time.Second, callers: 1, window: 1, servers: 2},
	} {
		if err := run(c); err == nil {
			t.Errorf("run(%+v) = nil, want an error", c)
		}
	}
}
