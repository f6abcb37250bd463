package mailbox_test

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/troupe-rpc/troupe/mailbox"
)

var _ actor.NotInfluenceReceiveTimeout = (*mailbox.Drained)(nil)

// recorder is a protoactor actor that forwards every message it receives to out. A message hold
// blocks the actor until release is closed (acceptable in a test only), after signalling entered;
// the string "panic" makes it panic.
type recorder struct {
	out     chan any
	entered chan struct{}
	release chan struct{}
}

type hold struct{}

func newRecorder() *recorder {
	return &recorder{out: make(chan any, 8192), entered: make(chan struct{}, 16), release: make(chan struct{})}
}

func (r *recorder) Receive(c actor.Context) {
	msg := c.Message()
	r.out <- msg
	switch msg {
	case "panic":
		panic("recorder: asked to panic")
	}
	if _, ok := msg.(hold); ok {
		r.entered <- struct{}{}
		<-r.release
	}
}

// mailboxEnv is an env plus a protoactor actor running a recorder on a NewMailbox mailbox.
type mailboxEnv struct {
	*env
	rec *recorder
	pid *actor.PID
	mb  actor.Mailbox // the actor's mailbox, captured from the producer

	releaseOnce sync.Once
}

// unblock releases an actor blocked on hold; idempotent.
func (me *mailboxEnv) unblock() { me.releaseOnce.Do(func() { close(me.rec.release) }) }

func newMailboxEnv(t *testing.T, notifyDrained bool, workers, queue, throughput int) *mailboxEnv {
	t.Helper()
	e := newEnv(t, workers, queue, throughput)
	rec := newRecorder()
	me := &mailboxEnv{env: e, rec: rec}
	t.Cleanup(me.unblock) // runs before e.close
	produce := mailbox.NewMailbox(notifyDrained)
	var mu sync.Mutex
	props := actor.PropsFromProducer(func() actor.Actor { return rec },
		actor.WithMailbox(func() actor.Mailbox {
			mb := produce()
			mu.Lock()
			me.mb = mb
			mu.Unlock()
			return mb
		}),
		actor.WithDispatcher(e.pool))
	me.pid = e.sys.Root.Spawn(props)
	if _, ok := recv(t, rec.out, "Started").(*actor.Started); !ok {
		t.Fatal("first message is not *actor.Started")
	}
	return me
}

// next returns the next message the actor received.
func (me *mailboxEnv) next(what string) any {
	me.t.Helper()
	return recv(me.t, me.rec.out, what)
}

// stop stops the actor, waits for it, and checks that the registry is back to the baseline.
func (me *mailboxEnv) stop() {
	me.t.Helper()
	if err := me.sys.Root.StopFuture(me.pid).Wait(); err != nil {
		me.t.Fatalf("StopFuture: %v", err)
	}
	me.assertBaseline()
}

var poolShapes = []struct {
	name                       string
	workers, queue, throughput int
}{
	{"default pool", 0, 0, 0},
	{"1 worker queue 1 throughput 3", 1, 1, 3},
}

func TestMailboxFIFO(t *testing.T) {
	for _, shape := range poolShapes {
		for _, notify := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/notifyDrained=%v", shape.name, notify), func(t *testing.T) {
				me := newMailboxEnv(t, notify, shape.workers, shape.queue, shape.throughput)
				const n = 5000
				senders := 4
				var wg sync.WaitGroup
				for s := range senders {
					wg.Go(func() {
						for i := range n {
							me.sys.Root.Send(me.pid, [2]int{s, i})
						}
					})
				}
				next := make([]int, senders)
				drained := 0
				for got := 0; got < senders*n; {
					switch msg := me.next("user messages").(type) {
					case *mailbox.Drained:
						if !notify {
							t.Fatal("Drained delivered with notifyDrained=false")
						}
						drained++
					case [2]int:
						if msg[1] != next[msg[0]] {
							t.Fatalf("sender %d: got message %d, want %d", msg[0], msg[1], next[msg[0]])
						}
						next[msg[0]]++
						got++
					default:
						t.Fatalf("unexpected message %T %v", msg, msg)
					}
				}
				waitGroup(t, &wg, "senders")
				if notify {
					// The actor owes a Drained after the last message.
					if _, ok := me.next("the final Drained").(*mailbox.Drained); !ok {
						t.Fatal("no Drained after the last message")
					}
					drained++
					t.Logf("%d Drained for %d messages", drained, senders*n)
				}
				me.stop()
				assertNoDrained(t, me, notify)
			})
		}
	}
}

// assertNoDrained checks, after the actor has stopped, what it received after its last message:
// Stopping and Stopped, and never a Drained when notify is false.
func assertNoDrained(t *testing.T, me *mailboxEnv, notify bool) {
	t.Helper()
	me.close() // every activation has finished: out holds everything the actor received
	var rest []string
	for len(me.rec.out) > 0 {
		msg := <-me.rec.out
		if _, ok := msg.(*mailbox.Drained); ok && !notify {
			t.Fatal("Drained delivered with notifyDrained=false")
		}
		rest = append(rest, fmt.Sprintf("%T", msg))
	}
	if fmt.Sprint(rest) != "[*actor.Stopping *actor.Stopped]" {
		t.Fatalf("after the last message the actor received %v, want [*actor.Stopping *actor.Stopped]", rest)
	}
}

