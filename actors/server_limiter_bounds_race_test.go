//go:build race

package actors

// The bounds TestServerAutoLimiterUnderOverload holds the auto limiter to under the race
// detector: the same as without it.
const (
	overloadLatencyBound = 3
	overloadGoodput      = 0.8
)
