package actors

import (
	"sync"
	"time"

	"github.com/troupe-rpc/troupe/wire"
)

// serverTask is one request for a worker to handle.
type serverTask struct {
	sc   *serverConn
	f    *wire.Frame
	m    *method
	name string
	// deadline is when the request's timeout_ms runs out, counted from when it was read; zero:
	// it has none.
	deadline time.Time
}

// workerIdle is how long a request goroutine waits for the next request before it exits.
const workerIdle = 2 * time.Second

// workerPool runs each request on a goroutine of its own, reusing goroutines that finished a
// request and wait for the next one: a warm goroutine has its stack grown already, which a fresh
// goroutine per request pays for again on every request.
type workerPool struct {
	tasks chan serverTask
	quit  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
}

func newWorkerPool() workerPool {
	return workerPool{tasks: make(chan serverTask), quit: make(chan struct{})}
}

// run hands t to an idle worker, or starts a new one.
func (p *workerPool) run(t serverTask) {
	select {
	case p.tasks <- t:
	default:
		p.wg.Go(func() { p.work(t) })
	}
}

func (p *workerPool) work(t serverTask) {
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		t.sc.handle(t.f, t.m, t.name, t.deadline, false, time.Now())
		idle.Reset(workerIdle)
		select {
		case t = <-p.tasks:
		case <-idle.C:
			return
		case <-p.quit:
			return
		}
	}
}

// close tells idle workers to exit and, when wait is true, waits for every worker; a worker still
// running a handler exits when the handler returns.
func (p *workerPool) close(wait bool) {
	p.once.Do(func() { close(p.quit) })
	if wait {
		p.wg.Wait()
	}
}