// TestMailboxDrainedAfterBurst holds the actor busy while 1000 messages queue, then releases it: it
// must see all of them in order, then exactly one Drained.
func TestMailboxDrainedAfterBurst(t *testing.T) {
	for _, shape := range poolShapes {
		for _, notify := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/notifyDrained=%v", shape.name, notify), func(t *testing.T) {
				me := newMailboxEnv(t, notify, shape.workers, shape.queue, shape.throughput)
				me.sys.Root.Send(me.pid, hold{})
				recv(t, me.rec.entered, "the actor to block")
				if _, ok := me.next("hold").(hold); !ok {
					t.Fatal("first user message is not hold")
				}
				const n = 1000
				for i := range n {
					me.sys.Root.Send(me.pid, i)
				}
				if got := me.mb.UserMessageCount(); got != n {
					t.Errorf("UserMessageCount() = %d while the actor is blocked, want %d", got, n)
				}
				me.unblock()
				for i := range n {
					if got := me.next("burst messages"); got != i {
						t.Fatalf("message %d: got %T %v", i, got, got)
					}
				}
				if notify {
					if _, ok := me.next("Drained").(*mailbox.Drained); !ok {
						t.Fatal("no Drained after the burst")
					}
					if got := me.mb.UserMessageCount(); got != 0 {
						t.Errorf("UserMessageCount() = %d after Drained, want 0", got)
					}
				}
				me.stop()
				assertNoDrained(t, me, notify) // exactly one Drained: nothing between it and Stopping
			})
		}
	}
}

func TestMailboxDrainedEachBurst(t *testing.T) {
	me := newMailboxEnv(t, true, 2, 16, 10)
	for burst := range 20 {
		for i := range burst + 1 {
			me.sys.Root.Send(me.pid, i)
		}
		// The burst's messages arrive in order; a Drained may arrive between them when the actor
		// catches up with the sender, and one always arrives after the last.
		for i := 0; i <= burst; {
			switch msg := me.next("burst").(type) {
			case *mailbox.Drained:
			case int:
				if msg != i {
					t.Fatalf("burst %d: got %d, want %d", burst, msg, i)
				}
				i++
			default:
				t.Fatalf("unexpected %T", msg)
			}
		}
		if _, ok := me.next("Drained").(*mailbox.Drained); !ok {
			t.Fatalf("burst %d: no Drained after the last message", burst)
		}
		if got := me.mb.UserMessageCount(); got != 0 {
			t.Errorf("UserMessageCount() = %d when idle, want 0", got)
		}
	}
	me.stop()
	assertNoDrained(t, me, true)
}

// TestMailboxPanicRestart makes the actor panic; the default supervisor restarts it and later
// messages must still be processed, including ones queued behind the panicking message.
func TestMailboxPanicRestart(t *testing.T) {
	for _, shape := range poolShapes {
		for _, notify := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/notifyDrained=%v", shape.name, notify), func(t *testing.T) {
				me := newMailboxEnv(t, notify, shape.workers, shape.queue, shape.throughput)
				// skip returns the next message that is neither Drained nor restart bookkeeping.
				skip := func(what string) any {
					for {
						switch msg := me.next(what).(type) {
						case *mailbox.Drained, *actor.Restarting, *actor.Started:
						default:
							return msg
						}
					}
				}

				// A panic, then a message sent after it.
				for round := range 3 {
					me.sys.Root.Send(me.pid, "panic")
					if got := skip("panic"); got != "panic" {
						t.Fatalf("round %d: got %v, want panic", round, got)
					}
					me.sys.Root.Send(me.pid, round)
					if got := skip("message after the panic"); got != round {
						t.Fatalf("round %d: got %v after the panic, want %d", round, got, round)
					}
				}

				// A panic with messages queued behind it.
				me.sys.Root.Send(me.pid, hold{})
				recv(t, me.rec.entered, "the actor to block")
				if got := skip("hold"); got != (hold{}) {
					t.Fatalf("got %v, want hold", got)
				}
				me.sys.Root.Send(me.pid, "panic")
				for i := range 100 {
					me.sys.Root.Send(me.pid, 100+i)
				}
				me.unblock()
				if got := skip("panic"); got != "panic" {
					t.Fatalf("got %v, want panic", got)
				}
				for i := range 100 {
					if got := skip("queued messages after the panic"); got != 100+i {
						t.Fatalf("got %v, want %d", got, 100+i)
					}
				}
				me.stop()
			})
		}
	}
}

