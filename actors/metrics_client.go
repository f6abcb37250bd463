package actors

import (
	"sort"
	"sync/atomic"
	"time"

	"github.com/troupe-rpc/troupe/internal/callrt"
	"github.com/troupe-rpc/troupe/internal/stats"
	"github.com/troupe-rpc/troupe/wire"
)

// SystemStats is what a [System] measured: its channels, per method, and its sockets. It is a
// snapshot; nothing in it changes after [System.Stats] returned.
type SystemStats struct {
	Channels []ChannelStats // by name
	Sockets  []SocketStats  // by address
}

// ChannelStats is what a channel measured: a plain channel, or a parallel or selective channel
// of package combo (partition channels are measured on their plain sub-channels only).
type ChannelStats struct {
	// Name is a plain channel actor's id, as Inspect shows it, or a combo channel's kind and
	// number, "parallel-2".
	Name string
	// Target is a plain channel's server address or naming service URL, or a combo channel's
	// kind, "parallel channel".
	Target   string
	InFlight int64         // a plain channel's calls in flight (a combo channel's are in its Methods)
	Methods  []MethodStats // by method name
}

// SocketStats is what the connections to one server measured. FramesOut counts the requests
// queued to be written and Writes the write calls that sent them: FramesPerWrite is their ratio,
// how well writes combine.
type SocketStats struct {
	Addr            string
	Age             time.Duration // since the socket was made
	Connections     int64         // connections made
	ConnectionsOpen int64
	BytesIn         int64 // bytes of the frames read, headers included
	BytesOut        int64 // bytes of the frames queued to be written, headers included
	FramesIn        int64
	FramesOut       int64
	Writes          int64
	FramesPerWrite  float64
}

// Stats returns what the System measured: per channel and method, calls, errors by brpc code,
// latency (since start and over the last minute, second by second), calls in flight, retries and
// backup requests; per socket, connections, bytes and frames. It returns zero stats when
// metrics are disabled ([SystemOptions.DisableMetrics]), and for a System's zero value. It is
// cheap enough to call every second.
func (s *System) Stats() SystemStats {
	if !s.usable() {
		return SystemStats{}
	}
	var out SystemStats
	s.mu.Lock()
	chans := make([]*PlainChannel, 0, len(s.channels))
	for ch := range s.channels {
		chans = append(chans, ch)
	}
	s.mu.Unlock()
	for _, ch := range chans {
		out.Channels = append(out.Channels, ch.Stats())
	}
	for _, x := range s.rt.Shown() {
		if cs, ok := x.(*callrt.ChannelStats); ok {
			out.Channels = append(out.Channels, ChannelStats{Name: cs.Name, Target: cs.Kind + " channel", Methods: tableStats(cs.Table)})
		}
	}
	sort.Slice(out.Channels, func(i, j int) bool { return out.Channels[i].Name < out.Channels[j].Name })
	now := time.Now()
	for _, sk := range s.allSockets() {
		out.Sockets = append(out.Sockets, sk.stats(now))
	}
	sort.Slice(out.Sockets, func(i, j int) bool { return out.Sockets[i].Addr < out.Sockets[j].Addr })
	return out
}

// Stats returns what the channel measured, per method; see [System.Stats].
func (ch *PlainChannel) Stats() ChannelStats {
	if ch.sys == nil {
		return ChannelStats{}
	}
	return ChannelStats{Name: ch.pid.Id, Target: ch.target, InFlight: ch.inflight.Load(), Methods: tableStats(ch.stats)}
}

// newStatsTable returns the per-method table of a channel to target, nil when metrics are
// disabled.
func (s *System) newStatsTable(target string) *stats.Table {
	if s.noMetrics {
		return nil
	}
	var onNew func(*stats.Method)
	if s.otel != nil {
		onNew = s.otel.tagMethod(target)
	}
	return stats.NewTable(nil, onNew)
}

// socketIO counts a socket's traffic, for [SocketStats].
type socketIO struct {
	bytesIn, bytesOut, framesIn atomic.Int64
}

// sent counts a frame of n bytes queued to be written.
func (io *socketIO) sent(n int) { io.bytesOut.Add(int64(n)) }

// read counts a frame read, whose body is n bytes.
func (io *socketIO) read(n int) {
	io.framesIn.Add(1)
	io.bytesIn.Add(int64(n + wire.HeaderSize))
}

func (sk *socket) stats(now time.Time) SocketStats {
	st := SocketStats{Addr: sk.addr, Age: now.Sub(sk.created), Connections: sk.conns.Load(),
		ConnectionsOpen: sk.open.Load(), BytesIn: sk.io.bytesIn.Load(), BytesOut: sk.io.bytesOut.Load(),
		FramesIn: sk.io.framesIn.Load(), FramesOut: sk.frames.Load(), Writes: sk.writes.Load()}
	if st.Writes > 0 {
		st.FramesPerWrite = float64(st.FramesOut) / float64(st.Writes)
	}
	return st
}
