// Command partition_echo calls example.EchoService.Echo through a PartitionChannel, like brpc's
// partition_echo_c++ client: the servers of -server (a naming service URL, file:// in brpc's
// example) are grouped into -partition_num partitions by their tags ("0/3", "1/3", "2/3"), and
// every call goes to one server of each partition. Run examples/echo/server -server_num 3 and list
// its servers with tags in a file to try it. It prints qps and latency each second and a summary
// line at the end.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/examples/internal/load"
)

type config struct {
	server       string
	partitions   int
	loadBalancer string
	threads      int
	duration     time.Duration
	timeout      time.Duration
	maxRetry     int
}

func main() {
	var c config
	var timeoutMs int
	flag.StringVar(&c.server, "server", "file://server_list", "naming service URL listing the servers with N/M tags")
	flag.IntVar(&c.partitions, "partition_num", 3, "number of partitions")
	flag.StringVar(&c.loadBalancer, "load_balancer", "rr", "load balancer inside each partition")
	flag.IntVar(&c.threads, "thread_num", 1, "concurrent callers")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "how long to run")
	flag.IntVar(&timeoutMs, "timeout_ms", 100, "call timeout in milliseconds")
	flag.IntVar(&c.maxRetry, "max_retry", 3, "retries inside each partition")
	flag.Parse()
	c.timeout = time.Duration(timeoutMs) * time.Millisecond
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "partition_echo:", err)
		os.Exit(1)
	}
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
	pc, err := combo.NewPartitionChannel(sys, c.partitions, combo.SlashParser{}, c.server, &combo.PartitionOptions{
		Channel: actors.ChannelOptions{LoadBalancer: c.loadBalancer, MaxRetry: c.maxRetry}, Timeout: c.timeout, FailLimit: 1})
	if err != nil {
		return err
	}
	defer pc.Close()
	(&load.Load{Channel: pc, Threads: c.threads, SubChannels: c.partitions, RequestSize: 16, Duration: c.duration,
		Out: os.Stdout}).Run()
	return nil
}
