//go:build !race

package actors

// The bounds TestServerAutoLimiterUnderOverload holds the auto limiter to: the p99 latency of the
// calls it admits, in multiples of the unloaded latency, and the goodput, as a share of the
// method's capacity.
const (
	overloadLatencyBound = 3
	overloadGoodput      = 0.8
)
