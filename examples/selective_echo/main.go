// Command selective_echo is brpc's example/selective_echo_c++ client on troupe: -thread_num
// goroutines each make one synchronous call after another on a selective channel whose three
// sub-channels are of different kinds, over 11 servers on consecutive ports from
// -starting_server (examples/echo/server -server_num 11 runs them):
//
//  1. a channel to a cluster: list:// of 3 servers, balanced with rr;
//  2. a parallel channel with FailLimit 1 over 3 single-server channels;
//  3. a selective channel (default options) over a list:// channel of 3 servers and 2
//     single-server channels.
//
// The selective channel picks a sub-channel for each attempt with -load_balancer, retries
// failures on another (-max_retry) and sends backup requests (-backup_ms). Every second it prints
//
//	qps=20512 latency=2401us errors=0
//
// and at the end one summary line:
//
//	qps=<n> p50_us=<n> p99_us=<n> errors=<n>
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/examples/internal/load"
)

// serverNum is how many servers the three sub-channels use.
const serverNum = 11

type config struct {
	startingServer string
	servers        []string // the 11 servers; from startingServer's consecutive ports when empty
	loadBalancer   string
	threads        int
	duration       time.Duration
	timeout        time.Duration // the selective channel's; negative: none
	backup         time.Duration // 0: no backup requests
	maxRetry       int
	requestSize    int
	attachmentSize int
	interval       time.Duration // between progress lines; 0: a second
	out            io.Writer     // nil: standard output
}

func main() {
	var c config
	flag.StringVar(&c.startingServer, "starting_server", "127.0.0.1:8114", "address of the first of 11 servers on consecutive ports")
	flag.StringVar(&c.loadBalancer, "load_balancer", "rr", "load balancer that picks a sub-channel (rr, random, wrr, la, …)")
	flag.IntVar(&c.threads, "thread_num", 50, "concurrent callers")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "how long to run")
	timeoutMs := flag.Int("timeout_ms", 100, "timeout of each call in milliseconds, retries included (-1: none)")
	backupMs := flag.Int("backup_ms", -1, "send a backup request to another sub-channel after this many milliseconds (-1: never)")
	flag.IntVar(&c.maxRetry, "max_retry", 3, "retries of a call on other sub-channels")
	flag.IntVar(&c.requestSize, "request_size", 16, "bytes of the request message")
	flag.IntVar(&c.attachmentSize, "attachment_size", 0, "bytes of the request attachment")
	flag.Parse()
	c.timeout = time.Duration(*timeoutMs) * time.Millisecond
	if *backupMs >= 0 {
		c.backup = time.Duration(*backupMs) * time.Millisecond
	}
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "selective_echo:", err)
		os.Exit(1)
	}
}

// run makes the calls for c.duration and prints what they did.
func run(c config) error {
	if c.threads < 1 || c.requestSize < 0 || c.attachmentSize < 0 || c.duration <= 0 {
		return errors.New("-thread_num and -duration must be positive, -request_size and -attachment_size not negative")
	}
	servers := c.servers
	if len(servers) == 0 {
		var err error
		if servers, err = consecutive(c.startingServer, serverNum); err != nil {
			return err
		}
	}
	if len(servers) != serverNum {
		return fmt.Errorf("%d servers, want %d", len(servers), serverNum)
	}
	if c.out == nil {
		c.out = os.Stdout
	}
	if c.interval <= 0 {
		c.interval = time.Second
	}
	sys, err := actors.NewSystem(nil)
	if err != nil {
		return err
	}
	defer sys.Shutdown()
	schan, err := newSelective(sys, c, servers)
	if err != nil {
		return err
	}
	defer schan.Close()
	l := &load.Load{Channel: schan, Threads: c.threads, RequestSize: c.requestSize, AttachmentSize: c.attachmentSize,
		Duration: c.duration, Interval: c.interval, Out: c.out}
	l.Run()
	return nil
}

// consecutive returns n addresses on the ports from start's on.
func consecutive(start string, n int) ([]string, error) {
	host, p, err := net.SplitHostPort(start)
	if err != nil {
		return nil, fmt.Errorf("-starting_server=%q: %w", start, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 1 || port+n-1 > 65535 {
		return nil, fmt.Errorf("-starting_server=%q: want a port in 1..%d", start, 65536-n)
	}
	out := make([]string, n)
	for i := range n {
		out[i] = net.JoinHostPort(host, strconv.Itoa(port+i))
	}
	return out, nil
}

// newSelective builds the selective channel over its three sub-channels, which it owns.
func newSelective(sys *actors.System, c config, servers []string) (ch *combo.SelectiveChannel, err error) {
	opts := &combo.SelectiveOptions{LoadBalancer: c.loadBalancer, Timeout: c.timeout, MaxRetry: c.maxRetry, BackupRequest: c.backup}
	if c.maxRetry == 0 {
		opts.MaxRetry = actors.NoRetry
	}
	schan, err := combo.NewSelectiveChannel(sys, opts)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			schan.Close()
		}
	}()
	subs := []func() (actors.Channel, error){
		func() (actors.Channel, error) { return listChannel(sys, servers[0:3]) },
		func() (actors.Channel, error) { return parallelOf(sys, servers[3:6]) },
		func() (actors.Channel, error) { return selectiveOf(sys, servers[6:9], servers[9:11]) },
	}
	for _, build := range subs {
		sub, err := build()
		if err != nil {
			return nil, err
		}
		if _, err := schan.AddChannel(sub, combo.OwnsChannel); err != nil {
			sub.Close()
			return nil, err
		}
	}
	return schan, nil
}

// listChannel is a channel to a cluster of servers named by a list:// URL, balanced with rr.
func listChannel(sys *actors.System, servers []string) (*actors.PlainChannel, error) {
	return sys.NewChannel("list://"+strings.Join(servers, ","), &actors.ChannelOptions{LoadBalancer: "rr"})
}

// parallelOf is a parallel channel with FailLimit 1 over a channel to each server.
func parallelOf(sys *actors.System, servers []string) (actors.Channel, error) {
	pchan, err := combo.NewParallelChannel(sys, &combo.ParallelOptions{FailLimit: 1})
	if err != nil {
		return nil, err
	}
	for _, addr := range servers {
		sub, err := sys.NewChannel(addr, nil)
		if err == nil {
			err = pchan.AddChannel(sub, combo.OwnsChannel, nil, nil)
		}
		if err != nil {
			pchan.Close()
			return nil, err
		}
	}
	return pchan, nil
}

// selectiveOf is a selective channel with default options over a list:// channel of cluster and
// a channel to each of singles.
func selectiveOf(sys *actors.System, cluster, singles []string) (actors.Channel, error) {
	schan, err := combo.NewSelectiveChannel(sys, nil)
	if err != nil {
		return nil, err
	}
	var sub *actors.PlainChannel
	for i := range 1 + len(singles) {
		if i == 0 {
			sub, err = listChannel(sys, cluster)
		} else {
			sub, err = sys.NewChannel(singles[i-1], nil)
		}
		if err == nil {
			if _, err = schan.AddChannel(sub, combo.OwnsChannel); err != nil {
				sub.Close()
			}
		}
		if err != nil {
			schan.Close()
			return nil, err
		}
	}
	return schan, nil
}
