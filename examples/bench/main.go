// Command bench is a closed-loop load generator for a baidu_std echo server, in the manner of
// brpc's multi_threaded_echo_c++ client and rpc_press: -thread_num goroutines each make one
// synchronous call after another over one shared channel. Every second it prints
//
//	qps=61234 latency=1012us errors=0
//
// and at the end one summary line
//
//	qps=<n> p50_us=<n> p99_us=<n> errors=<n> allocs_per_call=<n>
//
// It works against troupe's examples/echo/server and against brpc's own example echo servers.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
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
}

func main() {
	var c config
	var timeoutMs int
	flag.StringVar(&c.server, "server", "127.0.0.1:8002", "server address, or a naming URL (list://, file://, http://, etcd://) with -load_balancer")
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
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	flag.Parse()
	if *backupMs >= 0 {
		c.backup = time.Duration(*backupMs) * time.Millisecond
	}
	if *cpuprofile != "" {
		stop, err := profileCPU(*cpuprofile)
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

// worker is one caller's record: latencies in microseconds and failures.
type worker struct {
	lat    []int64
	errors atomic.Int64
	calls  atomic.Int64
	sumUs  atomic.Int64
}

func run(c config) error {
	if c.threads < 1 || c.requestSize < 0 || c.attachmentSize < 0 || c.duration <= 0 {
		return errors.New("-thread_num, -request_size, -attachment_size and -duration must be positive")
	}
	sys, err := actors.NewSystem(nil)
	if err != nil {
		return err
	}
	defer sys.Shutdown()
	opts := &actors.ChannelOptions{Timeout: c.timeout, MaxRetry: c.maxRetry, LoadBalancer: c.loadBalancer,
		ConnectionType: c.connectionType, BackupRequest: c.backup}
	if c.maxRetry == 0 {
		opts.MaxRetry = actors.NoRetry
	}
	ch, err := sys.NewChannel(c.server, opts)
	if err != nil {
		return err
	}
	workers := make([]*worker, c.threads)
	for i := range workers {
		workers[i] = &worker{lat: make([]int64, 0, 1<<16)}
	}
	warmup(ch, c)
	ctx, cancel := context.WithTimeout(context.Background(), c.duration)
	defer cancel()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	start := time.Now()
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() { w.loop(ctx, ch, c) })
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	progress(workers, done)
	elapsed := time.Since(start)
	runtime.ReadMemStats(&ms1)
	summary(workers, elapsed, ms1.Mallocs-ms0.Mallocs)
	if c.inspect {
		fmt.Print(sys.Inspect())
	}
	return nil
}

// warmup makes a few calls so that the connection exists before measuring.
func warmup(ch actors.Channel, c config) {
	for range 10 {
		req, resp := newRequest(c), &echopb.EchoResponse{}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = ch.Call(ctx, echoservice.Method, req, resp, nil)
		cancel()
	}
}

func newRequest(c config) *echopb.EchoRequest {
	return &echopb.EchoRequest{Message: proto.String(strings.Repeat("x", c.requestSize))}
}

func (w *worker) loop(ctx context.Context, ch actors.Channel, c config) {
	req, resp := newRequest(c), &echopb.EchoResponse{}
	att := make([]byte, c.attachmentSize)
	var cntl actors.Controller
	for ctx.Err() == nil {
		cntl.Reset()
		if len(att) > 0 {
			cntl.SetRequestAttachment(att)
		}
		t0 := time.Now()
		err := ch.Call(context.Background(), echoservice.Method, req, resp, &cntl)
		us := time.Since(t0).Microseconds()
		w.calls.Add(1)
		if err != nil {
			w.errors.Add(1)
			continue
		}
		w.sumUs.Add(us)
		w.lat = append(w.lat, us)
	}
}

// progress prints qps and mean latency once a second until done.
func progress(workers []*worker, done <-chan struct{}) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastCalls, lastErrs, lastSum int64
	for {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		var calls, errs, sum int64
		for _, w := range workers {
			calls += w.calls.Load()
			errs += w.errors.Load()
			sum += w.sumUs.Load()
		}
		n, ok := calls-lastCalls, (calls-errs)-(lastCalls-lastErrs)
		mean := int64(0)
		if ok > 0 {
			mean = (sum - lastSum) / ok
		}
		fmt.Printf("qps=%d latency=%dus errors=%d\n", n, mean, errs-lastErrs)
		lastCalls, lastErrs, lastSum = calls, errs, sum
	}
}

func summary(workers []*worker, elapsed time.Duration, mallocs uint64) {
	var all []int64
	var calls, errs int64
	for _, w := range workers {
		all = append(all, w.lat...)
		calls += w.calls.Load()
		errs += w.errors.Load()
	}
	slices.Sort(all)
	pct := func(p float64) int64 {
		if len(all) == 0 {
			return 0
		}
		return all[min(len(all)-1, int(p*float64(len(all))))]
	}
	allocs := 0.0
	if calls > 0 {
		allocs = float64(mallocs) / float64(calls)
	}
	fmt.Printf("qps=%d p50_us=%d p99_us=%d errors=%d allocs_per_call=%.1f\n",
		int64(float64(calls)/elapsed.Seconds()), pct(0.50), pct(0.99), errs, allocs)
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
