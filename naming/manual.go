package naming

import (
	"context"
	"sync"
)

// Manual is a naming service fed by hand, for tests and for programs that learn their servers
// by other means. Each [Manual.Update] is reported to every active Watch; a Watch that starts
// later reports the latest list at once. A Watch that starts before the first Update waits for
// it. Watches coalesce updates: a slow one reports the latest list, not every one in between.
// The zero value is ready to use; a Manual is safe for concurrent use.
type Manual struct {
	mu       sync.Mutex
	nodes    []ServerNode
	set      bool
	watchers map[chan struct{}]struct{}
}

// NewManual returns a Manual with no list yet.
func NewManual() *Manual { return &Manual{} }

// Update makes nodes (copied) the list and wakes every Watch.
func (m *Manual) Update(nodes []ServerNode) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nodes = append([]ServerNode{}, nodes...)
	m.set = true
	for wake := range m.watchers {
		select {
		case wake <- struct{}{}:
		default: // already woken; it will read the latest list
		}
	}
}

// Watch reports the latest list once there is one, and each list that differs from the one it
// reported last, until ctx ends.
func (m *Manual) Watch(ctx context.Context, update func([]ServerNode)) error {
	wake := make(chan struct{}, 1)
	m.mu.Lock()
	if m.watchers == nil {
		m.watchers = map[chan struct{}]struct{}{}
	}
	m.watchers[wake] = struct{}{}
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.watchers, wake)
		m.mu.Unlock()
	}()
	r := reporter{update: update}
	for {
		if nodes, ok := m.latest(); ok {
			r.report(nodes)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		}
	}
}

// latest returns the list and whether Update was ever called.
func (m *Manual) latest() ([]ServerNode, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.nodes, m.set
}
