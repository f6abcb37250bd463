// Command dynamic_partition_echo calls example.EchoService.Echo through a DynamicPartitionChannel,
// like brpc's dynamic_partition_echo_c++ client: the servers of -server carry tags of several
// partitioning schemes ("0/3" and "0/4" …) and each call goes to one scheme, chosen in proportion
// to its capacity, then to every partition of it. Edit the server list while it runs to watch
// traffic move from one scheme to another.
//
// With -walkthrough it needs nothing else: it starts three echo servers on loopback, writes a
// server list, and replays brpc's migration from 3 to 4 partitions while calls run — both schemes
// on servers A and B, then C added to the 4-partition scheme, then A's "2/3" commented out —
// printing the share of traffic each server gets at each stage.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/examples/echo/echopbtroupe"
	"github.com/troupe-rpc/troupe/examples/internal/load"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

type config struct {
	server       string
	loadBalancer string
	threads      int
	duration     time.Duration
	timeout      time.Duration
	maxRetry     int
	walkthrough  bool
	stage        time.Duration
}

func main() {
	var c config
	var timeoutMs int
	flag.StringVar(&c.server, "server", "file://server_list", "naming service URL listing the servers with N/M tags")
	flag.StringVar(&c.loadBalancer, "load_balancer", "rr", "load balancer inside each partition")
	flag.IntVar(&c.threads, "thread_num", 50, "concurrent callers")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "how long to run")
	flag.IntVar(&timeoutMs, "timeout_ms", 100, "call timeout in milliseconds")
	flag.IntVar(&c.maxRetry, "max_retry", 3, "retries")
	flag.BoolVar(&c.walkthrough, "walkthrough", false, "start servers and replay the 3 → 4 partition migration")
	flag.DurationVar(&c.stage, "stage", 2*time.Second, "length of each walkthrough stage")
	flag.Parse()
	c.timeout = time.Duration(timeoutMs) * time.Millisecond
	run := run
	if c.walkthrough {
		run = walkthrough
	}
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "dynamic_partition_echo:", err)
		os.Exit(1)
	}
}

// newChannel makes the dynamic partition channel over c.server.
func newChannel(sys *actors.System, c config) (*combo.DynamicPartitionChannel, error) {
	return combo.NewDynamicPartitionChannel(sys, combo.SlashParser{}, c.server, &combo.PartitionOptions{
		Channel: actors.ChannelOptions{LoadBalancer: c.loadBalancer}, Timeout: c.timeout, FailLimit: 1, MaxRetry: c.maxRetry})
}

func call(ch actors.Channel) error {
	req := &echopb.EchoRequest{Message: proto.String("hello")}
	_, err := echopbtroupe.NewEchoServiceClient(ch).Echo(context.Background(), req, nil)
	return err
}

func run(c config) error {
	if c.threads < 1 || c.duration <= 0 {
		return fmt.Errorf("-thread_num and -duration must be positive")
	}
	sys, err := actors.NewSystem(nil)
	if err != nil {
		return err
	}
	defer sys.Shutdown()
	d, err := newChannel(sys, c)
	if err != nil {
		return err
	}
	defer d.Close()
	(&load.Load{Channel: d, Threads: c.threads, RequestSize: 16, Duration: c.duration, Out: os.Stdout}).Run()
	return nil
}
