package combo_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// wrapper is a user's own channel that delegates to another and counts its calls and how they
// ended.
type wrapper struct {
	inner          actors.Channel
	calls, endings atomic.Int32
	lastErr        atomic.Pointer[error]
	logID          atomic.Int64
}

func (w *wrapper) Call(ctx context.Context, method string, req, resp proto.Message, cntl *actors.Controller) error {
	return w.Go(ctx, method, req, resp, cntl, nil).Wait()
}

func (w *wrapper) Go(ctx context.Context, method string, req, resp proto.Message, cntl *actors.Controller, done func(*actors.Controller)) *actors.Call {
	w.calls.Add(1)
	if id, ok := cntl.LogID(); ok {
		w.logID.Store(id)
	}
	return w.inner.Go(ctx, method, req, resp, cntl, func(c *actors.Controller) {
		err := c.Err()
		w.lastErr.Store(&err)
		w.endings.Add(1)
		if done != nil {
			done(c)
		}
	})
}

func (w *wrapper) Close() error { return nil }

// A user's channel nested in a combo channel gets the combo call's settings, and its sub-call
// ends with the combo call: at its deadline, and when it is cancelled.
func TestUserChannelNests(t *testing.T) {
	sys := newSystem(t)
	fast := plain(t, sys, startEcho(t, &echoservice.Service{}), nil)
	defer fast.Close()
	slow := plain(t, sys, startEcho(t, &echoservice.Service{Sleep: time.Minute}), &actors.ChannelOptions{Timeout: actors.NoTimeout})
	defer slow.Close()

	t.Run("answers", func(t *testing.T) {
		w := &wrapper{inner: fast}
		p := newPChanOf(t, sys, &combo.ParallelOptions{}, w, fast)
		var cntl actors.Controller
		cntl.SetLogID(42)
		if err := p.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, &cntl); err != nil {
			t.Fatalf("Call() = %v, want success", err)
		}
		if w.calls.Load() != 1 || w.endings.Load() != 1 || w.logID.Load() != 42 {
			t.Errorf("user channel: %d calls, %d endings, log id %d; want 1, 1, 42", w.calls.Load(), w.endings.Load(), w.logID.Load())
		}
		if cntl.Sub(0).RemoteSide() == "" {
			t.Errorf("Sub(0).RemoteSide() is empty: the user call's results are not copied back")
		}
	})

	t.Run("deadline", func(t *testing.T) {
		w := &wrapper{inner: slow}
		p := newPChanOf(t, sys, &combo.ParallelOptions{Timeout: 200 * time.Millisecond}, w)
		start := time.Now()
		err := p.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil)
		wantErrno(t, "Call() past the deadline", err, wire.ERPCTIMEDOUT)
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("Call() took %v: the deadline did not end the user's call", d)
		}
		eventually(t, "the user's call to end", func() bool { return w.endings.Load() == 1 })
		noCallsLeft(t, sys)
	})

	t.Run("cancel", func(t *testing.T) {
		w := &wrapper{inner: slow}
		p := newPChanOf(t, sys, &combo.ParallelOptions{Timeout: actors.NoTimeout}, w)
		var runs atomic.Int32
		call := p.Go(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil,
			func(*actors.Controller) { runs.Add(1) })
		eventually(t, "the user's channel to be called", func() bool { return w.calls.Load() == 1 })
		call.Cancel()
		wantErrno(t, "cancelled Call()", call.Wait(), wire.ECANCELED)
		eventually(t, "the user's call to end", func() bool { return w.endings.Load() == 1 })
		if errp := w.lastErr.Load(); errp == nil || wire.ErrnoOf(*errp) != wire.ECANCELED {
			t.Errorf("the user's call ended with %v, want ECANCELED", errp)
		}
		if n := runs.Load(); n != 1 {
			t.Errorf("done ran %d times, want 1", n)
		}
		noCallsLeft(t, sys)
	})
}

// newPChanOf returns a parallel channel over subs, closed when the test ends.
func newPChanOf(t *testing.T, sys *actors.System, opts *combo.ParallelOptions, subs ...actors.Channel) *combo.ParallelChannel {
	t.Helper()
	p, err := combo.NewParallelChannel(sys, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range subs {
		if err := p.AddChannel(ch, combo.DoesntOwnChannel, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}
