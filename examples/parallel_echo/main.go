// Command parallel_echo is brpc's example/parallel_echo_c++ client on troupe: -thread_num
// goroutines each make one synchronous call after another on a parallel channel of -channel_num
// sub-channels to the same -server (an address, or a naming URL with -load_balancer), so that
// every call is -channel_num calls to the server, their answers merged. With -same_channel one
// channel is added -channel_num times instead.
//
// The parallel channel's -timeout_ms bounds each call; the sub-channels' own timeouts do not
// apply. Every second it prints the rate, the mean latency and the mean latency of each sub-call:
//
//	qps=20512 latency=2401us errors=0 sub[0]=2188us sub[1]=2190us sub[2]=2187us
//
// and at the end one summary line:
//
//	qps=<n> p50_us=<n> p99_us=<n> errors=<n>
//
// It speaks the parallel example's messages (pechopb: EchoRequest and EchoResponse carry an int32
// value; the method is example.EchoService.Echo, as for the string echo): each caller numbers its
// requests 0, 1, 2, … as brpc's client does, and a call whose answer does not carry the request's
// value counts as an error. It works against troupe's examples/parallel_echo/server and brpc's
// parallel_echo_server, not against the string echo servers (examples/echo/server, brpc's
// echo_server), which cannot parse these requests.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/examples/internal/closedloop"
	"github.com/troupe-rpc/troupe/examples/parallel_echo/pechopb"
)

type config struct {
	server         string
	loadBalancer   string
	channelNum     int
	sameChannel    bool
	threads        int
	duration       time.Duration
	timeout        time.Duration // the parallel channel's; negative: none
	maxRetry       int           // each sub-channel's
	requestSize    int           // brpc's flag, checked but unused: the request is one int32
	attachmentSize int
	interval       time.Duration // between progress lines; 0: a second
	out            io.Writer     // nil: standard output
}

func main() {
	var c config
	flag.StringVar(&c.server, "server", "127.0.0.1:8002", "server address, or a naming URL (list://, file://, http://) with -load_balancer")
	flag.StringVar(&c.loadBalancer, "load_balancer", "", "load balancer of the sub-channels (rr, random, wrr, la, c_murmurhash, c_md5); -server is then a naming URL")
	flag.IntVar(&c.channelNum, "channel_num", 3, "sub-channels of the parallel channel")
	flag.BoolVar(&c.sameChannel, "same_channel", false, "add one channel -channel_num times instead of -channel_num channels")
	flag.IntVar(&c.threads, "thread_num", 50, "concurrent callers")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "how long to run")
	timeoutMs := flag.Int("timeout_ms", 100, "timeout of each parallel call in milliseconds (-1: none)")
	flag.IntVar(&c.maxRetry, "max_retry", 3, "retries of each sub-call, inside its sub-channel")
	flag.IntVar(&c.requestSize, "request_size", 16, "accepted as brpc's client accepts it; unused, the request is one int32")
	flag.IntVar(&c.attachmentSize, "attachment_size", 0, "bytes of the request attachment")
	flag.Parse()
	c.timeout = time.Duration(*timeoutMs) * time.Millisecond
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "parallel_echo:", err)
		os.Exit(1)
	}
}

// run makes the calls for c.duration and prints what they did.
func run(c config) error {
	if c.threads < 1 || c.channelNum < 1 || c.requestSize < 0 || c.attachmentSize < 0 || c.duration <= 0 {
		return errors.New("-thread_num, -channel_num and -duration must be positive, -request_size and -attachment_size not negative")
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
	pchan, err := newParallel(sys, c)
	if err != nil {
		return err
	}
	defer pchan.Close()
	client := pechopb.NewEchoServiceClient(pchan)
	l := &closedloop.Loop{Messages: func() closedloop.Messages { return valueMessages(client) }, Threads: c.threads,
		SubChannels: c.channelNum, AttachmentSize: c.attachmentSize, Duration: c.duration, Interval: c.interval, Out: c.out}
	l.Run()
	return nil
}

// valueMessages is one caller's call: the n-th request carries value n, and the merged answer
// must carry the same value.
func valueMessages(client *pechopb.EchoServiceClient) closedloop.Messages {
	req := &pechopb.EchoRequest{}
	var resp *pechopb.EchoResponse
	return closedloop.Messages{
		Call: func(ctx context.Context, cntl *actors.Controller) error {
			var err error
			resp, err = client.Echo(ctx, req, cntl)
			return err
		},
		Prepare: func(n int64) { req.Value = proto.Int32(int32(n)) },
		Check:   func() error { return checkValue(req, resp) },
	}
}

// checkValue says whether resp answers req: it must carry req's value.
func checkValue(req *pechopb.EchoRequest, resp *pechopb.EchoResponse) error {
	if resp.Value == nil {
		return errors.New("the answer carries no value")
	}
	if resp.GetValue() != req.GetValue() {
		return fmt.Errorf("the answer carries value %d, want the request's %d", resp.GetValue(), req.GetValue())
	}
	return nil
}

// newParallel builds the parallel channel: a broadcast (no mapper, no merger: every sub-call gets
// the request, and the answers are merged with proto.Merge) to channel_num sub-channels, which
// it owns.
func newParallel(sys *actors.System, c config) (*combo.ParallelChannel, error) {
	pchan, err := combo.NewParallelChannel(sys, &combo.ParallelOptions{Timeout: c.timeout})
	if err != nil {
		return nil, err
	}
	opts := &actors.ChannelOptions{MaxRetry: c.maxRetry, LoadBalancer: c.loadBalancer}
	if c.maxRetry == 0 {
		opts.MaxRetry = actors.NoRetry
	}
	var sub *actors.PlainChannel
	for range c.channelNum {
		if sub == nil || !c.sameChannel {
			if sub, err = sys.NewChannel(c.server, opts); err != nil {
				pchan.Close()
				return nil, err
			}
		}
		if err := pchan.AddChannel(sub, combo.OwnsChannel, nil, nil); err != nil {
			pchan.Close()
			return nil, err
		}
	}
	return pchan, nil
}
