package mailbox_test

import (
	"sync"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/troupe-rpc/troupe/mailbox"
)

// manualDispatcher queues activations until runAll runs them, so that a test sees exactly
// which turns ran on the sending goroutine.
type manualDispatcher struct {
	mu  sync.Mutex
	fns []func()
}

func (d *manualDispatcher) Schedule(fn func()) {
	d.mu.Lock()
	d.fns = append(d.fns, fn)
	d.mu.Unlock()
}

func (d *manualDispatcher) Throughput() int { return 300 }

func (d *manualDispatcher) pending() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.fns)
}

func (d *manualDispatcher) runAll() {
	for {
		d.mu.Lock()
		if len(d.fns) == 0 {
			d.mu.Unlock()
			return
		}
		fn := d.fns[0]
		d.fns = d.fns[1:]
		d.mu.Unlock()
		fn()
	}
}

// received returns what out holds now, without waiting.
func received(out chan any) []any {
	var got []any
	for {
		select {
		case m := <-out:
			got = append(got, m)
		default:
			return got
		}
	}
}

// A message the inline rule accepts runs on the sender's goroutine when the actor is idle; any
// other waits for the dispatcher, and so does an accepted one while the actor is scheduled.
func TestInlineMailbox(t *testing.T) {
	e := newEnv(t, 1, 16, 300)
	d := &manualDispatcher{}
	rec := newRecorder()
	props := actor.PropsFromProducer(func() actor.Actor { return rec },
		actor.WithDispatcher(d),
		actor.WithMailbox(mailbox.NewInlineMailbox(false, func(msg any) bool { return msg == "inline" }, nil, nil)))
	pid := e.sys.Root.Spawn(props)
	d.runAll()
	if got := received(rec.out); len(got) != 1 {
		t.Fatalf("after spawning: %v, want Started", got)
	}
	e.sys.Root.Send(pid, "inline")
	if got := received(rec.out); len(got) != 1 || got[0] != "inline" || d.pending() != 0 {
		t.Fatalf("an inline message to an idle actor: received %v with %d activations queued, want it processed at once", got, d.pending())
	}
	e.sys.Root.Send(pid, "queued")
	e.sys.Root.Send(pid, "inline") // the actor is scheduled now: this one queues too
	if got := received(rec.out); len(got) != 0 || d.pending() != 1 {
		t.Fatalf("received %v with %d activations queued, want nothing and 1", got, d.pending())
	}
	d.runAll()
	if got := received(rec.out); len(got) != 2 || got[0] != "queued" || got[1] != "inline" {
		t.Fatalf("after the dispatcher ran: %v, want [queued inline]", got)
	}
	e.sys.Root.Stop(pid)
	d.runAll()
	eventually(t, "the actor to leave the registry", func() bool { d.runAll(); return registrySize(e.sys) == e.baseline })
}

// After Door.Close the actor receives what was queued before, then the final message; a later
// message refuse takes never reaches it, one refuse declines still does.
func TestDoorClose(t *testing.T) {
	e := newEnv(t, 1, 16, 300)
	d := &manualDispatcher{}
	rec := newRecorder()
	var door mailbox.Door
	props := actor.PropsFromProducer(func() actor.Actor { return rec },
		actor.WithDispatcher(d),
		actor.WithMailbox(mailbox.NewInlineMailbox(false, func(any) bool { return false }, nil, &door)))
	pid := e.sys.Root.Spawn(props)
	d.runAll()
	received(rec.out) // Started
	e.sys.Root.Send(pid, "before")
	var refused []any
	door.Close("final", func(msg any) bool {
		if msg == "refused" {
			refused = append(refused, msg)
			return true
		}
		return false
	})
	e.sys.Root.Send(pid, "refused")
	e.sys.Root.Send(pid, "after")
	d.runAll()
	if got := received(rec.out); len(got) != 3 || got[0] != "before" || got[1] != "final" || got[2] != "after" {
		t.Fatalf("received %v, want [before final after]", got)
	}
	if len(refused) != 1 {
		t.Fatalf("refuse took %v, want [refused]", refused)
	}
	e.sys.Root.Stop(pid)
	d.runAll()
	eventually(t, "the actor to leave the registry", func() bool { d.runAll(); return registrySize(e.sys) == e.baseline })
}

// SendInline runs an idle Light's turn at once; Release runs what queued during the held turn on
// the releasing goroutine.
func TestLightInlineTurns(t *testing.T) {
	e := newEnv(t, 1, 16, 300)
	d := &manualDispatcher{}
	r := newLightRec(16)
	l := mailbox.Spawn(e.reg, d, nil, "inline", r)
	l.SendInline("a")
	if got := received(r.out); len(got) != 1 || got[0] != "a" {
		t.Fatalf("SendInline to an idle Light: received %v, want [a] at once", got)
	}
	l.Send("b")
	l.SendInline("c") // scheduled: queues behind b
	if got := received(r.out); len(got) != 0 {
		t.Fatalf("received %v while scheduled, want nothing yet", got)
	}
	d.runAll()
	if got := received(r.out); len(got) != 2 || got[0] != "b" || got[1] != "c" {
		t.Fatalf("after the dispatcher ran: %v, want [b c]", got)
	}

	h := newLightRec(16)
	held := mailbox.SpawnHeld(e.reg, d, nil, "held", h)
	held.Send("x")
	held.Release()
	if got := received(h.out); len(got) != 1 || got[0] != "x" || d.pending() != 0 {
		t.Fatalf("Release: received %v with %d activations queued, want [x] on the releasing goroutine", got, d.pending())
	}
	l.Stop()
	held.Stop()
	d.runAll()
	r.waitStopped(t, "inline")
	h.waitStopped(t, "held")
	e.eventuallyBaseline()
}
