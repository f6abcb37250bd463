package stats

import (
	"sort"
	"sync"
	"sync/atomic"
)

// MaxMethods bounds the methods a [Table] keeps apart, so that a client calling made-up method
// names cannot grow it without bound; the calls of further methods count under [OtherMethods].
const MaxMethods = 512

// OtherMethods is the name under which a [Table] counts the methods beyond [MaxMethods].
const OtherMethods = "(other)"

// Table holds the [Method] records of a channel or a server by method name. Looking a method up
// takes no lock and allocates nothing once the method was seen: the map is copied on write.
type Table struct {
	m     atomic.Pointer[map[string]*Method]
	mu    sync.Mutex
	clock func() int64
	onNew func(*Method)
}

// NewTable returns an empty Table; clock is as for [NewLatencyClock]. onNew, if not nil, is
// called with every record the Table makes before it is used: it may set its Tag and Observe.
func NewTable(clock func() int64, onNew func(*Method)) *Table {
	return &Table{clock: clock, onNew: onNew}
}

// Get returns the record of method name, making it on first use.
func (t *Table) Get(name string) *Method {
	if p := t.m.Load(); p != nil {
		if m, ok := (*p)[name]; ok {
			return m
		}
	}
	return t.add(name)
}

func (t *Table) add(name string) *Method {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := map[string]*Method{}
	if p := t.m.Load(); p != nil {
		old = *p
	}
	if m, ok := old[name]; ok {
		return m
	}
	if len(old) >= MaxMethods {
		name = OtherMethods
		if m, ok := old[name]; ok {
			return m
		}
	}
	next := make(map[string]*Method, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	m := NewMethod(name, t.clock)
	if t.onNew != nil {
		t.onNew(m)
	}
	next[name] = m
	t.m.Store(&next)
	return m
}

// Snapshot returns what every method recorded, by name.
func (t *Table) Snapshot() []MethodSnapshot {
	p := t.m.Load()
	if p == nil {
		return nil
	}
	out := make([]MethodSnapshot, 0, len(*p))
	for _, m := range *p {
		out = append(out, m.Snapshot())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Each calls fn for every method recorded, in no order.
func (t *Table) Each(fn func(*Method)) {
	if p := t.m.Load(); p != nil {
		for _, m := range *p {
			fn(m)
		}
	}
}
