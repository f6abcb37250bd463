// Command server runs brpc's example EchoService (example.EchoService.Echo) on one or more ports,
// like brpc's example echo servers: brpc's own clients and troupe's can call it. Once a second it
// prints how many requests each server answered in the last second:
//
//	S[0]=1520 S[1]=1498 [total=3018]
//
// It exits 0 on SIGINT or SIGTERM after a graceful shutdown.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/console"
	"github.com/troupe-rpc/troupe/examples/echo/echopbtroupe"
	"github.com/troupe-rpc/troupe/examples/internal/consolehttp"
	"github.com/troupe-rpc/troupe/examples/internal/tlsfiles"
	"github.com/troupe-rpc/troupe/rpcz"
)

func main() {
	port := flag.Int("port", 8002, "TCP port of the first server")
	listenAddr := flag.String("listen_addr", "", "address to listen on (host:port); overrides -port")
	serverNum := flag.Int("server_num", 1, "number of servers; server i listens on port+i")
	sleepUs := flag.String("sleep_us", "", "per-server delay in microseconds, a comma list (the last value repeats)")
	echoAttachment := flag.Bool("echo_attachment", true, "send the request attachment back")
	var tune tuning
	flag.IntVar(&tune.maxConcurrency, "max_concurrency", 0, "requests handled at once per server (0: no limit)")
	flag.DurationVar(&tune.readPoll, "read_poll", 0, "how long a reader polls its socket after a lone request (0: the default, 100µs; negative: never)")
	duration := flag.Duration("duration", 0, "stop after this long (0: run until SIGINT/SIGTERM)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	tlsCert := flag.String("tls_cert", "", "PEM certificate: serve TLS as well as plain on the same port (read again when it changes)")
	tlsKey := flag.String("tls_key", "", "PEM private key of -tls_cert")
	tlsCA := flag.String("tls_ca", "", "PEM CA: TLS clients must show a certificate it signed (mutual TLS)")
	requireTLS := flag.Bool("require_tls", false, "refuse plain connections (needs -tls_cert)")
	consoleAddr := flag.String("console", "", "serve the debugging console (status, vars, rpcz…) over HTTP on this address, e.g. 127.0.0.1:8080")
	flag.Parse()
	if *cpuprofile != "" {
		stop, err := profileCPU(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer stop()
	}
	tlsConf, err := tlsfiles.Server(*tlsCert, *tlsKey, *tlsCA)
	if err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(2)
	}
	sec := security{tls: tlsConf, require: *requireTLS}
	if err := run(*port, *listenAddr, *serverNum, *sleepUs, *echoAttachment, tune, *duration, sec, *consoleAddr); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

// tuning is what the servers' options take from the flags besides security.
type tuning struct {
	maxConcurrency int
	readPoll       time.Duration
}

// security is how the servers take connections: plain only (zero), TLS and plain, or TLS only.
type security struct {
	tls     *tls.Config
	require bool
}

func run(port int, listenAddr string, serverNum int, sleepUs string, echoAttachment bool, tune tuning, duration time.Duration, sec security, consoleAddr string) error {
	if serverNum < 1 {
		return fmt.Errorf("-server_num=%d, want >= 1", serverNum)
	}
	sleeps, err := parseSleeps(sleepUs, serverNum)
	if err != nil {
		return err
	}
	addrs, err := listenAddrs(listenAddr, port, serverNum)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var servers []*actors.Server
	defer shutdownAll(&servers)
	var rec *rpcz.Recorder // the console's /rpcz: recent requests, 100 a second at most
	if consoleAddr != "" {
		rec = rpcz.New(nil)
	}
	services := make([]*echoservice.Service, serverNum)
	for i := range serverNum {
		services[i] = &echoservice.Service{Index: int32(i), Sleep: sleeps[i], EchoAttachment: echoAttachment}
		srv, err := actors.NewServer(&actors.ServerOptions{MaxConcurrency: tune.maxConcurrency, ReadPoll: tune.readPoll, Logger: log,
			TLS: sec.tls, RequireTLS: sec.require, Rpcz: rec})
		if err != nil {
			return err
		}
		if err := echopbtroupe.RegisterEchoServiceServer(srv, services[i]); err != nil {
			return err
		}
		bound, err := srv.Listen(addrs[i])
		if err != nil {
			return fmt.Errorf("server %d: %w", i, err)
		}
		fmt.Printf("server %d listening on %s%s\n", i, bound, sec.describe())
		servers = append(servers, srv)
	}
	if consoleAddr != "" {
		url, stop, err := consolehttp.Serve(consoleAddr, console.Options{Servers: servers, Title: "echo server"})
		if err != nil {
			return err
		}
		defer stop()
		fmt.Println("console:", url)
	}
	report(services, duration)
	return nil
}

// shutdownAll stops every server that started, each gracefully within 5 seconds.
func shutdownAll(servers *[]*actors.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range *servers {
		if err := srv.Shutdown(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "server: shutdown:", err)
		}
	}
}

// report prints the per-server request rate every second until a signal or the duration ends.
func report(services []*echoservice.Service, duration time.Duration) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}
	last := make([]int64, len(services))
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var b strings.Builder
		var total int64
		for i, s := range services {
			n := s.Requests()
			fmt.Fprintf(&b, "S[%d]=%d ", i, n-last[i])
			total += n - last[i]
			last[i] = n
		}
		fmt.Printf("%s[total=%d]\n", b.String(), total)
	}
}

func parseSleeps(list string, n int) ([]time.Duration, error) {
	out := make([]time.Duration, n)
	if strings.TrimSpace(list) == "" {
		return out, nil
	}
	parts := strings.Split(list, ",")
	for i := range n {
		p := strings.TrimSpace(parts[min(i, len(parts)-1)])
		us, err := strconv.Atoi(p)
		if err != nil || us < 0 {
			return nil, fmt.Errorf("-sleep_us: %q is not a non-negative number of microseconds", p)
		}
		out[i] = time.Duration(us) * time.Microsecond
	}
	return out, nil
}

func listenAddrs(listenAddr string, port, n int) ([]string, error) {
	host := ""
	if listenAddr != "" {
		h, p, err := net.SplitHostPort(listenAddr)
		if err != nil {
			return nil, fmt.Errorf("-listen_addr=%q: %w", listenAddr, err)
		}
		if port, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("-listen_addr=%q: bad port", listenAddr)
		}
		host = h
	}
	if port < 0 || port+n-1 > 65535 {
		return nil, fmt.Errorf("ports %d..%d are out of range", port, port+n-1)
	}
	out := make([]string, n)
	for i := range n {
		p := port + i
		if port == 0 {
			p = 0
		}
		out[i] = net.JoinHostPort(host, strconv.Itoa(p))
	}
	return out, nil
}

// profileCPU starts a CPU profile written to path; the returned function ends it.
func profileCPU(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// describe is what the listening line says of the servers' security.
func (s security) describe() string {
	switch {
	case s.tls == nil:
		return ""
	case s.require:
		return " (TLS only)"
	default:
		return " (TLS and plain)"
	}
}
