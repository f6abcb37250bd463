// Command bench is a closed-loop load generator for a baidu_std echo server, in the manner of
// brpc's multi_threaded_echo_c++ client and rpc_press: -thread_num goroutines each make one
// synchronous call after another over one shared channel. Every second it prints
//
//	qps=61234 latency=1012us errors=0
//
// and at the end one summary line
//
//	qps=<n> p50_us=<n> p99_us=<n> errors=<n> allocs_per_call=<n> bytes_per_call=<n> gc_per_s=<n>
//
// allocs_per_call and bytes_per_call count what the whole process allocated, load generator
// included; gc_per_s is how many garbage collections ran per second.
//
// It works against troupe's examples/echo/server and against brpc's own example echo servers.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/console"
	"github.com/troupe-rpc/troupe/examples/echo/echopbtroupe"
	"github.com/troupe-rpc/troupe/examples/internal/consolehttp"
	"github.com/troupe-rpc/troupe/examples/internal/load"
	"github.com/troupe-rpc/troupe/rpcz"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

type config struct {
	server         string
	threads        int
	requestSize    int
	attachmentSize int
	duration       time.Duration
	timeout        time.Duration
	maxRetry       int
	loadBalancer   string
	connectionType string
	backup         time.Duration
	inspect        bool
	console        string // address to serve the console on; "": none
	readPoll       time.Duration
}

func main() {
	var c config
	var timeoutMs int
	flag.StringVar(&c.server, "server", "127.0.0.1:8002", "server address, or a naming URL (list://, file://, http://) with -load_balancer")
	flag.IntVar(&c.threads, "thread_num", 50, "concurrent callers")
	flag.IntVar(&c.requestSize, "request_size", 16, "bytes of the request message")
	flag.IntVar(&c.attachmentSize, "attachment_size", 0, "bytes of the request attachment")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "how long to run")
	flag.IntVar(&timeoutMs, "timeout_ms", 100, "call timeout in milliseconds (-1: none)")
	flag.IntVar(&c.maxRetry, "max_retry", 3, "retries per call")
	flag.StringVar(&c.loadBalancer, "load_balancer", "", "load balancer (rr, random, wrr, la, c_murmurhash, c_md5); -server is then a naming URL")
	flag.StringVar(&c.connectionType, "connection_type", "", "single, pooled or short")
	backupMs := flag.Int("backup_ms", -1, "send a backup request after this many milliseconds (-1: never)")
	flag.BoolVar(&c.inspect, "inspect", false, "print troupe's actor tree at the end")
	flag.StringVar(&c.console, "console", "", "serve the debugging console (status, vars, rpcz…) over HTTP on this address while the load runs, e.g. 127.0.0.1:8081")
	flag.DurationVar(&c.readPoll, "read_poll", 0, "how long a reader polls its socket while a lone caller's call waits on it (0: the default, 100µs; negative: never)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	memprofile := flag.String("memprofile", "", "write an allocation profile to this file at the end (go tool pprof -sample_index=alloc_space)")
	traceFile := flag.String("trace", "", "write a Go execution trace to this file (go tool trace; -pprof=sched shows how long callers waited to run)")
	flag.Parse()
	if *backupMs >= 0 {
		c.backup = time.Duration(*backupMs) * time.Millisecond
	}
	for _, r := range []struct {
		path  string
		start func(string) (func(), error)
	}{{*cpuprofile, profileCPU}, {*memprofile, profileAllocs}, {*traceFile, traceTo}} {
		if r.path == "" {
			continue
		}
		stop, err := r.start(r.path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer stop()
	}
	c.timeout = time.Duration(timeoutMs) * time.Millisecond
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(c config) error {
	if c.threads < 1 || c.requestSize < 0 || c.attachmentSize < 0 || c.duration <= 0 {
		return errors.New("-thread_num, -request_size, -attachment_size and -duration must be positive")
	}
	sysOpts := actors.SystemOptions{ReadPoll: c.readPoll}
	if c.console != "" {
		sysOpts.Rpcz = rpcz.New(nil) // the console's /rpcz: recent calls, 100 a second at most
	}
	sys, err := actors.NewSystem(&sysOpts)
	if err != nil {
		return err
	}
	defer sys.Shutdown()
	if c.console != "" {
		url, stop, err := consolehttp.Serve(c.console, console.Options{System: sys, Title: "bench"})
		if err != nil {
			return err
		}
		defer stop()
		fmt.Println("console:", url)
	}
	opts := &actors.ChannelOptions{Timeout: c.timeout, MaxRetry: c.maxRetry, LoadBalancer: c.loadBalancer,
		ConnectionType: c.connectionType, BackupRequest: c.backup}
	if c.maxRetry == 0 {
		opts.MaxRetry = actors.NoRetry
	}
	ch, err := sys.NewChannel(c.server, opts)
	if err != nil {
		return err
	}
	warmup(ch, c)
	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	l := &load.Load{Channel: ch, Threads: c.threads, RequestSize: c.requestSize, AttachmentSize: c.attachmentSize,
		Duration: c.duration, Out: os.Stdout, SummaryExtra: func(calls int64) string {
			var ms1 runtime.MemStats
			runtime.ReadMemStats(&ms1)
			n := float64(max(calls, 1))
			return fmt.Sprintf("allocs_per_call=%.1f bytes_per_call=%.0f gc_per_s=%.0f", float64(ms1.Mallocs-ms0.Mallocs)/n,
				float64(ms1.TotalAlloc-ms0.TotalAlloc)/n, float64(ms1.NumGC-ms0.NumGC)/c.duration.Seconds())
		}}
	l.Run()
	if c.inspect {
		fmt.Print(sys.Inspect())
	}
	return nil
}

// warmup makes a few calls so that the connection exists before measuring.
func warmup(ch actors.Channel, c config) {
	for range 10 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, _ = echopbtroupe.NewEchoServiceClient(ch).Echo(ctx, newRequest(c), nil)
		cancel()
	}
}

func newRequest(c config) *echopb.EchoRequest {
	return &echopb.EchoRequest{Message: proto.String(strings.Repeat("x", c.requestSize))}
}

// traceTo starts a Go execution trace written to path; the function it returns stops it.
func traceTo(path string) (func(), error) { return record(path, trace.Start, trace.Stop) }

// profileCPU starts a CPU profile written to path; the returned function ends it.
func profileCPU(path string) (func(), error) {
	return record(path, pprof.StartCPUProfile, pprof.StopCPUProfile)
}

// profileAllocs samples allocations (every 64 KiB allocated) and writes them to path when the
// returned function is called.
func profileAllocs(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	runtime.MemProfileRate = 64 << 10
	return func() {
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			fmt.Fprintln(os.Stderr, "bench: memprofile:", err)
		}
		f.Close()
	}, nil
}

// record creates path and starts a recorder writing to it; the function it returns stops the
// recorder and closes the file.
func record(path string, start func(io.Writer) error, stop func()) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := start(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { stop(); f.Close() }, nil
}
