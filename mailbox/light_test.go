package mailbox_test

import (
	"bytes"
	"fmt"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/troupe-rpc/troupe/mailbox"
)

// handlerFunc adapts a function to mailbox.Handler.
type handlerFunc func(l *mailbox.Light, msg any)

func (f handlerFunc) Receive(l *mailbox.Light, msg any) { f(l, msg) }

// lightRec is a Handler that records every message, forwards it to out, reports overlapping
// Receive calls, and runs on (if set) after recording.
type lightRec struct {
	mu      sync.Mutex
	msgs    []any
	out     chan any
	stopped chan *mailbox.Stopped
	in      atomic.Int32
	overlap atomic.Bool
	on      func(l *mailbox.Light, msg any)
}

func newLightRec(capacity int) *lightRec {
	return &lightRec{out: make(chan any, capacity), stopped: make(chan *mailbox.Stopped, 4)}
}

func (r *lightRec) Receive(l *mailbox.Light, msg any) {
	if r.in.Add(1) != 1 {
		r.overlap.Store(true)
	}
	defer r.in.Add(-1)
	r.mu.Lock()
	r.msgs = append(r.msgs, msg)
	r.mu.Unlock()
	if s, ok := msg.(*mailbox.Stopped); ok {
		r.stopped <- s
	} else {
		select {
		case r.out <- msg:
		default:
			panic("lightRec: out is full")
		}
	}
	if r.on != nil {
		r.on(l, msg)
	}
}

// messages returns a copy of what the handler received.
func (r *lightRec) messages() []any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

// waitStopped waits for the handler to receive its Stopped.
func (r *lightRec) waitStopped(t testing.TB, what string) *mailbox.Stopped {
	t.Helper()
	return recv(t, r.stopped, "Stopped of "+what)
}

// checkFinal checks, once the pool is closed, that the handler received want followed by exactly
// one Stopped, and never two Receive calls at once.
func (r *lightRec) checkFinal(t testing.TB, what string, want ...any) *mailbox.Stopped {
	t.Helper()
	if r.overlap.Load() {
		t.Errorf("%s: Receive ran concurrently with itself", what)
	}
	msgs := r.messages()
	if len(msgs) == 0 {
		t.Fatalf("%s: received nothing, want %v then Stopped", what, want)
	}
	s, ok := msgs[len(msgs)-1].(*mailbox.Stopped)
	if !ok {
		t.Fatalf("%s: last message is %T %v, want *mailbox.Stopped (all: %v)", what, msgs[len(msgs)-1], msgs[len(msgs)-1], msgs)
	}
	if !slices.Equal(msgs[:len(msgs)-1], want) {
		t.Fatalf("%s: received %v before Stopped, want %v", what, msgs[:len(msgs)-1], want)
	}
	return s
}

// flushPool waits until a 1-worker pool has run everything scheduled before the call.
func flushPool(t testing.TB, p *mailbox.Pool) {
	t.Helper()
	done := make(chan struct{})
	p.Schedule(func() { close(done) })
	waitClosed(t, done, "the pool to run a marker")
}

func TestLightSpawnRegisters(t *testing.T) {
	e := newEnv(t, 0, 0, 0)
	r := newLightRec(16)
	l := mailbox.Spawn(e.reg, e.pool, nil, "solo", r)

	p, ok := e.sys.ProcessRegistry.Get(l.PID())
	if !ok {
		t.Fatalf("registry has no process for %s", l.ID())
	}
	got, ok := mailbox.FromProcess(p)
	if !ok || got != l {
		t.Fatalf("FromProcess(registry entry) = %p, %v; want %p, true", got, ok, l)
	}
	if got, ok := mailbox.FromProcess(e.sys.DeadLetter); ok || got != nil {
		t.Errorf("FromProcess(deadletter) = %p, %v; want nil, false", got, ok)
	}
	if l.Handler() != r || l.Parent() != nil || !l.Alive() {
		t.Errorf("Handler() = %v, Parent() = %v, Alive() = %v", l.Handler(), l.Parent(), l.Alive())
	}
	if l.ID() != l.PID().Id || l.PID().Address != e.reg.Address() {
		t.Errorf("ID() = %q, PID() = %v, registry address %q", l.ID(), l.PID(), e.reg.Address())
	}
	if !regexp.MustCompile(`^solo\$[0-9a-zA-Z~+]+$`).MatchString(l.ID()) {
		t.Errorf("ID() = %q, want solo$<n>", l.ID())
	}
	if n := e.reg.Len(); n != 1 {
		t.Errorf("light registry holds %d actors, want 1", n)
	}
	if len(l.Children()) != 0 {
		t.Errorf("Children() = %v, want none", l.Children())
	}

	l.Stop()
	r.waitStopped(t, "solo")
	eventually(t, "Alive() false", func() bool { return !l.Alive() })
	e.assertBaseline()
	if _, ok := e.sys.ProcessRegistry.Get(l.PID()); ok {
		t.Error("registry still finds the stopped Light")
	}
	e.close()
	r.checkFinal(t, "solo")
}

