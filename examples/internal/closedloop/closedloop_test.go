package closedloop

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/troupe-rpc/troupe/actors"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestLatencyIsWhatTheCallerSaw: a call that makes no RPC (its Controller's latency stays 0)
// but takes at least 2 ms of the caller's time is recorded as taking at least 2 ms.
func TestLatencyIsWhatTheCallerSaw(t *testing.T) {
	const least = 2 * time.Millisecond
	var out strings.Builder
	l := &Loop{
		Threads:  2,
		Duration: 50 * time.Millisecond,
		Out:      &out,
		Messages: func() Messages {
			return Messages{Call: func(context.Context, *actors.Controller) error {
				for began := time.Now(); time.Since(began) < least; {
				}
				return nil
			}}
		},
	}
	if errs := l.Run(); errs != 0 {
		t.Fatalf("%d errors:\n%s", errs, out.String())
	}
	m := regexp.MustCompile(`(?m)^qps=\d+ p50_us=(\d+) p99_us=\d+ errors=0$`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no summary line in:\n%s", out.String())
	}
	if p50, _ := strconv.Atoi(m[1]); p50 < int(least.Microseconds()) {
		t.Fatalf("p50 = %d µs, want at least %d:\n%s", p50, least.Microseconds(), out.String())
	}
}
