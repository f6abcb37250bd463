package etcd_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/troupe-rpc/troupe/naming"
	"github.com/troupe-rpc/troupe/naming/etcd"
)

// waitLimit bounds every wait for something that should happen.
const waitLimit = 5 * time.Second

// mustNew is naming.New with the etcd scheme plugged in, for URLs that must work.
func mustNew(t *testing.T, url string, opts *etcd.Options, nopts *naming.Options) naming.Service {
	t.Helper()
	var o naming.Options
	if nopts != nil {
		o = *nopts
	}
	o.Schemes = map[string]naming.Builder{"etcd": etcd.Scheme(opts)}
	svc, err := naming.New(url, &o)
	if err != nil {
		t.Fatalf("New(%q) = %v, want no error", url, err)
	}
	return svc
}

// watcher runs one Watch on its own goroutine and collects the lists it reports.
type watcher struct {
	lists chan []naming.ServerNode
}

// watch starts svc.Watch; the test's cleanup ends it and checks that it returned ctx.Err().
func watch(t *testing.T, svc naming.Service) *watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{lists: make(chan []naming.ServerNode, 1000)}
	done := make(chan error, 1)
	go func() { done <- svc.Watch(ctx, func(l []naming.ServerNode) { w.lists <- l }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Watch() = %v, want %v", err, context.Canceled)
		}
	})
	return w
}

// next returns the next list reported, failing the test after waitLimit.
func (w *watcher) next(t *testing.T) []naming.ServerNode {
	t.Helper()
	select {
	case l := <-w.lists:
		return l
	case <-time.After(waitLimit):
		t.Fatalf("no list reported within %v", waitLimit)
		return nil
	}
}

// waitFor skips reported lists until one equals want, failing the test after waitLimit.
func (w *watcher) waitFor(t *testing.T, want []naming.ServerNode) {
	t.Helper()
	w.waitWithin(t, want, waitLimit)
}

// waitWithin skips reported lists until one equals want, failing the test after limit.
func (w *watcher) waitWithin(t *testing.T, want []naming.ServerNode, limit time.Duration) {
	t.Helper()
	deadline := time.After(limit)
	var last []naming.ServerNode
	for {
		select {
		case l := <-w.lists:
			if slices.Equal(l, want) {
				return
			}
			last = l
		case <-deadline:
			t.Fatalf("Watch reported %v last, want %v within %v", last, want, limit)
		}
	}
}

// none checks that no list is reported during d.
func (w *watcher) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case l := <-w.lists:
		t.Fatalf("Watch reported %v, want no report", l)
	case <-time.After(d):
	}
}

// logBuffer is a slog destination that tests can read and wait on.
type logBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

// newLog returns a logger writing to a logBuffer (and the buffer).
func newLog() (*slog.Logger, *logBuffer) {
	b := &logBuffer{changed: make(chan struct{}, 1)}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case b.changed <- struct{}{}:
	default:
	}
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor waits until the log contains s, failing the test after waitLimit.
func (b *logBuffer) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(waitLimit)
	for !strings.Contains(b.String(), s) {
		select {
		case <-b.changed:
		case <-deadline:
			t.Fatalf("log = %q, want it to contain %q within %v", b.String(), s, waitLimit)
		}
	}
}

// nodes builds a list from "addr" or "addr tag" strings, the weight taken from a numeric tag.
func nodes(entries ...string) []naming.ServerNode {
	out := []naming.ServerNode{}
	for _, e := range entries {
		addr, tag, _ := strings.Cut(e, " ")
		out = append(out, naming.ServerNode{Addr: addr, Tag: tag, Weight: weightOf(tag)})
	}
	return out
}

func weightOf(tag string) int {
	w := 0
	for _, c := range tag {
		if c < '0' || c > '9' {
			return 0
		}
		w = w*10 + int(c-'0')
	}
	return w
}
