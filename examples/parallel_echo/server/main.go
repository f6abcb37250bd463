// Command server is brpc's example/parallel_echo_c++ server on troupe: it answers
// example.EchoService.Echo with the parallel example's messages (pechopb: response.value =
// request.value) and, with -echo_attachment, the request's attachment. brpc's
// parallel_echo_client and troupe's examples/parallel_echo can call it. Its flags are brpc's:
// -port (8002), -idle_timeout_s (-1: off), -max_concurrency (0: no limit) and -echo_attachment
// (true); -listen_addr and -duration are troupe's. Once a second it prints the requests answered
// in the last second:
//
//	requests=20512
//
// It exits 0 on SIGINT or SIGTERM, or when -duration ends, after a graceful shutdown.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/troupe-rpc/troupe/examples/parallel_echo/internal/pechoservice"
)

type config struct {
	port           int
	listenAddr     string // overrides port when set
	idleTimeoutS   int    // <= 0: connections are never closed for idleness
	maxConcurrency int
	echoAttachment bool
	interval       time.Duration // between report lines; 0: a second
}

func main() {
	var c config
	flag.IntVar(&c.port, "port", 8002, "TCP port of this server")
	flag.StringVar(&c.listenAddr, "listen_addr", "", "address to listen on (host:port); overrides -port")
	flag.IntVar(&c.idleTimeoutS, "idle_timeout_s", -1, "close a connection with no request during the last idle_timeout_s seconds (<= 0: never)")
	flag.IntVar(&c.maxConcurrency, "max_concurrency", 0, "requests handled at once (0: no limit)")
	flag.BoolVar(&c.echoAttachment, "echo_attachment", true, "send the request attachment back")
	duration := flag.Duration("duration", 0, "stop after this long (0: run until SIGINT/SIGTERM)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	if err := run(ctx, c, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends, then shuts the server down within 5 seconds. It prints the address
// it listens on, then a report line every interval.
func run(ctx context.Context, c config, out io.Writer) error {
	addr, opts, err := c.options()
	if err != nil {
		return err
	}
	opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, svc, bound, err := pechoservice.Start(addr, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "server listening on %s\n", bound)
	report(ctx, svc, c.interval, out)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// options checks c and returns the address to listen on and the server's options.
func (c config) options() (string, pechoservice.Options, error) {
	o := pechoservice.Options{EchoAttachment: c.echoAttachment, MaxConcurrency: c.maxConcurrency}
	if c.maxConcurrency < 0 {
		return "", o, fmt.Errorf("-max_concurrency=%d, want >= 0", c.maxConcurrency)
	}
	if c.idleTimeoutS > 0 { // brpc's idle_timeout_sec: 0 or negative is off
		o.IdleTimeout = time.Duration(c.idleTimeoutS) * time.Second
	}
	if c.listenAddr != "" {
		if _, _, err := net.SplitHostPort(c.listenAddr); err != nil {
			return "", o, fmt.Errorf("-listen_addr=%q: %w", c.listenAddr, err)
		}
		return c.listenAddr, o, nil
	}
	if c.port < 0 || c.port > 65535 {
		return "", o, errors.New("-port=" + strconv.Itoa(c.port) + " is out of range")
	}
	return net.JoinHostPort("", strconv.Itoa(c.port)), o, nil
}

// report prints the requests answered in each interval until ctx ends.
func report(ctx context.Context, svc *pechoservice.Service, interval time.Duration, out io.Writer) {
	if interval <= 0 {
		interval = time.Second
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var last int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		n := svc.Requests()
		fmt.Fprintf(out, "requests=%d\n", n-last)
		last = n
	}
}
