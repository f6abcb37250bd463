package actors

import (
	"sort"
	"sync/atomic"
	"time"

	"github.com/troupe-rpc/troupe/internal/stats"
	"github.com/troupe-rpc/troupe/wire"
)

// ServerStats is what a [Server] measured. It is a snapshot; nothing in it changes after
// [Server.Stats] returned.
type ServerStats struct {
	InFlight int64 // requests admitted and not yet answered
	// Overcrowded counts the answers replaced by an EOVERCROWDED error frame, and Dropped those
	// dropped, because their connection's unwritten bytes were over
	// ServerOptions.MaxUnwrittenBytes. Their methods count them as their handlers answered.
	Overcrowded int64
	Dropped     int64
	Methods     []MethodStats     // by method name; empty when metrics are disabled
	Connections []ServerConnStats // the connections open now, oldest first
}

// ServerConnStats is what one client connection of a [Server] measured.
type ServerConnStats struct {
	Remote   string
	Local    string
	Age      time.Duration // since the connection was accepted
	Requests int64         // requests read
	BytesIn  int64         // bytes of the frames read, headers included
	BytesOut int64         // bytes written
	// Writes counts the write calls that sent the answers; AnswersPerWrite is Requests over
	// Writes, how well answers combine (rejected requests' answers included).
	Writes          int64
	AnswersPerWrite float64
	InHandlers      int64 // requests of the connection in their handlers now
	TLS             bool
}

// Stats returns what the server measured: per method, calls, errors by brpc code, handler
// latency (since start and over the last minute, second by second), requests in handlers and
// requests rejected by a concurrency limit; per connection, bytes, requests and age. It returns
// zero stats for a Server's zero value; methods are left out when metrics are disabled
// ([ServerOptions.DisableMetrics]). It is cheap enough to call every second.
func (s *Server) Stats() ServerStats {
	if s.idle == nil {
		return ServerStats{}
	}
	out := ServerStats{InFlight: s.inflight.Load(), Overcrowded: s.crowded.Load(), Dropped: s.dropped.Load()}
	s.mu.Lock()
	recs := make([]*stats.Method, 0, len(s.methods))
	for _, m := range s.methods {
		if m.stats != nil {
			recs = append(recs, m.stats)
		}
	}
	s.mu.Unlock()
	for _, m := range recs {
		snap := m.Snapshot()
		out.Methods = append(out.Methods, methodStats(&snap))
	}
	sort.Slice(out.Methods, func(i, j int) bool { return out.Methods[i].Method < out.Methods[j].Method })
	now := time.Now()
	s.mu.Lock()
	for sc := range s.conns {
		out.Connections = append(out.Connections, sc.stats(now))
	}
	s.mu.Unlock()
	sort.Slice(out.Connections, func(i, j int) bool { return out.Connections[i].Age > out.Connections[j].Age })
	return out
}

// newMethodStats returns the record of a method registered on s, nil when metrics are disabled.
func (s *Server) newMethodStats(name string) *stats.Method {
	if s.opts.DisableMetrics {
		return nil
	}
	m := stats.NewMethod(name, nil)
	s.otel.tagMethod(m)
	return m
}

// began counts a request of m in its handler.
func (m *method) began() {
	if m.stats != nil {
		m.stats.Begin()
	}
}

// ended records a request of m whose handler ran from start to end and failed with werr (nil:
// success); an answer dropped because its deadline passed counts as ERPCTIMEDOUT.
func (m *method) ended(start, end time.Time, werr *wire.Error, deadline time.Time) {
	if m.stats == nil {
		return
	}
	var code wire.Errno
	switch {
	case !deadline.IsZero() && !end.Before(deadline):
		code = wire.ERPCTIMEDOUT
	case werr != nil:
		code = werr.Code
	}
	m.stats.EndAt(end.Unix(), end.Sub(start), code)
}

// refused records a request of m answered with werr before its handler: a concurrency limit,
// the request memory budget, or a stopping server.
func (m *method) refused(werr *wire.Error) {
	if m.stats != nil {
		m.stats.Reject(werr.Code)
	}
}

// connIO counts a server connection's traffic, for [ServerConnStats].
type connIO struct {
	born              time.Time
	bytesIn, bytesOut atomic.Int64
	writes            atomic.Int64
}

// read counts a frame read, whose body is n bytes.
func (io *connIO) read(n int) { io.bytesIn.Add(int64(n + wire.HeaderSize)) }

// wrote counts n bytes written.
func (io *connIO) wrote(n int) {
	if io != nil {
		io.bytesOut.Add(int64(n))
		io.writes.Add(1)
	}
}

func (sc *serverConn) stats(now time.Time) ServerConnStats {
	st := ServerConnStats{Age: now.Sub(sc.io.born), Requests: sc.reqs.Load(),
		BytesIn: sc.io.bytesIn.Load(), BytesOut: sc.io.bytesOut.Load(), Writes: sc.io.writes.Load(),
		InHandlers: sc.busy.Load(), TLS: sc.isTLS.Load()}
	if st.Writes > 0 {
		st.AnswersPerWrite = float64(st.Requests) / float64(st.Writes)
	}
	if a := sc.conn.RemoteAddr(); a != nil {
		st.Remote = a.String()
	}
	if a := sc.conn.LocalAddr(); a != nil {
		st.Local = a.String()
	}
	return st
}
