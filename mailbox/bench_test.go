package mailbox_test

import (
	"sync"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/troupe-rpc/troupe/mailbox"
)

// benchEnv is newEnv for a benchmark, with the default pool.
func benchEnv(b *testing.B) *env {
	b.Helper()
	return newEnv(b, 0, 0, 0)
}

type benchMsg struct{}

var theBenchMsg = &benchMsg{}

// BenchmarkLightSpawnStop measures a short-lived Light as a call uses it: SpawnHeld, Release, one
// message whose handler stops the actor, and the Stopped.
func BenchmarkLightSpawnStop(b *testing.B) {
	e := benchEnv(b)
	done := make(chan struct{}, 1)
	h := handlerFunc(func(l *mailbox.Light, msg any) {
		switch msg.(type) {
		case *mailbox.Stopped:
			done <- struct{}{}
		default:
			l.Stop()
		}
	})
	b.ReportAllocs()
	for b.Loop() {
		l := mailbox.SpawnHeld(e.reg, e.pool, nil, "b", h)
		l.Release()
		l.Send(theBenchMsg)
		<-done
	}
	b.StopTimer()
	e.eventuallyBaseline()
}

// BenchmarkLightPingPong bounces one message between two Lights; an op is one hop.
func BenchmarkLightPingPong(b *testing.B) {
	e := benchEnv(b)
	type ball struct {
		left int
		done chan struct{}
	}
	var a, c *mailbox.Light
	bounce := func(to **mailbox.Light) handlerFunc {
		return func(_ *mailbox.Light, msg any) {
			if bl, ok := msg.(*ball); ok {
				if bl.left--; bl.left <= 0 {
					close(bl.done)
					return
				}
				(*to).Send(bl)
			}
		}
	}
	a = mailbox.Spawn(e.reg, e.pool, nil, "ping", bounce(&c))
	c = mailbox.Spawn(e.reg, e.pool, nil, "pong", bounce(&a))
	b.ReportAllocs()
	b.ResetTimer()
	bl := &ball{left: b.N, done: make(chan struct{})}
	a.Send(bl)
	<-bl.done
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/hop")
	a.Stop()
	c.Stop()
	e.close()
	e.assertBaseline()
}

// BenchmarkPoolSchedule measures Schedule plus running an empty fn: "burst" schedules without
// waiting (throughput; once the queue is full, fns overflow onto goroutines of their own), "round
// trip" waits for each fn before scheduling the next (latency of a hand-off to an idle worker).
func BenchmarkPoolSchedule(b *testing.B) {
	b.Run("burst", func(b *testing.B) {
		p := mailbox.NewPool(0, 0, 0)
		defer p.Close()
		var wg sync.WaitGroup
		fn := wg.Done
		b.ReportAllocs()
		for b.Loop() {
			wg.Add(1)
			p.Schedule(fn)
		}
		wg.Wait()
	})
	b.Run("round trip", func(b *testing.B) {
		p := mailbox.NewPool(0, 0, 0)
		defer p.Close()
		done := make(chan struct{}, 1)
		fn := func() { done <- struct{}{} }
		b.ReportAllocs()
		for b.Loop() {
			p.Schedule(fn)
			<-done
		}
	})
}

// BenchmarkProtoactorSpawnStop is the protoactor equivalent of BenchmarkLightSpawnStop: a parent
// actor spawns a child, stops it and waits for its Terminated, all on the pool.
func BenchmarkProtoactorSpawnStop(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts []actor.PropsOption
	}{
		{"default mailbox", nil},
		{"NewMailbox", []actor.PropsOption{actor.WithMailbox(mailbox.NewMailbox(false))}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := benchEnv(b)
			opts := append([]actor.PropsOption{actor.WithDispatcher(e.pool)}, bc.opts...)
			childProps := actor.PropsFromFunc(func(actor.Context) {}, opts...)
			done := make(chan struct{}, 1)
			parent := e.sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
				switch c.Message().(type) {
				case *benchMsg:
					c.Stop(c.Spawn(childProps))
				case *actor.Terminated:
					done <- struct{}{}
				}
			}, opts...))
			b.ReportAllocs()
			for b.Loop() {
				e.sys.Root.Send(parent, theBenchMsg)
				<-done
			}
			b.StopTimer()
			if err := e.sys.Root.StopFuture(parent).Wait(); err != nil {
				b.Fatal(err)
			}
			e.assertBaseline()
		})
	}
}
