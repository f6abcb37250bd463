package actors

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/troupe-rpc/troupe/wire"
)

// Values of [ServerOptions.MethodMaxConcurrency], as brpc's AdaptiveMaxConcurrency spells them.
const (
	limitAuto      = "auto"
	limitUnlimited = "unlimited"
	limitDefault   = "*" // the key for every method without an entry of its own
)

// methodLimit bounds how many requests of one method are handled at once, brpc's per-method
// max_concurrency: a fixed number, or one the auto limiter moves. A method without a limit has a
// nil *methodLimit, whose methods do nothing.
type methodLimit struct {
	name     string
	max      atomic.Int64 // requests allowed in progress at once
	inflight atomic.Int64 // requests admitted and not yet answered
	admitted atomic.Int64 // requests admitted since the server started
	rejected atomic.Int64 // requests refused with ELIMIT since the server started
	auto     *autoLimiter // moves max; nil for a fixed limit
}

// limitStats is what a method's limiter did so far; the zero value for a method without one.
type limitStats struct {
	Max, Inflight, Admitted, Rejected int64
	Auto                              bool
}

// parseLimit reads one value of MethodMaxConcurrency: the fixed limit (n > 0), 0 for none, or
// auto.
func parseLimit(key, v string) (n int, auto bool, err error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case limitAuto:
		return 0, true, nil
	case limitUnlimited, "0":
		return 0, false, nil
	}
	n, err = strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n <= 0 {
		return 0, false, &wire.Error{Code: wire.EINVAL, Text: fmt.Sprintf(
			"ServerOptions.MethodMaxConcurrency[%q] = %q, want a number > 0, %q, %q or \"0\"", key, v, limitAuto, limitUnlimited)}
	}
	return n, false, nil
}

// checkLimitValues validates the values of MethodMaxConcurrency, whose keys can be checked only
// once the methods are registered (see [Server.applyMethodLimits]).
func checkLimitValues(limits map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(limits)) {
		if _, _, err := parseLimit(k, limits[k]); err != nil {
			return err
		}
	}
	return nil
}

// applyMethodLimits gives each registered method the limiter MethodMaxConcurrency asks for: its
// own entry, else the "*" entry, else none. A key that names no registered method is ENOMETHOD,
// and nothing is applied. It runs under s.mu when the first listener starts, before any request
// can arrive, and again (with the same outcome) if that start failed.
func (s *Server) applyMethodLimits() error {
	limits := s.opts.MethodMaxConcurrency
	for _, k := range slices.Sorted(maps.Keys(limits)) {
		if _, ok := s.methods[k]; !ok && k != limitDefault {
			return &wire.Error{Code: wire.ENOMETHOD, Text: fmt.Sprintf(
				"ServerOptions.MethodMaxConcurrency names method %q, which is not registered", k)}
		}
	}
	for name, m := range s.methods {
		v, ok := limits[name]
		if !ok {
			v, ok = limits[limitDefault]
		}
		m.limit = nil
		if !ok {
			continue
		}
		n, auto, _ := parseLimit(name, v) // checked by NewServer
		switch {
		case auto:
			m.limit = newAutoMethodLimit(name, time.Now())
		case n > 0:
			m.limit = &methodLimit{name: name}
			m.limit.max.Store(int64(n))
		}
	}
	return nil
}

// admit counts a request of the method in, or refuses it with ELIMIT when as many are in
// progress as the limit allows. Like brpc, it counts first and compares after.
func (l *methodLimit) admit() *wire.Error {
	if l == nil {
		return nil
	}
	n := l.inflight.Add(1)
	if limit := l.max.Load(); n > limit {
		l.inflight.Add(-1)
		l.rejected.Add(1)
		kind := ""
		if l.auto != nil {
			kind = " (auto)"
		}
		return &wire.Error{Code: wire.ELIMIT, Text: fmt.Sprintf(
			"Rejected by %s's ConcurrencyLimiter, concurrency=%d, max_concurrency=%d%s", l.name, n, limit, kind)}
	}
	l.admitted.Add(1)
	return nil
}

// release counts out a request admit let in, which ran from start to end and failed with werr
// (nil: succeeded); the auto limiter learns from it.
func (l *methodLimit) release(werr *wire.Error, start, end time.Time) {
	if l == nil {
		return
	}
	l.inflight.Add(-1)
	if l.auto != nil {
		var code wire.Errno
		if werr != nil {
			code = werr.Code
		}
		l.auto.onResponded(code, end.Sub(start), end)
	}
}

// stats returns the limiter's counters.
func (l *methodLimit) stats() limitStats {
	if l == nil {
		return limitStats{}
	}
	return limitStats{Max: l.max.Load(), Inflight: l.inflight.Load(), Admitted: l.admitted.Load(),
		Rejected: l.rejected.Load(), Auto: l.auto != nil}
}

// methodLimitStats returns the limiter counters of a registered method, and whether it is
// registered.
func (s *Server) methodLimitStats(fullMethod string) (limitStats, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.methods[fullMethod]
	if !ok {
		return limitStats{}, false
	}
	return m.limit.stats(), true
}