// sendVia sends msg to l by one of five routes, chosen by route.
func sendVia(sys *actor.ActorSystem, l *mailbox.Light, route int, msg any) {
	switch route % 5 {
	case 0:
		l.Send(msg)
	case 1:
		sys.Root.Send(l.PID(), msg)
	case 2:
		sys.Root.Request(l.PID(), msg)
	case 3:
		sys.Root.RequestWithCustomSender(l.PID(), msg, nil) // wraps msg in a *actor.MessageEnvelope
	case 4:
		sys.Root.Send(l.PID(), &actor.MessageEnvelope{Message: msg, Sender: l.PID()})
	}
}

func TestLightFIFOAllRoutes(t *testing.T) {
	for _, shape := range poolShapes {
		t.Run(shape.name, func(t *testing.T) {
			e := newEnv(t, shape.workers, shape.queue, shape.throughput)
			const n = 10_000
			r := newLightRec(n + 16)
			l := mailbox.Spawn(e.reg, e.pool, nil, "fifo", r)
			for i := range n {
				sendVia(e.sys, l, i, i)
			}
			for i := range n {
				if got := recv(t, r.out, "messages"); got != i {
					t.Fatalf("message %d: got %T %v", i, got, got)
				}
			}
			l.Stop()
			r.waitStopped(t, "fifo")
			e.eventuallyBaseline()
			e.close()
			if r.overlap.Load() {
				t.Error("Receive ran concurrently with itself")
			}
		})
	}
}

// TestLightConcurrentSenders has 8 goroutines send 10 000 messages each by every route: each
// sender's messages arrive in order and Receive never runs concurrently with itself.
func TestLightConcurrentSenders(t *testing.T) {
	for _, shape := range poolShapes {
		t.Run(shape.name, func(t *testing.T) {
			e := newEnv(t, shape.workers, shape.queue, shape.throughput)
			const senders, n = 8, 10_000
			var in atomic.Int32
			var overlap atomic.Bool
			next := make([]int, senders) // touched by the handler only
			bad := make(chan string, 1)
			done := make(chan struct{})
			total := 0
			stopped := make(chan *mailbox.Stopped, 2)
			l := mailbox.Spawn(e.reg, e.pool, nil, "conc", handlerFunc(func(_ *mailbox.Light, msg any) {
				if in.Add(1) != 1 {
					overlap.Store(true)
				}
				defer in.Add(-1)
				switch m := msg.(type) {
				case [2]int:
					if m[1] != next[m[0]] {
						select {
						case bad <- fmt.Sprintf("sender %d: got %d, want %d", m[0], m[1], next[m[0]]):
						default:
						}
					}
					next[m[0]] = m[1] + 1
					if total++; total == senders*n {
						close(done)
					}
				case *mailbox.Stopped:
					stopped <- m
				default:
					select {
					case bad <- fmt.Sprintf("unexpected %T", msg):
					default:
					}
				}
			}))
			var wg sync.WaitGroup
			for s := range senders {
				wg.Go(func() {
					for i := range n {
						sendVia(e.sys, l, s+i, [2]int{s, i})
					}
				})
			}
			waitGroup(t, &wg, "senders")
			select {
			case <-done:
			case msg := <-bad:
				t.Fatal(msg)
			case <-recvTimeout():
				t.Fatal("timed out waiting for every message")
			}
			select {
			case msg := <-bad:
				t.Fatal(msg)
			default:
			}
			if overlap.Load() {
				t.Fatal("Receive ran concurrently with itself")
			}
			l.Stop()
			recv(t, stopped, "Stopped")
			e.eventuallyBaseline()
		})
	}
}