// TestMailboxRestartedStarted checks the restart sequence the mailbox carries: Restarting, then
// Started, then the next message.
func TestMailboxRestartedStarted(t *testing.T) {
	me := newMailboxEnv(t, false, 1, 4, 300)
	me.sys.Root.Send(me.pid, "panic")
	me.sys.Root.Send(me.pid, "after")
	var got []string
	for {
		msg := me.next("restart sequence")
		if s, ok := msg.(string); ok {
			got = append(got, s)
		} else {
			got = append(got, fmt.Sprintf("%T", msg))
		}
		if msg == "after" || len(got) > 10 {
			break
		}
	}
	want := []string{"panic", "*actor.Restarting", "*actor.Started", "after"}
	if !slices.Equal(got, want) {
		t.Fatalf("after a panic the actor received %q, want %q", got, want)
	}
	me.stop()
}

// TestMailboxStopWhileBusy stops an actor that has queued user messages: the Stop, a system
// message, runs before them, so the actor sees Stopping and Stopped next and none of the queued
// messages; StopFuture completes and the registry returns to the baseline.
func TestMailboxStopWhileBusy(t *testing.T) {
	for _, notify := range []bool{false, true} {
		t.Run(fmt.Sprintf("notifyDrained=%v", notify), func(t *testing.T) {
			me := newMailboxEnv(t, notify, 1, 1, 2)
			me.sys.Root.Send(me.pid, hold{})
			recv(t, me.rec.entered, "the actor to block")
			for i := range 50 {
				me.sys.Root.Send(me.pid, i)
			}
			f := me.sys.Root.StopFuture(me.pid)
			me.unblock()
			if err := f.Wait(); err != nil {
				t.Fatalf("StopFuture: %v", err)
			}
			me.assertBaseline()
			if _, ok := me.next("hold").(hold); !ok {
				t.Fatal("first user message is not hold")
			}
			assertNoDrained(t, me, false) // checks that Stopping and Stopped come next, and nothing else
		})
	}
}

// TestMailboxChildren runs a parent and children all on NewMailbox mailboxes: stopping the parent
// stops the children and the registry returns to the baseline.
func TestMailboxChildren(t *testing.T) {
	e := newEnv(t, 2, 64, 300)
	childStopped := make(chan struct{}, 16)
	childProps := actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(*actor.Stopped); ok {
			childStopped <- struct{}{}
		}
	}, actor.WithMailbox(mailbox.NewMailbox(true)), actor.WithDispatcher(e.pool))
	spawned := make(chan int, 1)
	parent := e.sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if n, ok := c.Message().(int); ok {
			for range n {
				c.Spawn(childProps)
			}
			spawned <- len(c.Children())
		}
	}, actor.WithMailbox(mailbox.NewMailbox(true)), actor.WithDispatcher(e.pool)))
	e.sys.Root.Send(parent, 8)
	if got := recv(t, spawned, "children"); got != 8 {
		t.Fatalf("parent has %d children, want 8", got)
	}
	if err := e.sys.Root.StopFuture(parent).Wait(); err != nil {
		t.Fatalf("StopFuture: %v", err)
	}
	for range 8 {
		recv(t, childStopped, "children to stop")
	}
	e.assertBaseline()
}

// TestMailboxNilMessage sends a nil user message: the actor must not wedge.
func TestMailboxNilMessage(t *testing.T) {
	me := newMailboxEnv(t, false, 1, 4, 300)
	me.sys.Root.Send(me.pid, nil)
	me.sys.Root.Send(me.pid, "after")
	for {
		if msg := me.next("the message after nil"); msg == "after" {
			break
		}
	}
	me.stop()
}

// zeroThroughput is a dispatcher that reports a throughput of 0, as protoactor's own
// actor.NewDefaultDispatcher(0) does; protoactor's mailbox copes with it. Once off, it drops what
// it is given, so that a spinning mailbox stops.
type zeroThroughput struct {
	pool *mailbox.Pool
	off  atomic.Bool
}

func (d *zeroThroughput) Schedule(fn func()) {
	if !d.off.Load() {
		d.pool.Schedule(fn)
	}
}

func (d *zeroThroughput) Throughput() int { return 0 }

// TestZeroThroughputDispatcher runs a NewMailbox actor and a Light on a dispatcher whose
// Throughput is 0: both must still process messages.
func TestZeroThroughputDispatcher(t *testing.T) {
	e := newEnv(t, 1, 16, 300)
	d := &zeroThroughput{pool: e.pool}
	t.Cleanup(func() { d.off.Store(true) }) // runs before e.close

	rec := newRecorder()
	pid := e.sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return rec },
		actor.WithMailbox(mailbox.NewMailbox(false)), actor.WithDispatcher(d)))
	if _, ok := recv(t, rec.out, "Started").(*actor.Started); !ok {
		t.Fatal("first message is not *actor.Started")
	}
	if err := e.sys.Root.StopFuture(pid).Wait(); err != nil {
		t.Fatal(err)
	}

	r := newLightRec(16)
	l := mailbox.Spawn(e.reg, d, nil, "zero", r)
	l.Send("a")
	recv(t, r.out, "a")
	l.Stop()
	r.waitStopped(t, "zero")
	e.eventuallyBaseline()
}
