package actors_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
	"google.golang.org/protobuf/proto"
)

// collect returns the metrics reader has, by name; t may be nil (in an Example).
func collect(t *testing.T, reader *sdkmetric.ManualReader) map[string]metricdata.Metrics {
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil && t != nil {
		t.Fatalf("Collect() = %v", err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

func setAttr(set attribute.Set, key string) string {
	v, _ := set.Value(attribute.Key(key))
	return v.String()
}

// sumOf returns the value of a counter's point whose rpc.brpc.error_code is code (any code when
// code is "").
func sumOf(t *testing.T, ms map[string]metricdata.Metrics, name, code string) int64 {
	t.Helper()
	m, ok := ms[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
	var n int64
	for _, p := range m.Data.(metricdata.Sum[int64]).DataPoints {
		if setAttr(p.Attributes, "rpc.method") != "Echo" && setAttr(p.Attributes, "rpc.method") != "" {
			t.Errorf("%s point with rpc.method %q", name, setAttr(p.Attributes, "rpc.method"))
		}
		if code == "" || setAttr(p.Attributes, "rpc.brpc.error_code") == code {
			n += p.Value
		}
	}
	return n
}

// durationCount returns the number of calls in a duration histogram with error code code.
func durationCount(t *testing.T, ms map[string]metricdata.Metrics, name, code string) uint64 {
	t.Helper()
	m, ok := ms[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
	if m.Unit != "ms" {
		t.Errorf("%s unit = %q, want ms", name, m.Unit)
	}
	var n uint64
	for _, p := range m.Data.(metricdata.Histogram[float64]).DataPoints {
		if setAttr(p.Attributes, "rpc.system") != "brpc" || setAttr(p.Attributes, "rpc.service") != "example.EchoService" {
			t.Errorf("%s point attributes = %v", name, p.Attributes.ToSlice())
		}
		if setAttr(p.Attributes, "rpc.brpc.error_code") == code {
			n += p.Count
		}
	}
	return n
}

func TestMetricsThroughOpenTelemetry(t *testing.T) {
	serverReader, clientReader := sdkmetric.NewManualReader(), sdkmetric.NewManualReader()
	srv := newServer(t, &actors.ServerOptions{MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(serverReader))})
	if err := (&echoservice.Service{}).Register(srv); err != nil {
		t.Fatal(err)
	}
	a, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sys, err := actors.NewSystem(&actors.SystemOptions{MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(clientReader))})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Shutdown()
	ch, err := sys.NewChannel(a.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	const ok, failed = 12, 3
	for range ok {
		if err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); err != nil {
			t.Fatalf("Call() = %v", err)
		}
	}
	for range failed {
		req := echoReq("x")
		req.FailCode = proto.Int32(int32(wire.EREQUEST))
		if err := ch.Call(t.Context(), echoservice.Method, req, &echopb.EchoResponse{}, nil); wire.ErrnoOf(err) != wire.EREQUEST {
			t.Fatalf("Call(fail_code) = %v, want EREQUEST", err)
		}
	}
	code := "1003" // EREQUEST
	cm := collect(t, clientReader)
	if n := durationCount(t, cm, "rpc.client.duration", "0"); n != ok {
		t.Errorf("rpc.client.duration successes = %d, want %d", n, ok)
	}
	if n := durationCount(t, cm, "rpc.client.duration", code); n != failed {
		t.Errorf("rpc.client.duration failures = %d, want %d", n, failed)
	}
	if n := sumOf(t, cm, "troupe.rpc.client.calls", ""); n != ok+failed {
		t.Errorf("troupe.rpc.client.calls = %d, want %d", n, ok+failed)
	}
	if n := sumOf(t, cm, "troupe.rpc.client.errors", code); n != failed {
		t.Errorf("troupe.rpc.client.errors = %d, want %d", n, failed)
	}
	if n := sumOf(t, cm, "troupe.rpc.client.in_flight", ""); n != 0 {
		t.Errorf("troupe.rpc.client.in_flight = %d, want 0", n)
	}
	if n := sumOf(t, cm, "troupe.socket.frames_in", ""); n != ok+failed {
		t.Errorf("troupe.socket.frames_in = %d, want %d", n, ok+failed)
	}

	sm := collect(t, serverReader)
	if n := durationCount(t, sm, "rpc.server.duration", "0"); n != ok {
		t.Errorf("rpc.server.duration successes = %d, want %d", n, ok)
	}
	if n := sumOf(t, sm, "troupe.rpc.server.errors", code); n != failed {
		t.Errorf("troupe.rpc.server.errors = %d, want %d", n, failed)
	}
	if n := sumOf(t, sm, "troupe.server.connections_open", ""); n != 1 {
		t.Errorf("troupe.server.connections_open = %d, want 1", n)
	}
}
