package actors

import (
	"time"

	"github.com/troupe-rpc/troupe/internal/stats"
	"github.com/troupe-rpc/troupe/wire"
)

// LatencyStats summarizes latencies. Percentiles come from a log-linear histogram: since start
// they are within 1.6 % of the exact value, over the last minute within about 6 %; Mean and
// Max are exact. All are zero when Count is.
type LatencyStats struct {
	Count int64
	Mean  time.Duration
	P50   time.Duration
	P90   time.Duration
	P99   time.Duration
	P999  time.Duration
	Max   time.Duration
}

// SecondStats is one second of a method's last minute.
type SecondStats struct {
	Start  time.Time // the second's beginning
	Calls  int64     // calls that ended in it
	Errors int64     // of which failed
	Mean   time.Duration
	P99    time.Duration
	Max    time.Duration
}

// MethodStats is what a client channel or a server recorded about one method, since the channel
// or server was made.
type MethodStats struct {
	Method   string // the full method name, "example.EchoService.Echo"
	Calls    int64  // calls that ended, failures included (on a server: requests answered or rejected)
	InFlight int64  // calls started and not ended (on a server: requests in their handlers)
	Retries  int64  // client: retries and backup requests sent (attempts beyond the first)
	Backups  int64  // client: calls that sent a backup request
	// Rejected counts, on a server, the requests answered before their handler: over a
	// concurrency limit or the request memory budget (ELIMIT), or while stopping (ELOGOFF).
	Rejected int64
	// Errors counts the calls that failed, by brpc code; nil when none did. A server's
	// rejections count here too, under their code.
	Errors map[wire.Errno]int64
	// Latency covers every call since start; LastMinute the calls that ended in the last 60
	// seconds. A server measures its handlers, a client its whole calls, retries included.
	// Rejected requests have no latency.
	Latency    LatencyStats
	LastMinute LatencyStats
	// PerSecond is the last 60 seconds, oldest first, the current (partial) second last.
	PerSecond []SecondStats
}

// ErrorCount returns how many calls failed, whatever their code.
func (m *MethodStats) ErrorCount() int64 {
	var n int64
	for _, c := range m.Errors {
		n += c
	}
	return n
}

func latencyStats(s stats.Summary) LatencyStats {
	return LatencyStats{Count: s.Count, Mean: s.Mean, P50: s.P50, P90: s.P90, P99: s.P99, P999: s.P999, Max: s.Max}
}

func methodStats(s *stats.MethodSnapshot) MethodStats {
	m := MethodStats{Method: s.Name, Calls: s.Calls, InFlight: s.InFlight, Retries: s.Retries,
		Backups: s.Backups, Rejected: s.Rejected, Errors: s.Errors,
		Latency: latencyStats(s.Latency.Total), LastMinute: latencyStats(s.Latency.LastMinute),
		PerSecond: make([]SecondStats, len(s.Latency.PerSecond))}
	for i, x := range s.Latency.PerSecond {
		m.PerSecond[i] = SecondStats{Start: time.Unix(x.Start, 0), Calls: x.Calls, Errors: x.Errors,
			Mean: x.Mean, P99: x.P99, Max: x.Max}
	}
	return m
}

func tableStats(t *stats.Table) []MethodStats {
	if t == nil {
		return nil
	}
	snaps := t.Snapshot()
	out := make([]MethodStats, len(snaps))
	for i := range snaps {
		out[i] = methodStats(&snaps[i])
	}
	return out
}
