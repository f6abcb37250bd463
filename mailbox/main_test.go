package mailbox_test

import (
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/goleak"

	"github.com/troupe-rpc/troupe/mailbox"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitTimeout bounds every wait in these tests: a wait that times out fails the test.
const waitTimeout = 10 * time.Second

// newSystem builds an actor system that logs nothing and whose dead-letter throttle goroutine dies
// at once, so that goleak needs no ignore options.
func newSystem() *actor.ActorSystem {
	return actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }),
		actor.WithDeadLetterThrottleInterval(time.Millisecond),
	)
}

// registrySize counts the processes registered in sys.
func registrySize(sys *actor.ActorSystem) int {
	n := 0
	for _, shard := range sys.ProcessRegistry.LocalPIDs.LocalPIDs {
		n += shard.Count()
	}
	return n
}

// registryIDs lists the ids registered in sys, sorted.
func registryIDs(sys *actor.ActorSystem) []string {
	var ids []string
	for _, shard := range sys.ProcessRegistry.LocalPIDs.LocalPIDs {
		shard.IterCb(func(id string, _ any) { ids = append(ids, id) }) // IterCb starts no goroutine
	}
	slices.Sort(ids)
	return ids
}

// env is one test's actor system and pool, with the registry size of the fresh system.
type env struct {
	t        testing.TB
	sys      *actor.ActorSystem
	reg      *mailbox.Registry
	pool     *mailbox.Pool
	baseline int
	once     sync.Once
}

// newEnv builds a system and a pool; a cleanup shuts both down (Shutdown, then pool.Close). Register
// cleanups that unblock actors after calling newEnv, so that they run before pool.Close.
func newEnv(t testing.TB, workers, queue, throughput int) *env {
	t.Helper()
	sys := newSystem()
	if ids := registryIDs(sys); !slices.Equal(ids, []string{"deadletter", "eventstream"}) {
		t.Fatalf("fresh system registry = %q, want [deadletter eventstream]", ids)
	}
	e := &env{t: t, sys: sys, reg: mailbox.NewRegistry(sys, "lights"), pool: mailbox.NewPool(workers, queue, throughput),
		baseline: registrySize(sys)}
	t.Cleanup(e.close)
	return e
}

// close shuts the system down and closes the pool, waiting for every activation. Idempotent.
func (e *env) close() {
	e.once.Do(func() {
		e.sys.Shutdown()
		e.pool.Close()
	})
}

// assertBaseline fails the test unless the registry holds what the fresh system held.
func (e *env) assertBaseline() {
	e.t.Helper()
	if n := registrySize(e.sys); n != e.baseline {
		e.t.Fatalf("registry holds %d processes, want baseline %d: %q", n, e.baseline, registryIDs(e.sys))
	}
	if n := e.reg.Len(); n != 0 {
		e.t.Fatalf("light registry holds %d actors, want none", n)
	}
}

// eventuallyBaseline waits for the registry to return to the baseline.
func (e *env) eventuallyBaseline() {
	e.t.Helper()
	eventually(e.t, "registry back to baseline", func() bool { return registrySize(e.sys) == e.baseline && e.reg.Len() == 0 })
	e.assertBaseline()
}

// recv waits for a value on ch, failing the test after waitTimeout.
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// recvTimeout returns a channel that fires after waitTimeout, for selects that wait on several
// channels.
func recvTimeout() <-chan time.Time { return time.After(waitTimeout) }

// waitClosed waits for ch to be closed (or to deliver), failing the test after waitTimeout.
func waitClosed(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	recv(t, ch, what)
}

// waitGroup waits for wg, failing the test after waitTimeout.
func waitGroup(t testing.TB, wg *sync.WaitGroup, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// eventually polls cond, yielding the processor between polls, and fails the test if it does not
// hold within waitTimeout. It is for state that nothing signals (a Light's last steps after its
// handler saw Stopped).
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
	}
}

// deadLetters counts the dead letters published on sys's event stream until the returned stop func
// is called.
func deadLetters(sys *actor.ActorSystem) (count func() int, stop func()) {
	var mu sync.Mutex
	var events []*actor.DeadLetterEvent
	sub := sys.EventStream.Subscribe(func(evt any) {
		if dl, ok := evt.(*actor.DeadLetterEvent); ok {
			mu.Lock()
			events = append(events, dl)
			mu.Unlock()
		}
	})
	count = func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(events)
	}
	return count, func() { sys.EventStream.Unsubscribe(sub) }
}
