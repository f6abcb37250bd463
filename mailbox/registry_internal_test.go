package mailbox

import (
	"log/slog"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
)

func newTestRegistry(tb testing.TB) *Registry {
	tb.Helper()
	quiet := slog.New(slog.DiscardHandler)
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
	tb.Cleanup(sys.Shutdown)
	return NewRegistry(sys, "registry-test")
}

// TestRegistryListsEveryLightAndResolvesNamedOnes checks the Registry's two views: every Light
// from add to remove for Len and Each, in slots that are reused, and by number only those whose
// PID was made, for protoactor.
func TestRegistryListsEveryLightAndResolvesNamedOnes(t *testing.T) {
	r := newTestRegistry(t)
	lights := make([]Light, 1000)
	for i := range lights {
		lights[i].registry = r
		r.add(&lights[i])
	}
	count := func() int {
		n := 0
		r.Each(func(*Light) { n++ })
		return n
	}
	if n, m := r.Len(), count(); n != len(lights) || m != len(lights) {
		t.Fatalf("Len = %d, Each visits %d; want %d", n, m, len(lights))
	}
	l := &lights[7]
	if _, ok := r.get(l.num); ok {
		t.Fatal("a Light whose PID was never made resolves")
	}
	pid := l.PID()
	if got, ok := r.resolve(pid); !ok || got.(*process) != (*process)(l) {
		t.Fatalf("resolve(%v) = %v, %v; want the Light", pid, got, ok)
	}
	for i := 0; i < len(lights); i += 2 {
		r.remove(&lights[i])
	}
	if n, m := r.Len(), count(); n != len(lights)/2 || m != len(lights)/2 {
		t.Fatalf("after removing half: Len = %d, Each visits %d; want %d", n, m, len(lights)/2)
	}
	if _, ok := r.resolve(l.PID()); !ok { // lights[7] stayed
		t.Fatal("a named Light no longer resolves after other Lights left its shard")
	}
	// A PID made after its Light left resolves to nothing.
	gone := &lights[0]
	if _, ok := r.resolve(gone.PID()); ok {
		t.Fatal("a PID made after its Light left the Registry resolves")
	}
	// Removed Lights' slots are reused: 10 000 Lights through a window of 100 live ones take
	// about two slots a shard, not 10 000.
	window := make([]Light, 100)
	for i := range 10000 {
		l := &window[i%len(window)]
		if i >= len(window) {
			r.remove(l)
		}
		*l = Light{registry: r}
		r.add(l)
	}
	slots := 0
	for i := range r.shards {
		slots += len(r.shards[i].lights)
	}
	if limit := len(lights)/2 + 3*len(r.shards); slots > limit {
		t.Fatalf("%d slots after churning 10 000 Lights through 100, want at most %d", slots, limit)
	}
	for i := range window {
		r.remove(&window[i])
	}
	for i := 1; i < len(lights); i += 2 {
		r.remove(&lights[i])
	}
	if n, m := r.Len(), count(); n != 0 || m != 0 {
		t.Fatalf("emptied: Len = %d, Each visits %d", n, m)
	}
	for i := range r.shards {
		if s := &r.shards[i]; len(s.lights) != 0 || len(s.free) != 0 || len(s.named) != 0 {
			t.Fatalf("shard %d keeps %d slots, %d free, %d named once empty", i, len(s.lights), len(s.free), len(s.named))
		}
	}
}

// BenchmarkRegistry adds and removes Lights as short-lived calls do: each goroutine keeps a
// window of 32, adding one and removing the oldest.
func BenchmarkRegistry(b *testing.B) {
	r := newTestRegistry(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var window [32]Light
		i := 0
		for pb.Next() {
			l := &window[i%len(window)]
			if i >= len(window) {
				r.remove(l)
			}
			r.add(l)
			i++
		}
		for j := range min(i, len(window)) {
			r.remove(&window[j])
		}
	})
	if n := r.Len(); n != 0 {
		b.Fatalf("%d Lights left in the Registry", n)
	}
}
