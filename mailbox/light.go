package mailbox

import (
	"runtime/debug"
	"strconv"
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

// Light is a lightweight actor: a process in the protoactor registry with a PID, a small unbounded
// mailbox processed one message at a time on a dispatcher, and links to its parent and children.
// Stopping a Light stops its children. Messages sent after Stop are dropped quietly, as are
// messages still queued when it stops.
//
// Its registry entry lets protoactor code Send to its PID or Stop it; system messages other than
// Stop are ignored.
type Light struct {
	mu        sync.Mutex
	queue     ring
	inline    [2]any
	scheduled bool
	stopping  bool
	children  map[*Light]struct{}

	handler  Handler
	dispatch actor.Dispatcher
	registry *actor.ProcessRegistryValue
	pid      *actor.PID
	parent   *Light
	process  func()
	alive    atomic.Bool
}

// Spawn registers a new Light under the name prefix$N (parent's id, "/", prefix$N for a child)
// and returns it, ready to receive. With a parent that is stopping, the child is stopped at once.
func Spawn(sys *actor.ActorSystem, d actor.Dispatcher, parent *Light, prefix string, h Handler) *Light {
	return spawn(sys, d, parent, prefix, h, false)
}

// SpawnHeld is [Spawn] for an actor whose first turn the caller takes: it runs the actor's start
// in its own goroutine, as if it were a message, while messages sent meanwhile queue behind it.
// The caller must call [Light.Release] when that first turn is over. It saves a start message and
// a dispatcher hop on the path of every call.
func SpawnHeld(sys *actor.ActorSystem, d actor.Dispatcher, parent *Light, prefix string, h Handler) *Light {
	return spawn(sys, d, parent, prefix, h, true)
}

func spawn(sys *actor.ActorSystem, d actor.Dispatcher, parent *Light, prefix string, h Handler, held bool) *Light {
	l := &Light{handler: h, dispatch: d, registry: sys.ProcessRegistry, parent: parent, scheduled: held}
	l.queue.buf = l.inline[:]
	l.process = l.run
	l.alive.Store(true)
	pid, _ := sys.ProcessRegistry.Add((*process)(l), l.makeID(prefix))
	l.pid = pid
	if parent != nil && !parent.adopt(l) {
		l.Stop()
	}
	return l
}

// makeID builds the registry id with one allocation.
func (l *Light) makeID(prefix string) string {
	var buf [96]byte
	b := buf[:0]
	if l.parent != nil {
		b = append(b, l.parent.pid.Id...)
		b = append(b, '/')
	}
	b = append(b, prefix...)
	b = append(b, '$')
	b = strconv.AppendUint(b, atomic.AddUint64(&l.registry.SequenceID, 1), 36)
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

// Release ends the first turn taken by [SpawnHeld]'s caller and processes what queued meanwhile.
func (l *Light) Release() {
	l.mu.Lock()
	if l.queue.size == 0 {
		l.scheduled = false
		l.mu.Unlock()
		return
	}
	l.mu.Unlock()
	l.dispatch.Schedule(l.process)
}

// FromProcess returns the Light behind a process found in the protoactor registry.
func FromProcess(p actor.Process) (*Light, bool) {
	lp, ok := p.(*process)
	return (*Light)(lp), ok
}

// PID returns the actor's process id.
func (l *Light) PID() *actor.PID { return l.pid }

// ID returns the actor's registry id, such as "call$1f/sub$20".
func (l *Light) ID() string { return l.pid.Id }

// Handler returns the actor's behaviour.
func (l *Light) Handler() Handler { return l.handler }

// Parent returns the actor's parent, or nil.
func (l *Light) Parent() *Light { return l.parent }

// Alive reports whether the actor has not finished stopping.
func (l *Light) Alive() bool { return l.alive.Load() }

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

// Send queues msg for the actor. It never blocks; after Stop it drops msg.
func (l *Light) Send(msg any) {
	l.mu.Lock()
	if l.stopping {
		l.mu.Unlock()
		return
	}
	l.queue.push(msg)
	l.scheduleLocked()
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

func (l *Light) scheduleLocked() {
	if l.scheduled {
		l.mu.Unlock()
		return
	}
	l.scheduled = true
	l.mu.Unlock()
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
	limit := l.dispatch.Throughput()
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
	l.dispatch.Schedule(l.process)
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
	children := l.children
	l.children = nil
	l.mu.Unlock()
	l.registry.Remove(l.pid)
	for c := range children {
		c.Stop()
	}
	if l.parent != nil {
		l.parent.orphan(l)
	}
	l.alive.Store(false)
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

// SendSystemMessage stops the actor on *actor.Stop and ignores anything else.
func (p *process) SendSystemMessage(_ *actor.PID, msg any) {
	if _, ok := msg.(*actor.Stop); ok {
		(*Light)(p).Stop()
	}
}

// Stop stops the actor.
func (p *process) Stop(*actor.PID) { (*Light)(p).Stop() }

var _ actor.Process = (*process)(nil)
