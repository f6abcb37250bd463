package actors

import (
	"fmt"
	"time"

	"github.com/troupe-rpc/troupe/wire"
)

// CircuitBreakerOptions tunes brpc's circuit breaker for every channel of a [System] that
// enables it ([ChannelOptions.EnableCircuitBreaker]). Each field mirrors one of brpc's gflags;
// as everywhere in troupe, 0 means the default (brpc's), and a negative value is an error.
// NewSystem returns EINVAL naming the field for a negative value, a percentage over 100 or a
// MinIsolation above MaxIsolation.
type CircuitBreakerOptions struct {
	// LongWindow is the number of attempts the long window averages over
	// (-circuit_breaker_long_window_size). 0 means 3000.
	LongWindow int
	// ShortWindow is the number of attempts the short window averages over
	// (-circuit_breaker_short_window_size). 0 means 1500.
	ShortWindow int
	// LongErrorPercent is the error rate, in percent, the long window tolerates
	// (-circuit_breaker_long_window_error_percent). 0 means 5; at most 100.
	LongErrorPercent int
	// ShortErrorPercent is the error rate, in percent, the short window tolerates
	// (-circuit_breaker_short_window_error_percent). 0 means 10; at most 100.
	ShortErrorPercent int
	// MinErrorCost is the error cost below which a success clears a window's accumulated cost
	// instead of decaying it (-circuit_breaker_min_error_cost_us). 0 means 500 µs.
	MinErrorCost time.Duration
	// MaxFailedLatencyMultiple bounds the cost of one error to this many times the mean latency
	// of successes (-circuit_breaker_max_failed_latency_mutiple). 0 means 2.
	MaxFailedLatencyMultiple float64
	// MinIsolation is how long a server is isolated the first time its breaker trips, and again
	// when it trips after a quiet period of MaxIsolation
	// (-circuit_breaker_min_isolation_duration_ms). Each trip within MaxIsolation of the last
	// revival doubles it. 0 means 100 ms.
	MinIsolation time.Duration
	// MaxIsolation caps the isolation time (-circuit_breaker_max_isolation_duration_ms). 0 means
	// 30 s.
	MaxIsolation time.Duration
	// HalfOpenWindow, when positive, is the number of attempts after a revival that must all
	// succeed: any error among them trips the breaker again at once
	// (-circuit_breaker_half_open_window_size). 0 means off, brpc's default.
	HalfOpenWindow int
}

// params validates o and fills in the defaults.
func (o CircuitBreakerOptions) params() (breakerParams, error) {
	p := defaultBreakerParams()
	bad := func(field string, v any, want string) error {
		return &wire.Error{Code: wire.EINVAL, Text: fmt.Sprintf("troupe: SystemOptions.CircuitBreaker.%s = %v, want %s", field, v, want)}
	}
	ints := []struct {
		name string
		v    int
		dst  *int
	}{
		{"LongWindow", o.LongWindow, &p.longWindow},
		{"ShortWindow", o.ShortWindow, &p.shortWindow},
		{"HalfOpenWindow", o.HalfOpenWindow, &p.halfOpenWindow},
	}
	for _, f := range ints {
		if f.v < 0 {
			return p, bad(f.name, f.v, ">= 0")
		}
		if f.v > 0 {
			*f.dst = f.v
		}
	}
	pcts := []struct {
		name string
		v    int
		dst  *float64
	}{
		{"LongErrorPercent", o.LongErrorPercent, &p.longPct},
		{"ShortErrorPercent", o.ShortErrorPercent, &p.shortPct},
	}
	for _, f := range pcts {
		if f.v < 0 || f.v > 100 {
			return p, bad(f.name, f.v, "between 0 and 100")
		}
		if f.v > 0 {
			*f.dst = float64(f.v)
		}
	}
	durs := []struct {
		name string
		v    time.Duration
		dst  *time.Duration
	}{
		{"MinErrorCost", o.MinErrorCost, &p.minErrorCost},
		{"MinIsolation", o.MinIsolation, &p.minIsolation},
		{"MaxIsolation", o.MaxIsolation, &p.maxIsolation},
	}
	for _, f := range durs {
		if f.v < 0 {
			return p, bad(f.name, f.v, ">= 0")
		}
		if f.v > 0 {
			*f.dst = f.v
		}
	}
	if o.MaxFailedLatencyMultiple < 0 {
		return p, bad("MaxFailedLatencyMultiple", o.MaxFailedLatencyMultiple, ">= 0")
	}
	if o.MaxFailedLatencyMultiple > 0 {
		p.maxFailedLatencyMult = o.MaxFailedLatencyMultiple
	}
	if p.minIsolation > p.maxIsolation {
		return p, bad("MinIsolation", p.minIsolation, fmt.Sprintf("<= MaxIsolation (%v)", p.maxIsolation))
	}
	return p, nil
}