func TestLightStop(t *testing.T) {
	e := newEnv(t, 0, 0, 0)
	count, unsubscribe := deadLetters(e.sys)
	defer unsubscribe()
	r := newLightRec(16)
	l := mailbox.Spawn(e.reg, e.pool, nil, "stop", r)
	e.sys.Root.Send(l.PID(), "a") // also caches the process in the PID
	l.Send("b")
	recv(t, r.out, "a")
	recv(t, r.out, "b")

	l.Stop()
	l.Stop()
	l.Send("late")
	e.sys.Root.Send(l.PID(), "late via root")
	r.waitStopped(t, "stop")
	eventually(t, "Alive() false", func() bool { return !l.Alive() })
	e.assertBaseline()

	// After the stop completed: everything is dropped quietly, Stop is a no-op.
	l.Send("later")
	l.Stop()
	e.sys.Root.Send(l.PID(), "later via root")
	e.sys.Root.Request(l.PID(), "later request")
	e.sys.Root.Stop(l.PID())
	if n := count(); n != 0 {
		t.Errorf("%d dead letters after sending to a stopped Light, want 0", n)
	}

	// A PID that never reached the Light resolves through the registry, which no longer has it:
	// protoactor turns the message into a dead letter. Harmless, and the handler sees nothing.
	fresh := actor.NewPID(l.PID().Address, l.ID())
	e.sys.Root.Send(fresh, "to a fresh PID")
	e.sys.Root.Stop(fresh)
	if n := count(); n == 0 {
		t.Error("a fresh PID of a stopped Light still resolved to a process")
	}

	e.close()
	r.checkFinal(t, "stop", "a", "b")
	e.assertBaseline()
}

func TestLightStopFromReceive(t *testing.T) {
	e := newEnv(t, 1, 16, 300)
	r := newLightRec(16)
	r.on = func(l *mailbox.Light, msg any) {
		if msg == "stop" {
			l.Stop()
			l.Stop()
			l.Send("sent to self after Stop")
		}
	}
	l := mailbox.Spawn(e.reg, e.pool, nil, "self", r)
	l.Send("a")
	l.Send("stop")
	l.Send("b") // queued behind stop (then dropped by it) or sent after it (dropped)
	r.waitStopped(t, "self")
	l.Send("c")
	e.eventuallyBaseline()
	e.close()
	r.checkFinal(t, "self", "a", "stop")
}

func TestLightRootStop(t *testing.T) {
	e := newEnv(t, 0, 0, 0)
	r := newLightRec(16)
	l := mailbox.Spawn(e.reg, e.pool, nil, "rootstop", r)
	e.sys.Root.Send(l.PID(), "a")
	recv(t, r.out, "a") // Stop drops what is still queued
	e.sys.Root.Stop(l.PID())
	r.waitStopped(t, "rootstop")
	e.eventuallyBaseline()
	e.sys.Root.Stop(l.PID())
	e.sys.Root.Send(l.PID(), "b")
	e.close()
	r.checkFinal(t, "rootstop", "a")
}

// TestLightStopDropsQueued stops a Light that is busy with queued messages: they are dropped and
// Stopped comes next.
func TestLightStopDropsQueued(t *testing.T) {
	e := newEnv(t, 0, 0, 0)
	release := make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	entered := make(chan struct{})
	r := newLightRec(16)
	r.on = func(_ *mailbox.Light, msg any) {
		if msg == "hold" {
			close(entered)
			<-release // a test may block a handler; real handlers must not
		}
	}
	l := mailbox.Spawn(e.reg, e.pool, nil, "busy", r)
	l.Send("hold")
	waitClosed(t, entered, "the handler to block")
	for i := range 100 {
		l.Send(i)
	}
	l.Stop()
	unblock()
	r.waitStopped(t, "busy")
	e.eventuallyBaseline()
	e.close()
	r.checkFinal(t, "busy", "hold")
}

