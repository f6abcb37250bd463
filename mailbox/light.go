package mailbox

import (
	"math"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
)

// Handler is the behaviour of a [Light] actor. Receive is called with one message at a time, never
// concurrently, on a dispatcher worker; it must not block. The last message a Light delivers is a
// [*Stopped].
type Handler interface {
	Receive(self *Light, msg any)
}

// Stopped is the last message a [Light] delivers to its handler: after it the actor is out of the
// registry and its children are stopping. Panic is set when the handler panicked, with the
// recovered value and the stack; the handler then gets this message instead of any other.
type Stopped struct {
	Panic any
	Stack []byte
}

// stopped is the Stopped of an orderly stop; it carries no state.
var stopped = &Stopped{}

// Light is a lightweight actor: a process registered in a [Registry] with a PID, a small unbounded
// mailbox processed one message at a time on a dispatcher, and links to its parent and children.
// Stopping a Light stops its children. Messages sent after Stop are dropped quietly, as are
// messages still queued when it stops.
//
// protoactor code can Send to its PID, Stop it and watch it (StopFuture works); other system
// messages are ignored, and messages arrive without their envelope, so a Light cannot Respond.
// The PID and the id string are made the first time someone asks for them.
type Light struct {
	mu        sync.Mutex
	queue     ring
	inline    [2]any
	scheduled bool
	stopping  bool
	held      bool  // SpawnHeld's caller has the first turn
	slot      int32 // the Light's index in its Registry shard plus one; 0: not there (guarded by the shard)
	children  map[*Light]struct{}
	watchers  []*actor.PID // protoactor watchers (StopFuture) to tell when it finished

	handler  Handler
	dispatch actor.Dispatcher
	registry *Registry
	num      uint64
	prefix   string
	pid      atomic.Pointer[actor.PID]
	parent   *Light
	process  func()
	alive    atomic.Bool
}

// Spawn registers a new Light in r, with the id prefix$N (parent's id, "/", prefix$N for a child),
// and returns it, ready to receive. With a parent that is stopping, the child is stopped at once.
func Spawn(r *Registry, d actor.Dispatcher, parent *Light, prefix string, h Handler) *Light {
	return spawn(new(Light), r, d, parent, prefix, h, false)
}

// SpawnHeld is [Spawn] for an actor whose first turn the caller takes: it runs the actor's start
// in its own goroutine, as if it were a message, while messages sent meanwhile queue behind it.
// The caller must call [Light.Release] when that first turn is over. It saves a start message and
// a dispatcher hop on the path of every call.
func SpawnHeld(r *Registry, d actor.Dispatcher, parent *Light, prefix string, h Handler) *Light {
	return spawn(new(Light), r, d, parent, prefix, h, true)
}

// SpawnHeldIn is [SpawnHeld] that makes the actor in l, which must be a zero Light: an owner that
// holds its Light inline saves an allocation. A Light that was spawned may be zeroed and spawned
// again only once it is [Light.Reusable] and its owner knows that nothing else holds it.
func SpawnHeldIn(l *Light, r *Registry, d actor.Dispatcher, parent *Light, prefix string, h Handler) *Light {
	if l.registry != nil {
		panic("mailbox: SpawnHeldIn with a Light that was spawned before")
	}
	return spawn(l, r, d, parent, prefix, h, true)
}

// SpawnOwnedIn is [SpawnHeldIn] for an actor whose every turn runs on its owner's goroutine,
// which waits for the actor in [Light.RunTurns] once the first turn is over: a message that
// finds the actor idle, sent with Send or SendInline from any goroutine, signals turns (a
// channel with room for one value, empty and used by nothing else while the actor lives) and
// leaves the turn to the owner. A synchronous call's goroutine waits anyway for the answer
// another goroutine reads: so the reader only hands the answer over, and the caller, once
// woken, handles it itself, while the reader goes on to the next answer.
func SpawnOwnedIn(l *Light, r *Registry, turns chan struct{}, parent *Light, prefix string, h Handler) *Light {
	return SpawnHeldIn(l, r, ownerTurns(turns), parent, prefix, h)
}

// ownerTurns is the dispatcher of an owned Light: scheduling a turn signals the owner.
type ownerTurns chan struct{}

// Schedule signals the owner that a turn is due. One turn is due at a time, and a signal still
// pending already covers it: a turn runs every message queued.
func (t ownerTurns) Schedule(func()) {
	select {
	case t <- struct{}{}:
	default:
	}
}

// Throughput is unbounded: the owner's goroutine is the actor's own, with no other actor to
// give way to.
func (t ownerTurns) Throughput() int { return math.MaxInt32 }

// RunTurns runs the turns of an actor made by [SpawnOwnedIn] on the calling goroutine, its
// owner's, as turns signals them, until the actor stopped. The owner calls it after
// [Light.Release].
func (l *Light) RunTurns(turns <-chan struct{}) {
	for l.alive.Load() {
		<-turns
		l.run()
	}
}

