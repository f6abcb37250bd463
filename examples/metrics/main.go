// Command metrics shows troupe's metrics exported to Prometheus through OpenTelemetry: it runs
// brpc's example EchoService and a client calling it in one process, both reporting to one
// OpenTelemetry MeterProvider whose Prometheus exporter serves /metrics on -metrics. Every tenth
// call asks the server to fail, so the error counts move too. Once a second it prints the
// client's view from System.Stats:
//
//	example.EchoService.Echo calls=51234 errors=5123 p50=61µs p99=210µs last-minute p99=215µs
//
// Scrape it with curl http://127.0.0.1:9464/metrics or point a Prometheus at it. It exits after
// -duration, or on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

func main() {
	metricsAddr := flag.String("metrics", "127.0.0.1:9464", "address of the Prometheus /metrics endpoint")
	callers := flag.Int("callers", 4, "concurrent callers")
	duration := flag.Duration("duration", 10*time.Second, "stop after this long (0: run until SIGINT/SIGTERM)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	a, err := start(*metricsAddr, *callers)
	if err != nil {
		fmt.Fprintln(os.Stderr, "metrics:", err)
		os.Exit(1)
	}
	fmt.Printf("serving Prometheus metrics on http://%s/metrics\n", a.metricsAddr)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-t.C:
			a.print()
		}
	}
	if err := a.close(); err != nil {
		fmt.Fprintln(os.Stderr, "metrics:", err)
		os.Exit(1)
	}
}

// app is the example's server, client, callers and /metrics endpoint.
type app struct {
	srv         *actors.Server
	sys         *actors.System
	mp          *sdkmetric.MeterProvider
	http        *http.Server
	metricsAddr string
	stop        chan struct{}
	callers     sync.WaitGroup
	served      chan error
}

// start starts everything; metricsAddr may be "127.0.0.1:0".
func start(metricsAddr string, callers int) (*app, error) {
	reg := promclient.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, err
	}
	a := &app{mp: sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp)), stop: make(chan struct{}), served: make(chan error, 1)}
	l, err := net.Listen("tcp", metricsAddr)
	if err != nil {
		return nil, err
	}
	a.metricsAddr = l.Addr().String()
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	a.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { a.served <- a.http.Serve(l) }()
	if err := a.startRPC(callers); err != nil {
		_ = a.close()
		return nil, err
	}
	return a, nil
}

// startRPC starts the echo server, the client's System and channel, and the callers.
func (a *app) startRPC(callers int) error {
	var err error
	if a.srv, err = actors.NewServer(&actors.ServerOptions{MeterProvider: a.mp}); err != nil {
		return err
	}
	if err := (&echoservice.Service{}).Register(a.srv); err != nil {
		return err
	}
	addr, err := a.srv.Listen("127.0.0.1:0")
	if err != nil {
		return err
	}
	if a.sys, err = actors.NewSystem(&actors.SystemOptions{MeterProvider: a.mp}); err != nil {
		return err
	}
	ch, err := a.sys.NewChannel(addr.String(), nil)
	if err != nil {
		return err
	}
	for range callers {
		a.callers.Go(func() { a.call(ch) })
	}
	return nil
}

// call calls until the app stops; every tenth call asks the server to fail with EREQUEST.
func (a *app) call(ch actors.Channel) {
	for i := 0; ; i++ {
		select {
		case <-a.stop:
			return
		default:
		}
		req := &echopb.EchoRequest{Message: proto.String("hello")}
		if i%10 == 9 {
			req.FailCode = proto.Int32(int32(wire.EREQUEST))
		}
		_ = ch.Call(context.Background(), echoservice.Method, req, &echopb.EchoResponse{}, nil)
	}
}

// print prints the client's view of each method.
func (a *app) print() {
	for _, ch := range a.sys.Stats().Channels {
		for _, m := range ch.Methods {
			fmt.Printf("%s calls=%d errors=%d p50=%v p99=%v last-minute p99=%v\n", m.Method, m.Calls,
				m.ErrorCount(), m.Latency.P50, m.Latency.P99, m.LastMinute.P99)
		}
	}
}

// close stops the callers, the client, the server and the /metrics endpoint.
func (a *app) close() error {
	close(a.stop)
	a.callers.Wait()
	if a.sys != nil {
		a.sys.Shutdown()
	}
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if a.srv != nil {
		errs = append(errs, a.srv.Shutdown(ctx))
	}
	errs = append(errs, a.http.Shutdown(ctx))
	if err := <-a.served; !errors.Is(err, http.ErrServerClosed) {
		errs = append(errs, err)
	}
	errs = append(errs, a.mp.Shutdown(ctx))
	return errors.Join(errs...)
}
