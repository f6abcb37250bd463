package actors_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// A synchronous call that was simply answered leaves its memory to the next one: it allocates
// several hundred bytes less than the same call made with Go, which hands its Call to the caller.
func TestSyncCallsReuseTheirMemory(t *testing.T) {
	_, addr := startEcho(t, nil)
	sys := newSystem(t)
	ch, err := sys.NewChannel(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	req := echoReq("reuse")
	const calls = 500
	perCall := func(call func(*echopb.EchoResponse) error) uint64 {
		var resp echopb.EchoResponse
		for range 50 {
			if err := call(&resp); err != nil {
				t.Fatal(err)
			}
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range calls {
			if err := call(&resp); err != nil {
				t.Fatal(err)
			}
		}
		runtime.ReadMemStats(&after)
		return (after.TotalAlloc - before.TotalAlloc) / calls
	}
	ctx := context.Background()
	sync := perCall(func(resp *echopb.EchoResponse) error {
		return ch.Call(ctx, echoservice.Method, req, resp, nil)
	})
	async := perCall(func(resp *echopb.EchoResponse) error {
		return ch.Go(ctx, echoservice.Method, req, resp, nil, nil).Wait()
	})
	// A plain call's state is 896 bytes; the race detector's sync.Pool drops a quarter of what
	// it is given, so the margin is well below that.
	if async < sync+400 {
		t.Errorf("a synchronous call allocates %d bytes, one made with Go %d: want at least 400 bytes fewer", sync, async)
	}
}

// Reused memory never meets a message meant for the call that had it before. Calls that time out
// while their server still works on them, calls cancelled by their context or by StartCancel
// around the moment their answer comes, and plain calls run together, with Inspect reading the
// call tree all along; each plain call gets its own answer, and only the calls asked to end early
// may fail, each with its own reason.
func TestReusedCallsNeverSeeAnotherCallsMessages(t *testing.T) {
	_, addr := startEcho(t, nil)
	sys := newSystem(t)
	ch, err := sys.NewChannel(addr, &actors.ChannelOptions{Timeout: time.Minute, MaxRetry: actors.NoRetry})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var inspector sync.WaitGroup
	inspector.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				_ = sys.Inspect().String()
			}
		}
	})
	var cancels, callers sync.WaitGroup
	later := func(i int, f func()) { // a cancel that lands before, around or after the answer
		cancels.Add(1)
		time.AfterFunc(time.Duration(i%8)*40*time.Microsecond, func() {
			defer cancels.Done()
			f()
		})
	}
	for g := range 8 {
		callers.Go(func() {
			for i := range 250 {
				msg := fmt.Sprintf("%d/%d", g, i)
				req, resp := echoReq(msg), &echopb.EchoResponse{}
				var cntl actors.Controller
				ctx := context.Background()
				kind := i % 5
				switch kind {
				case 1: // the server answers after the call timed out
					req.SleepUs = proto.Int32(3000)
					cntl.SetTimeout(time.Millisecond)
				case 2:
					c, cancel := context.WithCancel(ctx)
					ctx = c
					later(i, cancel)
				case 3:
					later(i, cntl.StartCancel)
				}
				err := ch.Call(ctx, echoservice.Method, req, resp, &cntl)
				switch code := wire.ErrnoOf(err); {
				case err == nil:
					if resp.GetMessage() != msg {
						t.Errorf("call %s got the answer %q", msg, resp.GetMessage())
					}
				case kind == 1 && code == wire.ERPCTIMEDOUT, (kind == 2 || kind == 3) && code == wire.ECANCELED:
				default:
					t.Errorf("call %s (kind %d) failed: %v", msg, kind, err)
				}
			}
		})
	}
	callers.Wait()
	cancels.Wait()
	close(stop)
	inspector.Wait()
}
