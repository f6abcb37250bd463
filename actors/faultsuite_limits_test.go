package actors_test

// The fault suite's cases for the client's limits (ChannelOptions.MaxBodySize and
// MaxUnwrittenBytes); TestFaultSuiteClient runs them with the others.

import (
	"context"
	"testing"
	"time"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/internal/faultproxy"
	"github.com/troupe-rpc/troupe/wire"
)

func clientLimitFaults() []clientFault {
	return []clientFault{
		{name: "oversized request", fault: "8 KiB request, MaxBodySize 4 KiB", want: wire.EREQUEST, run: oversizedRequest},
		{name: "never-reading server", fault: "proxy stops reading, MaxUnwrittenBytes 64 KiB", want: wire.EOVERCROWDED, run: neverReadingServer},
	}
}

// oversizedRequest sends a request over the channel's MaxBodySize: it fails before anything
// is written.
func oversizedRequest(t *testing.T, e *faultEnv) (actors.Channel, error) {
	ch := e.channel(e.proxy.Addr(), actors.ChannelOptions{MaxBodySize: 4 << 10})
	var cntl actors.Controller
	cntl.SetRequestAttachment(make([]byte, 8<<10))
	err := e.call(ch, nil, nil, &cntl)
	if n := e.proxy.Stats().Bytes[faultproxy.Up]; n != 0 {
		t.Fatalf("%d bytes reached the proxy, want none", n)
	}
	if cntl.RetriedCount() != 0 {
		t.Fatalf("RetriedCount() = %d, want 0: EREQUEST is not retried", cntl.RetriedCount())
	}
	return ch, err
}

// neverReadingServer stalls the proxy's reading until a call fails with EOVERCROWDED, then lets
// the rest through.
func neverReadingServer(t *testing.T, e *faultEnv) (actors.Channel, error) {
	ch := e.channel(e.proxy.Addr(), actors.ChannelOptions{MaxRetry: actors.NoRetry, Timeout: 20 * time.Second,
		MaxUnwrittenBytes: 64 << 10})
	e.proxy.Stall(faultproxy.Up)
	const n = 64
	calls := make([]*actors.Call, n)
	for i := range calls {
		cntl := new(actors.Controller)
		cntl.SetRequestAttachment(make([]byte, 512<<10))
		calls[i] = e.goCall(context.Background(), ch, nil, nil, cntl)
	}
	var err error
	eventually(t, "a call to fail with EOVERCROWDED", func() bool {
		for _, c := range calls {
			select {
			case <-c.Done():
				if wire.ErrnoOf(c.Err()) == wire.EOVERCROWDED {
					err = c.Err()
					return true
				}
			default:
			}
		}
		return false
	})
	e.proxy.Clear()
	for _, c := range calls {
		if cerr := waitDone(t, c); cerr != nil && wire.ErrnoOf(cerr) != wire.EOVERCROWDED {
			t.Fatalf("a call behind a stalled server = %v, want success or EOVERCROWDED", cerr)
		}
	}
	return ch, err
}
