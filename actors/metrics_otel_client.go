package actors

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/troupe-rpc/troupe/internal/callrt"
	"github.com/troupe-rpc/troupe/internal/stats"
)

// The socket instruments, in the order of socketValues.
var socketInstruments = []observable{
	{"troupe.socket.connections", "{connection}", "Connections made to the server", false},
	{"troupe.socket.connections_open", "{connection}", "Connections to the server open now", true},
	{"troupe.socket.bytes_in", "By", "Bytes of the frames read from the server", false},
	{"troupe.socket.bytes_out", "By", "Bytes of the frames queued to the server", false},
	{"troupe.socket.frames_in", "{frame}", "Frames read from the server", false},
	{"troupe.socket.frames_out", "{frame}", "Frames queued to the server", false},
	{"troupe.socket.writes", "{write}", "Write calls that sent the frames", false},
}

func socketValues(st *SocketStats) []int64 {
	return []int64{st.Connections, st.ConnectionsOpen, st.BytesIn, st.BytesOut, st.FramesIn, st.FramesOut, st.Writes}
}

// otelClient is a System's OpenTelemetry instruments.
type otelClient struct {
	side    *otelSide
	sockets []metric.Int64Observable
	reg     metric.Registration
}

// newOtelClient makes the System's instruments and registers the callback that reports its
// channels and sockets. nil mp: none.
func (s *System) newOtelClient(mp metric.MeterProvider) error {
	if mp == nil {
		return nil
	}
	m := mp.Meter(meterName)
	side, err := newOtelSide(m, "client")
	if err != nil {
		return err
	}
	o := &otelClient{side: side}
	if o.sockets, err = newObservables(m, socketInstruments); err != nil {
		return err
	}
	if o.reg, err = m.RegisterCallback(s.observeOtel, append(side.instruments, asObservables(o.sockets)...)...); err != nil {
		return err
	}
	s.otel = o
	return nil
}

// tagMethod is the onNew of a channel's table: the method's attributes name the channel.
func (o *otelClient) tagMethod(target string) func(*stats.Method) {
	return func(m *stats.Method) { o.side.tag(m, attribute.String("troupe.channel.target", target)) }
}

// observeOtel reports the System's channels and sockets to OpenTelemetry.
func (s *System) observeOtel(_ context.Context, obs metric.Observer) error {
	o := s.otel
	s.mu.Lock()
	tables := make([]*stats.Table, 0, len(s.channels))
	for ch := range s.channels {
		tables = append(tables, ch.stats)
	}
	s.mu.Unlock()
	for _, x := range s.rt.Shown() { // combo channels
		if cs, ok := x.(*callrt.ChannelStats); ok {
			tables = append(tables, cs.Table)
		}
	}
	for _, t := range tables {
		if t != nil {
			t.Each(func(m *stats.Method) { o.side.observe(obs, m) })
		}
	}
	for _, st := range s.Stats().Sockets {
		opt := metric.WithAttributeSet(attribute.NewSet(peerAttrs(st.Addr)...))
		for i, v := range socketValues(&st) {
			obs.ObserveInt64(o.sockets[i], v, opt)
		}
	}
	return nil
}

// stopOtel unregisters the System's callback.
func (s *System) stopOtel() {
	if s.otel != nil {
		_ = s.otel.reg.Unregister()
	}
}
