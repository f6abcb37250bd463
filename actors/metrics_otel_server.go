package actors

import (
	"context"

	"go.opentelemetry.io/otel/metric"

	"github.com/troupe-rpc/troupe/internal/stats"
)

// The server-wide instruments, in the order of serverValues.
var serverInstruments = []observable{
	{"troupe.server.connections_open", "{connection}", "Client connections open now", true},
	{"troupe.server.overcrowded", "{response}", "Answers replaced by EOVERCROWDED on overcrowded connections", false},
	{"troupe.server.dropped", "{response}", "Answers dropped on overcrowded connections", false},
}

// otelServer is a Server's OpenTelemetry instruments.
type otelServer struct {
	side   *otelSide
	server []metric.Int64Observable
	reg    metric.Registration
}

// newOtelServer makes the Server's instruments and registers the callback that reports them.
// nil mp: none.
func (s *Server) newOtelServer(mp metric.MeterProvider) error {
	if mp == nil {
		return nil
	}
	m := mp.Meter(meterName)
	side, err := newOtelSide(m, "server")
	if err != nil {
		return err
	}
	o := &otelServer{side: side}
	if o.server, err = newObservables(m, serverInstruments); err != nil {
		return err
	}
	if o.reg, err = m.RegisterCallback(s.observeOtel, append(side.instruments, asObservables(o.server)...)...); err != nil {
		return err
	}
	s.otel = o
	return nil
}

// tagMethod gives a registered method's record its attributes.
func (o *otelServer) tagMethod(m *stats.Method) {
	if o != nil && m != nil {
		o.side.tag(m)
	}
}

// observeOtel reports the server's methods and connections to OpenTelemetry.
func (s *Server) observeOtel(_ context.Context, obs metric.Observer) error {
	o := s.otel
	s.mu.Lock()
	conns := int64(len(s.conns))
	methods := make([]*stats.Method, 0, len(s.methods))
	for _, m := range s.methods {
		if m.stats != nil {
			methods = append(methods, m.stats)
		}
	}
	s.mu.Unlock()
	for _, m := range methods {
		o.side.observe(obs, m)
	}
	for i, v := range []int64{conns, s.crowded.Load(), s.dropped.Load()} {
		obs.ObserveInt64(o.server[i], v)
	}
	return nil
}

// stopOtel unregisters the Server's callback.
func (s *Server) stopOtel() {
	if s.otel != nil {
		_ = s.otel.reg.Unregister()
	}
}