// TestLightConcurrentStop stops a Light from many goroutines while others send: exactly one
// Stopped, delivered last.
func TestLightConcurrentStop(t *testing.T) {
	for round := range 20 {
		e := newEnv(t, 2, 8, 4)
		r := newLightRec(1 << 14)
		l := mailbox.Spawn(e.reg, e.pool, nil, "race", r)
		var wg sync.WaitGroup
		for s := range 4 {
			wg.Go(func() {
				for i := range 1000 {
					sendVia(e.sys, l, s+i, i)
				}
			})
		}
		for range 8 {
			wg.Go(l.Stop)
		}
		waitGroup(t, &wg, "senders and stoppers")
		r.waitStopped(t, "race")
		e.eventuallyBaseline()
		e.close()
		msgs := r.messages()
		stops := 0
		for _, m := range msgs {
			if _, ok := m.(*mailbox.Stopped); ok {
				stops++
			}
		}
		if _, last := msgs[len(msgs)-1].(*mailbox.Stopped); stops != 1 || !last {
			t.Fatalf("round %d: %d Stopped, last message %T; want exactly one Stopped, last", round, stops, msgs[len(msgs)-1])
		}
		if r.overlap.Load() {
			t.Fatalf("round %d: Receive ran concurrently with itself", round)
		}
	}
}

func TestLightParentChildren(t *testing.T) {
	e := newEnv(t, 0, 0, 0)
	pr := newLightRec(16)
	parent := mailbox.Spawn(e.reg, e.pool, nil, "call", pr)
	var kids []*mailbox.Light
	var kidRecs []*lightRec
	for range 5 {
		r := newLightRec(16)
		kids = append(kids, mailbox.Spawn(e.reg, e.pool, parent, "sub", r))
		kidRecs = append(kidRecs, r)
	}
	var grand []*mailbox.Light
	var grandRecs []*lightRec
	for range 2 {
		r := newLightRec(16)
		grand = append(grand, mailbox.Spawn(e.reg, e.pool, kids[0], "leaf", r))
		grandRecs = append(grandRecs, r)
	}

	if got := sortedIDs(parent.Children()); !slices.Equal(got, sortedIDs(kids)) {
		t.Fatalf("parent.Children() = %v, want %v", got, sortedIDs(kids))
	}
	if got := sortedIDs(kids[0].Children()); !slices.Equal(got, sortedIDs(grand)) {
		t.Fatalf("kids[0].Children() = %v, want %v", got, sortedIDs(grand))
	}
	childID := regexp.MustCompile(`^` + regexp.QuoteMeta(parent.ID()) + `/sub\$[0-9a-zA-Z~+]+$`)
	for _, k := range kids {
		if k.Parent() != parent {
			t.Errorf("%s: Parent() = %v, want the parent", k.ID(), k.Parent())
		}
		if !childID.MatchString(k.ID()) {
			t.Errorf("child id %q, want %s/sub$<n>", k.ID(), parent.ID())
		}
	}
	grandID := regexp.MustCompile(`^` + regexp.QuoteMeta(kids[0].ID()) + `/leaf\$[0-9a-zA-Z~+]+$`)
	for _, g := range grand {
		if !grandID.MatchString(g.ID()) {
			t.Errorf("grandchild id %q, want %s/leaf$<n>", g.ID(), kids[0].ID())
		}
	}
	if n := e.reg.Len(); n != 8 {
		t.Errorf("light registry holds %d actors, want 8", n)
	}

	// A child that stops leaves its parent's Children.
	kids[4].Stop()
	kidRecs[4].waitStopped(t, "kids[4]")
	eventually(t, "kids[4] to finish", func() bool { return !kids[4].Alive() })
	if got := sortedIDs(parent.Children()); !slices.Equal(got, sortedIDs(kids[:4])) {
		t.Fatalf("after kids[4] stopped, parent.Children() = %v, want %v", got, sortedIDs(kids[:4]))
	}
	if n := e.reg.Len(); n != 7 {
		t.Errorf("light registry holds %d actors, want 7", n)
	}

	// Stopping the parent stops every descendant.
	parent.Stop()
	pr.waitStopped(t, "parent")
	for i, r := range kidRecs[:4] {
		r.waitStopped(t, fmt.Sprintf("kids[%d]", i))
	}
	for i, r := range grandRecs {
		r.waitStopped(t, fmt.Sprintf("grand[%d]", i))
	}
	e.eventuallyBaseline()
	all := append(append([]*mailbox.Light{parent}, kids...), grand...)
	eventually(t, "every Light to finish", func() bool {
		return !slices.ContainsFunc(all, (*mailbox.Light).Alive)
	})
	for _, l := range all {
		if len(l.Children()) != 0 {
			t.Errorf("%s: Children() = %v after stopping, want none", l.ID(), sortedIDs(l.Children()))
		}
	}
	e.close()
	pr.checkFinal(t, "parent")
	for i, r := range kidRecs {
		r.checkFinal(t, fmt.Sprintf("kids[%d]", i))
	}
	for i, r := range grandRecs {
		r.checkFinal(t, fmt.Sprintf("grand[%d]", i))
	}
}