func spawn(l *Light, r *Registry, d actor.Dispatcher, parent *Light, prefix string, h Handler, held bool) *Light {
	l.handler, l.dispatch, l.registry, l.prefix, l.parent = h, d, r, prefix, parent
	l.scheduled, l.held = held, held
	l.queue.buf = l.inline[:]
	l.alive.Store(true)
	r.add(l)
	if parent != nil && !parent.adopt(l) {
		l.Stop()
	}
	return l
}

// makeID builds the actor's id: its parent's id, "/", prefix, "$" and its number.
func (l *Light) makeID() string {
	var buf [96]byte
	b := buf[:0]
	if l.parent != nil {
		b = append(b, l.parent.ID()...)
		b = append(b, '/')
	}
	b = append(b, l.prefix...)
	b = appendID(b, l.num)
	return string(b)
}

func (l *Light) adopt(child *Light) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopping {
		return false
	}
	if l.children == nil {
		l.children = make(map[*Light]struct{}, 4)
	}
	l.children[child] = struct{}{}
	return true
}

func (l *Light) orphan(child *Light) {
	l.mu.Lock()
	delete(l.children, child)
	l.mu.Unlock()
}

// Release ends the first turn taken by [SpawnHeld]'s caller and processes what queued meanwhile,
// on the caller's goroutine: a call whose answer came back during its first turn finishes
// without a hand-off to a worker.
func (l *Light) Release() {
	l.mu.Lock()
	if !l.held {
		l.mu.Unlock()
		panic("mailbox: Release of a Light that is not held (Release called twice, or after Spawn)")
	}
	l.held = false
	if l.queue.size == 0 {
		l.scheduled = false
		l.mu.Unlock()
		return
	}
	l.mu.Unlock()
	l.run() // what arrived during the held turn is still this goroutine's to run: no hand-off
}

// FromProcess returns the Light behind a process protoactor resolved.
func FromProcess(p actor.Process) (*Light, bool) {
	lp, ok := p.(*process)
	return (*Light)(lp), ok
}

// PID returns the actor's process id: the Registry's address and the actor's id.
func (l *Light) PID() *actor.PID {
	if p := l.pid.Load(); p != nil {
		return p
	}
	l.registry.name(l, &actor.PID{Address: l.registry.address, Id: l.makeID()})
	return l.pid.Load()
}

// ID returns the actor's id, such as "call$1f/sub$20". Unlike PID it leaves the actor
// [Light.Reusable]: an id names the actor by its number, which its memory's next actor does not
// share, while a PID may hold the process it resolved to.
func (l *Light) ID() string {
	if p := l.pid.Load(); p != nil {
		return p.Id
	}
	return l.makeID()
}

// Handler returns the actor's behaviour.
func (l *Light) Handler() Handler { return l.handler }

// Parent returns the actor's parent, or nil.
func (l *Light) Parent() *Light { return l.parent }

// Alive reports whether the actor has not finished stopping.
func (l *Light) Alive() bool { return l.alive.Load() }

// Reusable reports whether the actor finished stopping and can no longer be reached through its
// Registry: its last turn is over, it is out of the Registry, and no one ever asked for its PID,
// so no one holds a handle that reaches it. Its owner may then zero it and spawn another actor in its memory, if the
// owner also knows that every pointer it handed out is gone: the Registry's own ([Registry.Each])
// are. A Light whose PID was made is never reusable, since whoever holds the PID could still
// reach it; its ID alone does not count.
func (l *Light) Reusable() bool { return !l.alive.Load() && l.pid.Load() == nil }

// Children returns a snapshot of the actor's live children.
func (l *Light) Children() []*Light {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*Light, 0, len(l.children))
	for c := range l.children {
		out = append(out, c)
	}
	return out
}

// Send queues msg for the actor. It never blocks; after Stop it drops msg, and it drops a nil
// msg, which is no message.
func (l *Light) Send(msg any) {
	if l.enqueue(msg) {
		l.schedule()
	}
}

// Stop drops the queued messages and delivers [*Stopped] as the actor's next and last message.
// It is idempotent and may be called from the actor's own Receive.
func (l *Light) Stop() { l.stopWith(stopped) }

func (l *Light) stopWith(s *Stopped) {
	l.mu.Lock()
	if l.stopping {
		l.mu.Unlock()
		return
	}
	l.stopping = true
	l.queue.clear()
	l.queue.push(s)
	l.scheduleLocked()
}

// SendInline is Send that, when the actor is idle, runs its turn on the calling goroutine
// instead of a dispatcher worker: one goroutine wake-up less. The caller must be able to afford
// the turn's time and must hold no lock the handler might take; the handler never blocks.
//
// An owned actor's turn is left to its owner ([SpawnOwnedIn]).
func (l *Light) SendInline(msg any) {
	if l.enqueue(msg) {
		if _, ok := l.dispatch.(ownerTurns); ok {
			l.schedule()
			return
		}
		l.run()
	}
}

