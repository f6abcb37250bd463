package actors_test

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/internal/callrt"
)

// The runtime's goroutines (those combo channels start) show in Inspect, Shutdown waits for them, and after Shutdown Go refuses.
func TestSystemGo(t *testing.T) {
	sys, err := actors.NewSystem(nil)
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var returned atomic.Bool
	if err := callrt.Of(sys).Go(func() {
		<-release
		returned.Store(true)
	}); err != nil {
		t.Fatal(err)
	}
	if n := sys.Inspect().Counters["goroutines"]; n != 1 {
		t.Errorf("Inspect counts %d goroutines, want 1", n)
	}
	shutDown := make(chan struct{})
	go func() {
		sys.Shutdown()
		if !returned.Load() {
			t.Error("Shutdown returned before the System's goroutine")
		}
		close(shutDown)
	}()
	eventually(t, "Shutdown to begin", func() bool { return sys.Inspect().State == "shut down" })
	// Shutdown waits for as long as the goroutine runs; a Shutdown that does not wait returns
	// within this window, long before the goroutine is released.
	select {
	case <-shutDown:
		t.Error("Shutdown returned while the System's goroutine still ran")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	select {
	case <-shutDown:
	case <-time.After(testTimeout):
		t.Fatal("Shutdown did not return after the System's goroutine did")
	}
	if n := sys.Inspect().Counters["goroutines"]; n != 0 {
		t.Errorf("after Shutdown Inspect counts %d goroutines", n)
	}
	if err := callrt.Of(sys).Go(func() { t.Error("ran after Shutdown") }); !errors.Is(err, actors.ErrClosed) {
		t.Errorf("Go after Shutdown = %v, want ErrClosed", err)
	}
}

type shownThing struct{ n int }

func (s *shownThing) Inspect() *actors.Node {
	return &actors.Node{Kind: "partitioner", Name: "thing", Counters: map[string]int64{"n": int64(s.n)}}
}

// What combo channels show through the runtime lists among the channels until removed.
func TestSystemShow(t *testing.T) {
	sys := newSystem(t)
	remove := callrt.Of(sys).Show(&shownThing{n: 7})
	node := sys.Inspect().Find(func(n *actors.Node) bool { return n.Name == "thing" })
	if node == nil || node.Counters["n"] != 7 {
		t.Fatalf("Inspect does not show the thing:\n%s", sys.Inspect())
	}
	if s := sys.Inspect().String(); !strings.Contains(s, "thing") {
		t.Errorf("String() does not show the thing:\n%s", s)
	}
	remove()
	remove()
	if node := sys.Inspect().Find(func(n *actors.Node) bool { return n.Name == "thing" }); node != nil {
		t.Errorf("removed thing still shows: %s", node)
	}
}