func sortedIDs(ls []*mailbox.Light) []string {
	ids := make([]string, len(ls))
	for i, l := range ls {
		ids[i] = l.ID()
	}
	slices.Sort(ids)
	return ids
}

// TestLightSpawnUnderStoppingParent spawns children under a parent that is stopping (held, from
// its own Receive) or stopped: each child is stopped at once and never adopted.
func TestLightSpawnUnderStoppingParent(t *testing.T) {
	e := newEnv(t, 0, 0, 0)

	t.Run("held parent", func(t *testing.T) {
		pr := newLightRec(16)
		parent := mailbox.SpawnHeld(e.reg, e.pool, nil, "held", pr)
		parent.Stop() // stopping; its Stopped waits for Release
		cr := newLightRec(16)
		child := mailbox.Spawn(e.reg, e.pool, parent, "orphan", cr)
		cr.waitStopped(t, "child")
		if len(parent.Children()) != 0 {
			t.Errorf("stopping parent adopted a child: %v", sortedIDs(parent.Children()))
		}
		eventually(t, "child to finish", func() bool { return !child.Alive() })
		parent.Release()
		pr.waitStopped(t, "parent")
		e.eventuallyBaseline()
	})

	t.Run("from Receive", func(t *testing.T) {
		cr := newLightRec(16)
		children := make(chan *mailbox.Light, 1)
		pr := newLightRec(16)
		pr.on = func(self *mailbox.Light, msg any) {
			if msg == "go" {
				self.Stop()
				children <- mailbox.Spawn(e.reg, e.pool, self, "late", cr)
			}
		}
		parent := mailbox.Spawn(e.reg, e.pool, nil, "p", pr)
		parent.Send("go")
		child := recv(t, children, "the child")
		cr.waitStopped(t, "child")
		pr.waitStopped(t, "parent")
		eventually(t, "both to finish", func() bool { return !child.Alive() && !parent.Alive() })
		e.assertBaseline()
	})

	t.Run("stopped parent", func(t *testing.T) {
		pr := newLightRec(16)
		parent := mailbox.Spawn(e.reg, e.pool, nil, "gone", pr)
		parent.Stop()
		pr.waitStopped(t, "parent")
		eventually(t, "parent to finish", func() bool { return !parent.Alive() })
		cr := newLightRec(16)
		child := mailbox.Spawn(e.reg, e.pool, parent, "late", cr)
		cr.waitStopped(t, "child")
		eventually(t, "child to finish", func() bool { return !child.Alive() })
		e.assertBaseline()
	})
}

func TestLightIDs(t *testing.T) {
	e := newEnv(t, 0, 0, 0)
	stopped := make(chan struct{}, 1024)
	h := handlerFunc(func(_ *mailbox.Light, msg any) {
		if _, ok := msg.(*mailbox.Stopped); ok {
			stopped <- struct{}{}
		}
	})
	parent := mailbox.Spawn(e.reg, e.pool, nil, "call", h)
	seen := map[string]bool{parent.ID(): true}
	var prev uint64
	for i := range 500 {
		c := mailbox.Spawn(e.reg, e.pool, parent, "sub", h)
		rest, ok := strings.CutPrefix(c.ID(), parent.ID()+"/sub$")
		if !ok {
			t.Fatalf("child id %q, want prefix %q", c.ID(), parent.ID()+"/sub$")
		}
		n, err := parseBase64ID(rest)
		if err != nil {
			t.Fatalf("child id %q: %v", c.ID(), err)
		}
		if i > 0 && n <= prev {
			t.Fatalf("child id %q: sequence %d not above the previous %d", c.ID(), n, prev)
		}
		prev = n
		if seen[c.ID()] {
			t.Fatalf("duplicate id %q", c.ID())
		}
		seen[c.ID()] = true
	}
	parent.Stop()
	for range 501 {
		recv(t, stopped, "every Light to stop")
	}
	e.eventuallyBaseline()
}

