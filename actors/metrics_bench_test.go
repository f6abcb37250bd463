package actors_test

import (
	"context"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/rpcz"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// BenchmarkUnaryEchoMetrics is BenchmarkUnaryEcho with the metrics of client and server off, on
// (the default), exported through an OpenTelemetry SDK MeterProvider, and on with an rpcz
// recorder on both sides (default sampling: 100 traces a second), with one caller and with 64
// callers on one channel.
func BenchmarkUnaryEchoMetrics(b *testing.B) {
	for _, mode := range []string{"off", "on", "otel", "rpcz"} {
		b.Run("metrics="+mode, func(b *testing.B) {
			sopts := &actors.ServerOptions{DisableMetrics: mode == "off"}
			copts := &actors.SystemOptions{DisableMetrics: mode == "off"}
			if mode == "otel" {
				sopts.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
				copts.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
			}
			if mode == "rpcz" {
				rec := rpcz.New(nil)
				sopts.Rpcz, copts.Rpcz = rec, rec
			}
			srv, err := actors.NewServer(sopts)
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Shutdown(context.Background())
			if err := (&echoservice.Service{}).Register(srv); err != nil {
				b.Fatal(err)
			}
			a, err := srv.Listen("127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			sys, err := actors.NewSystem(copts)
			if err != nil {
				b.Fatal(err)
			}
			defer sys.Shutdown()
			ch, err := sys.NewChannel(a.String(), nil)
			if err != nil {
				b.Fatal(err)
			}
			benchEchoCallers(b, ch)
		})
	}
}

func benchEchoCallers(b *testing.B, ch *actors.PlainChannel) {
	const msg = "0123456789abcdef"
	b.Run("callers=1", func(b *testing.B) {
		req, resp := echoReq(msg), &echopb.EchoResponse{}
		b.ReportAllocs()
		for b.Loop() {
			if err := ch.Call(context.Background(), echoservice.Method, req, resp, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("callers=64", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(64 / max(1, testingGOMAXPROCS()))
		b.RunParallel(func(pb *testing.PB) {
			req, resp := echoReq(msg), &echopb.EchoResponse{}
			for pb.Next() {
				if err := ch.Call(context.Background(), echoservice.Method, req, resp, nil); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
