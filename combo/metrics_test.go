package combo_test

import (
	"strings"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// A parallel channel's calls count in its own per-method stats, and each sub-call in its plain
// sub-channel's; a closed parallel channel leaves System.Stats.
func TestParallelChannelStats(t *testing.T) {
	addr := startEcho(t, nil)
	sys := newSystem(t)
	p, err := combo.NewParallelChannel(sys, &combo.ParallelOptions{Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := p.AddChannel(plain(t, sys, addr, nil), combo.OwnsChannel, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	const n = 5
	for range n {
		if err := p.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); err != nil {
			t.Fatalf("Call() = %v", err)
		}
	}
	var parallel, subs int
	for _, ch := range sys.Stats().Channels {
		if len(ch.Methods) != 1 || ch.Methods[0].Method != echoservice.Method {
			t.Fatalf("channel %s: methods %+v, want %s only", ch.Name, ch.Methods, echoservice.Method)
		}
		m := ch.Methods[0]
		if m.Calls != n || m.InFlight != 0 || m.Latency.Count != n || m.Errors != nil {
			t.Errorf("channel %s: Calls = %d, InFlight = %d, Latency.Count = %d, Errors = %v; want %d calls without errors",
				ch.Name, m.Calls, m.InFlight, m.Latency.Count, m.Errors, n)
		}
		if strings.HasPrefix(ch.Name, "parallel-") && ch.Target == "parallel channel" {
			parallel++
		} else if ch.Target == addr {
			subs++
		}
	}
	if parallel != 1 || subs != 3 {
		t.Fatalf("Stats() lists %d parallel and %d plain channels, want 1 and 3", parallel, subs)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if chs := sys.Stats().Channels; len(chs) != 0 {
		t.Errorf("after Close, Stats() lists %d channels, want none: %+v", len(chs), chs)
	}
}

// A combo channel's records follow the System's settings: off with DisableMetrics, exported
// through the System's MeterProvider under the channel's name.
func TestComboChannelMetricsFollowTheSystem(t *testing.T) {
	addr := startEcho(t, nil)
	// callParallel makes n calls through a parallel channel of sys over one sub-channel.
	callParallel := func(sys *actors.System, n int) {
		t.Helper()
		p, err := combo.NewParallelChannel(sys, &combo.ParallelOptions{Timeout: testTimeout})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() })
		if err := p.AddChannel(plain(t, sys, addr, nil), combo.OwnsChannel, nil, nil); err != nil {
			t.Fatal(err)
		}
		for range n {
			if err := p.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); err != nil {
				t.Fatalf("Call() = %v", err)
			}
		}
	}
	newSys := func(opts *actors.SystemOptions) *actors.System {
		t.Helper()
		sys, err := actors.NewSystem(opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(sys.Shutdown)
		return sys
	}

	off := newSys(&actors.SystemOptions{DisableMetrics: true})
	callParallel(off, 1)
	for _, ch := range off.Stats().Channels {
		if strings.HasPrefix(ch.Name, "parallel-") || len(ch.Methods) > 0 {
			t.Errorf("with metrics disabled, Stats lists %s with methods %+v", ch.Name, ch.Methods)
		}
	}

	reader := sdkmetric.NewManualReader()
	sys := newSys(&actors.SystemOptions{MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))})
	const n = 4
	callParallel(sys, n)
	var name string
	for _, ch := range sys.Stats().Channels {
		if strings.HasPrefix(ch.Name, "parallel-") {
			name = ch.Name
		}
	}
	if name == "" {
		t.Fatal("Stats lists no parallel channel")
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	var durations, calls uint64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch data := m.Data.(type) {
			case metricdata.Histogram[float64]:
				for _, dp := range data.DataPoints {
					if v, ok := dp.Attributes.Value("troupe.channel.target"); ok && v.AsString() == name && m.Name == "rpc.client.duration" {
						durations += dp.Count
					}
				}
			case metricdata.Sum[int64]:
				for _, dp := range data.DataPoints {
					if v, ok := dp.Attributes.Value("troupe.channel.target"); ok && v.AsString() == name && m.Name == "troupe.rpc.client.calls" {
						calls += uint64(dp.Value)
					}
				}
			}
		}
	}
	if durations != n || calls != n {
		t.Errorf("OpenTelemetry has %d durations and %d calls of %s, want %d each", durations, calls, name, n)
	}
}