// TestLightIDsDoNotCollideWithProtoactor spawns a Light and then a protoactor actor with the same
// prefix; both draw on the registry's SequenceID.
func TestLightIDsDoNotCollideWithProtoactor(t *testing.T) {
	e := newEnv(t, 0, 0, 0)
	// Let the system hand out a few ids first, as spawns and futures do, so that the Light's
	// sequence number has two digits.
	for range 40 {
		e.sys.ProcessRegistry.NextId()
	}
	stopped := make(chan struct{}, 1)
	l := mailbox.Spawn(e.reg, e.pool, nil, "call", handlerFunc(func(_ *mailbox.Light, msg any) {
		if _, ok := msg.(*mailbox.Stopped); ok {
			stopped <- struct{}{}
		}
	}))
	props := actor.PropsFromFunc(func(actor.Context) {}, actor.WithDispatcher(e.pool))
	var pids []*actor.PID
	for range 200 {
		pid, err := e.sys.Root.SpawnNamed(props, "call"+e.sys.ProcessRegistry.NextId())
		if err != nil {
			t.Errorf("SpawnNamed: %v (Light %s is alive)", err, l.ID())
			break
		}
		pids = append(pids, pid)
	}
	for _, pid := range pids {
		if err := e.sys.Root.StopFuture(pid).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	l.Stop()
	recv(t, stopped, "Stopped")
	e.eventuallyBaseline()
}

func TestLightPanic(t *testing.T) {
	e := newEnv(t, 1, 16, 300)
	type boom struct{ n int }
	value := &boom{42}
	r := newLightRec(16)
	r.on = func(_ *mailbox.Light, msg any) {
		if msg == "boom" {
			panic(value)
		}
	}
	l := mailbox.Spawn(e.reg, e.pool, nil, "crash", r)
	cr := newLightRec(16)
	child := mailbox.Spawn(e.reg, e.pool, l, "child", cr)
	l.Send("a")
	l.Send("boom")
	l.Send("queued behind boom")
	s := r.waitStopped(t, "crash")
	if s.Panic != value {
		t.Fatalf("Stopped.Panic = %v, want %v", s.Panic, value)
	}
	if len(s.Stack) == 0 || !bytes.Contains(s.Stack, []byte("panic(")) {
		t.Fatalf("Stopped.Stack = %q, want the stack of the panic", s.Stack)
	}
	l.Send("after the crash")
	l.Stop()
	cr.waitStopped(t, "child")
	eventually(t, "both to finish", func() bool { return !l.Alive() && !child.Alive() })
	e.assertBaseline()
	e.close()
	r.checkFinal(t, "crash", "a", "boom")
	cr.checkFinal(t, "child")
}

// TestLightPanicAfterStop panics right after calling Stop: the one Stopped carries the panic.
func TestLightPanicAfterStop(t *testing.T) {
	e := newEnv(t, 1, 16, 300)
	r := newLightRec(16)
	r.on = func(l *mailbox.Light, msg any) {
		if msg == "boom" {
			l.Stop()
			panic("after stop")
		}
	}
	l := mailbox.Spawn(e.reg, e.pool, nil, "crash", r)
	l.Send("boom")
	if s := r.waitStopped(t, "crash"); s.Panic != "after stop" || len(s.Stack) == 0 {
		t.Fatalf("Stopped = {Panic: %v, %d-byte Stack}, want the panic", s.Panic, len(s.Stack))
	}
	e.eventuallyBaseline()
	e.close()
	if s := r.checkFinal(t, "crash", "boom"); s.Panic == nil {
		t.Fatal("the last Stopped carries no panic")
	}
}

// TestLightPanicInStopped panics while handling Stopped: the stop completes regardless.
func TestLightPanicInStopped(t *testing.T) {
	e := newEnv(t, 1, 16, 300)
	r := newLightRec(16)
	r.on = func(_ *mailbox.Light, msg any) {
		if _, ok := msg.(*mailbox.Stopped); ok {
			panic("in Stopped")
		}
	}
	l := mailbox.Spawn(e.reg, e.pool, nil, "crash", r)
	cr := newLightRec(16)
	child := mailbox.Spawn(e.reg, e.pool, l, "child", cr)
	l.Stop()
	r.waitStopped(t, "crash")
	cr.waitStopped(t, "child")
	eventually(t, "both to finish", func() bool { return !l.Alive() && !child.Alive() })
	e.assertBaseline()
	e.close()
	r.checkFinal(t, "crash")
}

// TestLightSpawnHeld checks that messages sent before Release wait for it, then run in order.
func TestLightSpawnHeld(t *testing.T) {
	e := newEnv(t, 1, 1024, 300) // one worker: flushPool orders activations
	r := newLightRec(128)
	l := mailbox.SpawnHeld(e.reg, e.pool, nil, "held", r)
	if _, ok := e.sys.ProcessRegistry.Get(l.PID()); !ok {
		t.Fatal("a held Light is not registered")
	}
	for i := range 100 {
		sendVia(e.sys, l, i, i)
	}
	flushPool(t, e.pool)
	if got := r.messages(); len(got) != 0 {
		t.Fatalf("held Light processed %v before Release", got)
	}
	l.Release()
	for i := range 100 {
		if got := recv(t, r.out, "queued messages"); got != i {
			t.Fatalf("message %d: got %v", i, got)
		}
	}
	l.Send("after")
	if got := recv(t, r.out, "a message after Release"); got != "after" {
		t.Fatalf("got %v, want after", got)
	}
	l.Stop()
	r.waitStopped(t, "held")
	e.eventuallyBaseline()
	e.close()
}

func TestLightReleaseEmpty(t *testing.T) {
	e := newEnv(t, 1, 1024, 300)
	r := newLightRec(16)
	l := mailbox.SpawnHeld(e.reg, e.pool, nil, "held", r)
	l.Release()
	flushPool(t, e.pool)
	if got := r.messages(); len(got) != 0 {
		t.Fatalf("Release with an empty queue delivered %v", got)
	}
	l.Send("a")
	e.sys.Root.Send(l.PID(), "b")
	recv(t, r.out, "a")
	recv(t, r.out, "b")
	l.Stop()
	r.waitStopped(t, "held")
	e.eventuallyBaseline()
	e.close()
	r.checkFinal(t, "held", "a", "b")
}

func TestLightStopBeforeRelease(t *testing.T) {
	e := newEnv(t, 1, 1024, 300)
	r := newLightRec(16)
	l := mailbox.SpawnHeld(e.reg, e.pool, nil, "held", r)
	l.Send("dropped by Stop")
	l.Stop()
	l.Send("dropped after Stop")
	flushPool(t, e.pool)
	if got := r.messages(); len(got) != 0 {
		t.Fatalf("a held Light delivered %v before Release", got)
	}
	if !l.Alive() {
		t.Fatal("a held Light finished stopping before Release")
	}
	l.Release()
	r.waitStopped(t, "held")
	eventually(t, "Alive() false", func() bool { return !l.Alive() })
	e.assertBaseline()
	e.close()
	r.checkFinal(t, "held")
}

// TestLightThroughputYield runs a Light on a pool with throughput 1 next to a busy one: both get
// every message, in order.
func TestLightThroughputYield(t *testing.T) {
	e := newEnv(t, 1, 4, 1)
	const n = 2000
	ra, rb := newLightRec(n+16), newLightRec(n+16)
	a := mailbox.Spawn(e.reg, e.pool, nil, "a", ra)
	b := mailbox.Spawn(e.reg, e.pool, nil, "b", rb)
	for i := range n {
		a.Send(i)
		b.Send(i)
	}
	for i := range n {
		if got := recv(t, ra.out, "a's messages"); got != i {
			t.Fatalf("a: message %d: got %v", i, got)
		}
		if got := recv(t, rb.out, "b's messages"); got != i {
			t.Fatalf("b: message %d: got %v", i, got)
		}
	}
	a.Stop()
	b.Stop()
	ra.waitStopped(t, "a")
	rb.waitStopped(t, "b")
	e.eventuallyBaseline()
}

// TestLightNilMessage sends a nil message: the Light must not wedge.
func TestLightNilMessage(t *testing.T) {
	e := newEnv(t, 1, 16, 300)
	r := newLightRec(16)
	l := mailbox.Spawn(e.reg, e.pool, nil, "nil", r)
	l.Send(nil)
	l.Send("after")
	for {
		if got := recv(t, r.out, "the message after nil"); got == "after" {
			break
		}
	}
	l.Stop()
	r.waitStopped(t, "nil")
	e.eventuallyBaseline()
}

// parseBase64ID decodes a registry id number written with protoactor's alphabet.
func parseBase64ID(s string) (uint64, error) {
	const digits = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ~+"
	if s == "" {
		return 0, fmt.Errorf("empty id number")
	}
	var n uint64
	for _, c := range s {
		d := strings.IndexRune(digits, c)
		if d < 0 {
			return 0, fmt.Errorf("%q is not in protoactor's id alphabet", s)
		}
		n = n<<6 | uint64(d)
	}
	return n, nil
}

func TestLightStopFuture(t *testing.T) {
	e := newEnv(t, 0, 0, 0)
	h := handlerFunc(func(*mailbox.Light, any) {})
	l := mailbox.Spawn(e.reg, e.pool, nil, "watched", h)
	if err := e.sys.Root.StopFuture(l.PID()).Wait(); err != nil {
		t.Fatalf("StopFuture(light).Wait() = %v", err)
	}
	if err := e.sys.Root.StopFuture(l.PID()).Wait(); err != nil {
		t.Fatalf("StopFuture(stopped light).Wait() = %v", err)
	}
	e.eventuallyBaseline()
}

func TestLightReleaseTwicePanics(t *testing.T) {
	e := newEnv(t, 0, 0, 0)
	l := mailbox.SpawnHeld(e.reg, e.pool, nil, "held", handlerFunc(func(*mailbox.Light, any) {}))
	l.Release()
	defer func() {
		if recover() == nil {
			t.Error("second Release did not panic")
		}
		l.Stop()
		e.eventuallyBaseline()
	}()
	l.Release()
}

// A Light is reusable once it finished stopping, unless its PID was made: asking for its ID does
// not count, and Registry.Each no longer visits it.
func TestLightReusableOnceStoppedUnlessItsPIDWasMade(t *testing.T) {
	e := newEnv(t, 0, 0, 0)
	for _, makePID := range []bool{false, true} {
		r := newLightRec(4)
		l := mailbox.Spawn(e.reg, e.pool, nil, "reuse", r)
		if id := l.ID(); !strings.HasPrefix(id, "reuse$") {
			t.Errorf("ID() = %q", id)
		}
		if makePID {
			_ = l.PID()
		}
		seen := false
		e.reg.Each(func(x *mailbox.Light) { seen = seen || x == l })
		if !seen || l.Reusable() {
			t.Errorf("live Light: visited by Each %v, Reusable %v; want true, false", seen, l.Reusable())
		}
		l.Stop()
		r.waitStopped(t, "the Light")
		for l.Alive() { // the stop completes just after the handler's Stopped
			runtime.Gosched()
		}
		e.reg.Each(func(x *mailbox.Light) {
			if x == l {
				t.Error("Each visits a stopped Light")
			}
		})
		if got := l.Reusable(); got == makePID {
			t.Errorf("stopped Light, PID made %v: Reusable() = %v", makePID, got)
		}
	}
}

// TestOwnedLightRunsItsTurnsOnItsOwner sends to an owned Light from another goroutine, with Send
// and SendInline: neither runs the turn there; the owner runs both messages in RunTurns, which
// returns once the Light stopped and leaves the turns channel empty for its next Light.
func TestOwnedLightRunsItsTurnsOnItsOwner(t *testing.T) {
	e := newEnv(t, 0, 0, 0)
	turns := make(chan struct{}, 1)
	var handled []any
	stopped := false
	h := handlerFunc(func(l *mailbox.Light, msg any) {
		switch msg.(type) {
		case *mailbox.Stopped:
			stopped = true
		case string:
			handled = append(handled, msg)
			if msg == "last" {
				l.Stop()
			}
		}
	})
	var l mailbox.Light
	mailbox.SpawnOwnedIn(&l, e.reg, turns, nil, "owned", h)
	l.Release()
	sent := make(chan int)
	go func() {
		l.SendInline("first")
		l.Send("last")
		sent <- len(turns) // the handler has run nowhere yet
	}()
	if n := <-sent; n != 1 {
		t.Fatalf("%d turns signalled for two messages sent to an idle Light, want 1", n)
	}
	if len(handled) != 0 {
		t.Fatalf("the senders ran the owned Light's turn: %v", handled)
	}
	l.RunTurns(turns)
	if len(handled) != 2 || handled[0] != "first" || handled[1] != "last" || !stopped {
		t.Fatalf("owner handled %v (stopped %v), want first, last and the stop", handled, stopped)
	}
	if len(turns) != 0 {
		t.Fatal("a turn signal is left after the Light stopped")
	}
	l.Send("dropped") // after the stop: neither queued nor signalled
	if len(turns) != 0 {
		t.Fatal("a message to a stopped owned Light signalled a turn")
	}
	e.eventuallyBaseline()
}
