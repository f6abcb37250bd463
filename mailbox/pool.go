package mailbox

import (
	"sync"
)

// Pool is an actor.Dispatcher that runs mailbox activations on a fixed set of worker goroutines.
// Schedule never blocks: when the queue is full the activation runs on a new goroutine, which the
// pool tracks like its workers. The zero value is not usable; use [NewPool].
type Pool struct {
	work       chan task
	done       chan struct{}
	throughput int

	mu     sync.RWMutex // Schedule holds it shared while it queues; Close exclusively to close
	closed bool

	count   sync.Mutex // guards running
	idle    *sync.Cond // signalled when running drops to 0
	running int        // goroutines started by the pool and not yet returned
}

// DefaultWorkers and DefaultQueue are the pool size troupe uses, measured best on a 2-core machine:
// more workers than cores so that one slow activation does not idle a core.
const (
	DefaultWorkers    = 4
	DefaultQueue      = 1024
	DefaultThroughput = 300
)

// NewPool starts a pool of workers goroutines sharing a queue of queue activations. Each mailbox
// processes at most throughput messages per activation before it yields its worker.
func NewPool(workers, queue, throughput int) *Pool {
	if workers <= 0 {
		workers = DefaultWorkers
	}
	if queue <= 0 {
		queue = DefaultQueue
	}
	if throughput <= 0 {
		throughput = DefaultThroughput
	}
	p := &Pool{work: make(chan task, queue), done: make(chan struct{}), throughput: throughput}
	p.idle = sync.NewCond(&p.count)
	for range workers {
		p.spawn(p.worker)
	}
	return p
}

// spawn runs fn on a new goroutine that Close waits for.
func (p *Pool) spawn(fn func()) {
	p.count.Lock()
	p.running++
	p.count.Unlock()
	go func() {
		defer p.exited()
		fn()
	}()
}

func (p *Pool) exited() {
	p.count.Lock()
	p.running--
	if p.running == 0 {
		p.idle.Broadcast()
	}
	p.count.Unlock()
}

func (p *Pool) worker() {
	for {
		select {
		case t := <-p.work:
			t.run()
		case <-p.done:
			p.drain()
			return
		}
	}
}

// drain runs whatever is still queued once the pool is closing.
func (p *Pool) drain() {
	for {
		select {
		case t := <-p.work:
			t.run()
		default:
			return
		}
	}
}

// Schedule runs fn on a worker, or on a tracked goroutine of its own when every worker is busy
// and the queue is full. After Close it runs fn on a tracked goroutine, so that a late message is
// still processed and nothing is lost.
func (p *Pool) Schedule(fn func()) { p.schedule(funcTask(fn)) }

// task is what a worker runs: a scheduled func, or a Light's turn, which needs no func value
// made for it.
type task interface{ run() }

type funcTask func()

func (f funcTask) run() { f() }

func (p *Pool) schedule(t task) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		p.spawn(t.run)
		return
	}
	select {
	case p.work <- t:
	default:
		p.spawn(t.run)
	}
}

// Throughput returns how many messages a mailbox processes before it yields its worker.
func (p *Pool) Throughput() int { return p.throughput }

// Close stops the workers once the queue is empty and waits for every goroutine the pool started,
// including those started by a Schedule that raced with it. Stop the actors that use the pool
// first. Close is idempotent.
func (p *Pool) Close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.done)
	}
	p.mu.Unlock()
	p.count.Lock()
	for p.running > 0 {
		p.idle.Wait()
	}
	p.count.Unlock()
}