// enqueue queues msg unless it is nil or the actor stops, and reports whether the caller must
// start a turn: the actor was idle, and is now marked scheduled.
func (l *Light) enqueue(msg any) (start bool) {
	if msg == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopping {
		return false
	}
	l.queue.push(msg)
	if l.scheduled {
		return false
	}
	l.scheduled = true
	return true
}

func (l *Light) scheduleLocked() {
	if l.scheduled {
		l.mu.Unlock()
		return
	}
	l.scheduled = true
	l.mu.Unlock()
	l.schedule()
}

// schedule hands the actor's next turn to the dispatcher. Only the goroutine that holds the
// turn (it set scheduled) calls it, so process needs no lock; it is made on first use, since
// the turns of most calls run inline and never need it, and a Pool or an owner needs none.
func (l *Light) schedule() {
	switch d := l.dispatch.(type) {
	case *Pool:
		d.schedule(l)
		return
	case ownerTurns:
		d.Schedule(nil) // the owner runs l.run itself: no process func to make
		return
	}
	if l.process == nil {
		l.process = l.run
	}
	l.dispatch.Schedule(l.process)
}

func (l *Light) next() any {
	l.mu.Lock()
	msg, ok := l.queue.pop()
	if !ok {
		l.scheduled = false
	}
	l.mu.Unlock()
	return msg
}

func (l *Light) run() {
	limit := max(l.dispatch.Throughput(), 1)
	for range limit {
		msg := l.next()
		if msg == nil {
			return
		}
		if s, ok := msg.(*Stopped); ok {
			l.finish(s)
			return
		}
		if p := l.invoke(msg); p != nil {
			l.crash(p)
		}
	}
	l.schedule()
}

// invoke runs the handler on msg and returns a panic, if one happened.
func (l *Light) invoke(msg any) (p *Stopped) {
	defer func() {
		if r := recover(); r != nil {
			p = &Stopped{Panic: r, Stack: debug.Stack()}
		}
	}()
	l.handler.Receive(l, msg)
	return nil
}

// crash turns a handler panic into a stop whose Stopped carries the panic, replacing an orderly
// stop that may already be queued.
func (l *Light) crash(p *Stopped) {
	l.mu.Lock()
	l.stopping = true
	l.queue.clear()
	l.queue.push(p)
	l.mu.Unlock() // still scheduled: the running loop picks it up
}

func (l *Light) finish(s *Stopped) {
	// A panic while handling Stopped has nowhere left to go: the stop completes regardless.
	_ = l.invoke(s)
	l.mu.Lock()
	children, watchers := l.children, l.watchers
	l.children, l.watchers = nil, nil
	l.mu.Unlock()
	l.registry.remove(l)
	for c := range children {
		c.Stop()
	}
	if l.parent != nil {
		l.parent.orphan(l)
	}
	l.alive.Store(false)
	for _, w := range watchers {
		l.terminated(w)
	}
}

// watch records a protoactor watcher, or answers at once when the actor already finished.
func (l *Light) watch(w *actor.PID) {
	l.mu.Lock()
	if l.alive.Load() {
		l.watchers = append(l.watchers, w)
		l.mu.Unlock()
		return
	}
	l.mu.Unlock()
	l.terminated(w)
}

func (l *Light) unwatch(w *actor.PID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, p := range l.watchers {
		if p.Equal(w) {
			l.watchers = append(l.watchers[:i], l.watchers[i+1:]...)
			return
		}
	}
}

// terminated tells watcher w that the actor is gone, as protoactor's Terminated does.
func (l *Light) terminated(w *actor.PID) {
	if p, ok := l.registry.sys.ProcessRegistry.Get(w); ok {
		p.SendSystemMessage(w, &actor.Terminated{Who: l.PID(), Why: actor.TerminatedReason_Stopped})
	}
}

// process is a Light seen as a protoactor actor.Process.
type process Light

// SendUserMessage queues msg, unwrapped from its envelope.
func (p *process) SendUserMessage(_ *actor.PID, msg any) {
	if env, ok := msg.(*actor.MessageEnvelope); ok {
		msg = env.Message
	}
	(*Light)(p).Send(msg)
}

// SendSystemMessage stops the actor on *actor.Stop, records or drops a watcher on *actor.Watch
// and *actor.Unwatch (so protoactor's StopFuture works), and ignores anything else.
func (p *process) SendSystemMessage(_ *actor.PID, msg any) {
	switch m := msg.(type) {
	case *actor.Stop:
		(*Light)(p).Stop()
	case *actor.Watch:
		(*Light)(p).watch(m.Watcher)
	case *actor.Unwatch:
		(*Light)(p).unwatch(m.Watcher)
	}
}

// Stop stops the actor.
func (p *process) Stop(*actor.PID) { (*Light)(p).Stop() }

var _ actor.Process = (*process)(nil)
