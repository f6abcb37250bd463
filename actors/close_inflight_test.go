package actors_test

import (
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/actorstest"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// A channel closed right after Go lets the calls in flight complete: a cluster channel keeps its
// server list and sockets until the last of them ended, even when the first list had not arrived
// yet when it was closed. Later calls fail at once with ELOGOFF, and the channel is released
// once the calls ended.
func TestCloseRightAfterGoCompletesCallsInFlight(t *testing.T) {
	_, addr := startEcho(t, nil)
	path := filepath.Join(t.TempDir(), "servers")
	actorstest.ReplaceFile(t, path, addr)
	sys := newSystem(t)
	for run := range 30 {
		for _, target := range []struct {
			url  string
			opts *actors.ChannelOptions
		}{{"file://" + path, &actors.ChannelOptions{LoadBalancer: "rr"}}, {addr, nil}} {
			ch, err := sys.NewChannel(target.url, target.opts)
			if err != nil {
				t.Fatal(err)
			}
			var runs [3]atomic.Int32
			var calls [3]*actors.Call
			for i := range calls {
				calls[i] = ch.Go(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil,
					func(*actors.Controller) { runs[i].Add(1) })
			}
			if err := ch.Close(); err != nil {
				t.Fatalf("Close() = %v", err)
			}
			for i, c := range calls {
				if err := c.Wait(); err != nil {
					t.Fatalf("run %d, %s: call %d started before Close = %v, want success", run, target.url, i, err)
				}
				if n := runs[i].Load(); n != 1 {
					t.Fatalf("run %d, %s: call %d ran done %d times, want 1", run, target.url, i, n)
				}
			}
			err = ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil)
			if !errors.Is(err, actors.ErrClosed) || !errors.Is(err, wire.ELOGOFF) {
				t.Fatalf("Call after Close = %v, want ELOGOFF and ErrClosed", err)
			}
			actorstest.Eventually(t, "the closed channel to be released", func() bool {
				return sys.Inspect().Find(func(n *actors.Node) bool { return n.Kind == "channel" }) == nil
			})
		}
	}
}
