//go:build race

package actors

import "time"

// TestServerAutoLimiterUnderOverload's scale and bounds under the race detector, which makes each
// call cost several times the CPU: at 4000 calls a second the load generator and the server's
// reading, not the method's tokens, would be the bottleneck. So the method's capacity is halved
// (tokens held 40 ms), the offered load with it (still 10 times the capacity), and the warm-up
// is longer, the auto limiter's windows of 200 samples taking twice as long to fill. The latency
// bound is the same; the goodput bound is looser, 50 % of the capacity the method had instead of
// 80 %: on two shared CPUs, the race detector's cost leaves the process short of CPU, its
// latency then comes from waiting for a CPU rather than for a token, and the limiter, seeing
// latency rise, settles lower than the number of tokens.
const (
	overloadHold         = 40 * time.Millisecond
	overloadWarmup       = 8 * time.Second
	overloadLatencyBound = 3
	overloadGoodput      = 0.5
)
