package naming_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/troupe-rpc/troupe/naming"
)

func TestManual(t *testing.T) {
	m := naming.NewManual()
	early := watch(t, m)
	early.none(t, 0)
	m.Update(nodes("127.0.0.1:1"))
	if got, want := early.next(t), nodes("127.0.0.1:1"); !equal(got, want) {
		t.Errorf("first Watch = %v, want %v", got, want)
	}
	m.Update(nodes("127.0.0.1:1", "127.0.0.1:2 x"))
	early.waitFor(t, nodes("127.0.0.1:1", "127.0.0.1:2 x"))
	late := watch(t, m)
	if got, want := late.next(t), nodes("127.0.0.1:1", "127.0.0.1:2 x"); !equal(got, want) {
		t.Errorf("late Watch = %v, want %v", got, want)
	}
	m.Update(nil)
	early.waitFor(t, nodes())
	late.waitFor(t, nodes())
}

func TestManualKeepsItsCopy(t *testing.T) {
	m := naming.NewManual()
	list := nodes("127.0.0.1:1")
	m.Update(list)
	list[0].Addr = "changed"
	w := watch(t, m)
	got := w.next(t)
	if want := nodes("127.0.0.1:1"); !equal(got, want) {
		t.Errorf("Watch after changing the caller's slice = %v, want %v", got, want)
	}
}

func TestManualConcurrent(t *testing.T) {
	var m naming.Manual // the zero value works
	ws := []*watcher{watch(t, &m), watch(t, &m), watch(t, &m)}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				m.Update(nodes(fmt.Sprintf("127.0.0.%d:%d", g+1, i+1)))
			}
		})
	}
	wg.Wait()
	final := nodes("127.0.0.9:9")
	m.Update(final)
	for _, w := range ws {
		w.waitFor(t, final)
	}
}

func TestFiltered(t *testing.T) {
	m := naming.NewManual()
	svc := naming.Filtered(m, naming.FilterFunc(func(n naming.ServerNode) bool { return n.Tag == "enable" }))
	m.Update(nodes("10.128.0.1:1234 enable", "10.128.0.2:1234", "10.128.0.3:1234 disable", "10.128.0.1:1234"))
	w := watch(t, svc)
	if got, want := w.next(t), nodes("10.128.0.1:1234 enable"); !equal(got, want) {
		t.Errorf("Filtered Watch = %v, want %v", got, want)
	}
	m.Update(nodes("10.128.0.1:1234 enable", "10.128.0.4:1234")) // same list once filtered
	m.Update(nodes("10.128.0.5:1234 enable"))
	if got, want := w.next(t), nodes("10.128.0.5:1234 enable"); !equal(got, want) {
		t.Errorf("Filtered Watch = %v, want %v (an unchanged filtered list is not reported)", got, want)
	}
	if naming.Filtered(m, nil) != naming.Service(m) {
		t.Errorf("Filtered(m, nil) is not m")
	}
}
