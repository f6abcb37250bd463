package actors

import (
	"log/slog"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
)

// A System's own actor system keeps a small process registry, and what protoactor registered as
// it started is still found there.
func TestOwnActorSystemHasASmallRegistry(t *testing.T) {
	s, err := NewSystem(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	reg := s.as.ProcessRegistry
	if n := len(reg.LocalPIDs.LocalPIDs); n != registryBuckets {
		t.Errorf("the registry has %d buckets, want %d", n, registryBuckets)
	}
	for _, id := range []string{"eventstream", "deadletter"} {
		if _, ok := reg.GetLocal(id); !ok {
			t.Errorf("GetLocal(%q) found nothing after the registry shrank", id)
		}
	}
	if n := registrySize(s.as); n < 2 {
		t.Errorf("the registry holds %d processes, want at least eventstream and deadletter", n)
	}
}

// An actor system a user brings is left as it is.
func TestUsersActorSystemKeepsItsRegistry(t *testing.T) {
	as := actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	defer as.Shutdown()
	want := len(as.ProcessRegistry.LocalPIDs.LocalPIDs)
	s, err := NewSystem(&SystemOptions{ActorSystem: as})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	if n := len(as.ProcessRegistry.LocalPIDs.LocalPIDs); n != want {
		t.Errorf("the user's registry has %d buckets after NewSystem, want %d", n, want)
	}
}
