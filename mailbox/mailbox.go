package mailbox

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
)

// Drained is delivered to an actor whose mailbox was made with [NewMailbox](true) each time the
// actor has processed every message queued so far. It arrives inside the actor's own turn, so the
// actor can act on it (flush a buffered write, say) without a lock.
type Drained struct{}

// NotInfluenceReceiveTimeout marks Drained as bookkeeping, not activity.
func (*Drained) NotInfluenceReceiveTimeout() {}

// drained is the one Drained value; it carries no state.
var drained = &Drained{}

// NewMailbox returns a protoactor mailbox producer: an unbounded queue processed on the actor's
// dispatcher that runs system messages before user messages, like protoactor's own, and, when
// notifyDrained is true, delivers a [*Drained] after each burst of user messages.
func NewMailbox(notifyDrained bool) actor.MailboxProducer {
	return func() actor.Mailbox { return &queueMailbox{notifyDrained: notifyDrained} }
}

// NewInlineMailbox is [NewMailbox] whose actor, when a message for which inline reports true
// finds it idle, takes its turn on the sender's goroutine instead of a dispatcher worker: one
// goroutine wake-up less per message. Use it for an actor whose turns never block, with senders
// that hold no lock the actor's turn might take and can afford the turn's time. The mailbox
// yields once before Drained only when busy reports that more messages are likely to come
// (senders that were just answered are about to send again, say); a lone message is followed by Drained at once, since a yield
// costs the waking of another thread.
//
// A non-nil door gives the actor's owner a way to close the mailbox to some messages ([Door]).
func NewInlineMailbox(notifyDrained bool, inline func(msg any) bool, busy func() bool, door *Door) actor.MailboxProducer {
	return func() actor.Mailbox {
		m := &queueMailbox{notifyDrained: notifyDrained, inline: inline, busy: busy}
		if door != nil {
			door.m.Store(m)
		}
		return m
	}
}

// Door closes a mailbox made by [NewInlineMailbox] to some messages, for an actor that retires:
// a message posted after Close that refuse takes is handed to refuse instead of being queued,
// so its sender can be told at once; the actor still receives every message queued before, and
// every message refuse declines.
type Door struct {
	m atomic.Pointer[queueMailbox]
}

// Close queues final as the last message before the door closes and hands every later message
// to refuse, which reports whether it took it. refuse runs on the sender's goroutine and must
// not post to this mailbox. Close must be called once, after the actor started.
func (d *Door) Close(final any, refuse func(msg any) bool) {
	m := d.m.Load()
	m.mu.Lock()
	m.refuse = refuse
	m.user.push(final)
	m.scheduleLocked()
}

type queueMailbox struct {
	mu            sync.Mutex
	user, system  ring
	scheduled     bool
	suspended     bool
	owesDrained   bool // a user message was processed since the last Drained
	yielded       bool // the drain was already deferred once for other goroutines
	notifyDrained bool
	invoker       actor.MessageInvoker
	dispatcher    actor.Dispatcher
	process       func()
	inline        func(msg any) bool // messages whose sender takes an idle actor's turn
	busy          func() bool        // whether to yield before Drained; nil: always
	refuse        func(msg any) bool // set by Door.Close: takes the messages it refuses
}

func (m *queueMailbox) PostUserMessage(msg any) {
	if msg == nil {
		return // no message: queued, it would read as an empty queue
	}
	m.mu.Lock()
	if refuse := m.refuse; refuse != nil {
		m.mu.Unlock()
		if refuse(msg) {
			return
		}
		m.mu.Lock()
	}
	m.user.push(msg)
	if m.inline == nil || m.scheduled || !m.inline(msg) {
		m.scheduleLocked()
		return
	}
	m.scheduled = true
	m.mu.Unlock()
	m.run()
}

func (m *queueMailbox) PostSystemMessage(msg any) {
	m.mu.Lock()
	m.system.push(msg)
	m.scheduleLocked()
}

// scheduleLocked schedules an activation unless one is pending, and unlocks m.mu.
func (m *queueMailbox) scheduleLocked() {
	if m.scheduled {
		m.mu.Unlock()
		return
	}
	m.scheduled = true
	m.mu.Unlock()
	m.dispatcher.Schedule(m.process)
}

func (m *queueMailbox) RegisterHandlers(invoker actor.MessageInvoker, dispatcher actor.Dispatcher) {
	m.invoker, m.dispatcher = invoker, dispatcher
	m.process = m.run
}

func (m *queueMailbox) Start() {}

func (m *queueMailbox) UserMessageCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.user.size
}

// next returns the next message to process, or nil after marking the mailbox idle. Before it
// delivers Drained it yields the worker once, so that goroutines ready to run can post more
// messages first: a socket actor then writes more frames per syscall.
func (m *queueMailbox) next() (msg any, system bool) {
	m.mu.Lock()
	for {
		if msg, ok := m.system.pop(); ok {
			m.mu.Unlock()
			return msg, true
		}
		if m.suspended {
			break
		}
		if msg, ok := m.user.pop(); ok {
			m.owesDrained, m.yielded = m.notifyDrained, false
			m.mu.Unlock()
			return msg, false
		}
		if !m.owesDrained {
			break
		}
		if !m.yielded && (m.busy == nil || m.busy()) {
			m.yielded = true
			m.mu.Unlock()
			runtime.Gosched()
			m.mu.Lock()
			continue
		}
		m.owesDrained, m.yielded = false, false
		m.mu.Unlock()
		return drained, false
	}
	m.scheduled = false
	m.mu.Unlock()
	return nil, false
}

func (m *queueMailbox) run() {
	var msg any
	defer func() {
		if r := recover(); r != nil {
			m.invoker.EscalateFailure(r, msg)
			m.rescheduleAfterPanic()
		}
	}()
	limit := max(m.dispatcher.Throughput(), 1)
	for i := 0; ; i++ {
		if i == limit {
			m.dispatcher.Schedule(m.process) // yield the worker; still scheduled
			return
		}
		var system bool
		msg, system = m.next()
		switch {
		case msg == nil:
			return
		case system:
			m.invokeSystem(msg)
		default:
			m.invoker.InvokeUserMessage(msg)
		}
	}
}

func (m *queueMailbox) invokeSystem(msg any) {
	switch msg.(type) {
	case *actor.SuspendMailbox:
		m.setSuspended(true)
	case *actor.ResumeMailbox:
		m.setSuspended(false)
	default:
		m.invoker.InvokeSystemMessage(msg)
	}
}

func (m *queueMailbox) setSuspended(s bool) {
	m.mu.Lock()
	m.suspended = s
	m.mu.Unlock()
}

// rescheduleAfterPanic leaves the activation a panic ended: the mailbox goes idle, or is scheduled
// again when messages (such as the supervisor's) are waiting.
func (m *queueMailbox) rescheduleAfterPanic() {
	m.mu.Lock()
	m.scheduled = false
	if m.system.size == 0 && m.user.size == 0 {
		m.mu.Unlock()
		return
	}
	m.scheduleLocked()
}
