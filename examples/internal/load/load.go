// Package load is the closed loop of callers the string-echo examples share: each caller makes
// one synchronous call of example.EchoService.Echo (wire/echopb's messages) after another on a
// channel until the duration ends; a progress line reports each interval and a summary line ends
// the run. The loop itself is [closedloop.Loop].
package load

import (
	"context"
	"io"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/examples/echo/echopbtroupe"
	"github.com/troupe-rpc/troupe/examples/internal/closedloop"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// Load is a closed loop of callers on one channel, calling example.EchoService.Echo with a
// message of RequestSize bytes: each caller records its latencies and, for a combo channel, the
// latency of each sub-call.
type Load struct {
	Channel        actors.Channel
	Threads        int
	SubChannels    int // sub-channels whose sub-call latency is reported
	RequestSize    int // bytes of the echoed message
	AttachmentSize int
	Duration       time.Duration
	Interval       time.Duration // between progress lines; 0 means a second
	Out            io.Writer
	// SummaryExtra, if set, adds fields to the summary line; it gets the number of calls made.
	SummaryExtra func(calls int64) string
}

// Run runs the callers, prints a progress line every interval and the summary line at the end,
// and returns how many calls failed.
func (l *Load) Run() (errors int64) {
	loop := &closedloop.Loop{
		Messages:       l.messages,
		Threads:        l.Threads,
		SubChannels:    l.SubChannels,
		AttachmentSize: l.AttachmentSize,
		Duration:       l.Duration,
		Interval:       l.Interval,
		Out:            l.Out,
		SummaryExtra:   l.SummaryExtra,
	}
	return loop.Run()
}

// messages is one caller's call: a request of RequestSize bytes of "x", through the generated
// echo client.
func (l *Load) messages() closedloop.Messages {
	client := echopbtroupe.NewEchoServiceClient(l.Channel)
	req := &echopb.EchoRequest{Message: proto.String(strings.Repeat("x", l.RequestSize))}
	return closedloop.Messages{
		Call: func(ctx context.Context, cntl *actors.Controller) error {
			_, err := client.Echo(ctx, req, cntl)
			return err
		},
	}
}
