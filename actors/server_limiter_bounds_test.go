//go:build !race

package actors

import "time"

// TestServerAutoLimiterUnderOverload's scale and bounds: how long a request holds one of the
// method's tokens on average, how long the load runs before it is measured, the p99 latency of
// the calls the limiter admits in multiples of the unloaded one, and the goodput as a share of
// the method's capacity.
const (
	overloadHold         = 20 * time.Millisecond
	overloadWarmup       = 5 * time.Second
	overloadLatencyBound = 3
	overloadGoodput      = 0.8
)
