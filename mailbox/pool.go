package mailbox

import (
	"sync"
)

// Pool is an actor.Dispatcher that runs mailbox activations on a fixed set of worker goroutines.
// Schedule never blocks: when the queue is full the activation runs on a new goroutine, which the
// pool tracks like its workers. The zero value is not usable; use [NewPool].
type Pool struct {
	work       chan func()
	done       chan struct{}
	wg         sync.WaitGroup
	throughput int
	closeOnce  sync.Once
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
	p := &Pool{work: make(chan func(), queue), done: make(chan struct{}), throughput: throughput}
	for range workers {
		p.wg.Go(p.worker)
	}
	return p
}

func (p *Pool) worker() {
	for {
		select {
		case fn := <-p.work:
			fn()
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
		case fn := <-p.work:
			fn()
		default:
			return
		}
	}
}

// Schedule runs fn on a worker, or on a tracked goroutine of its own when every worker is busy
// and the queue is full. After Close it runs fn on a tracked goroutine, so that a late message is
// still processed and nothing is lost.
func (p *Pool) Schedule(fn func()) {
	select {
	case <-p.done:
		p.wg.Go(fn)
		return
	default:
	}
	select {
	case p.work <- fn:
	default:
		p.wg.Go(fn)
	}
}

// Throughput returns how many messages a mailbox processes before it yields its worker.
func (p *Pool) Throughput() int { return p.throughput }

// Close stops the workers once the queue is empty and waits for every goroutine the pool started.
// Stop the actors that use the pool first. Close is idempotent.
func (p *Pool) Close() {
	p.closeOnce.Do(func() { close(p.done) })
	p.wg.Wait()
}
