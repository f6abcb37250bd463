package actors

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// recordingHandler keeps every record it gets.
type recordingHandler struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *recordingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.records = append(h.records, r)
	h.mu.Unlock()
	return nil
}
func (h *recordingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordingHandler) WithGroup(string) slog.Handler      { return h }

func TestClientLogLimiter(t *testing.T) {
	h := &recordingHandler{}
	l := newClientLogLimiter(slog.New(h))
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	for range 10 {
		l.warn("broken", "connection broken", "addr", "a")
		l.warn("isolated", "server isolated", "addr", "a")
		now = now.Add(50 * time.Millisecond)
	}
	if len(h.records) != 2 {
		t.Fatalf("%d lines in half a second, want one per kind", len(h.records))
	}
	now = now.Add(time.Second)
	l.warn("broken", "connection broken", "addr", "a")
	if len(h.records) != 3 {
		t.Fatalf("%d lines, want a third one after a second", len(h.records))
	}
	var suppressed int64
	h.records[2].Attrs(func(a slog.Attr) bool {
		if a.Key == "suppressed" {
			suppressed = a.Value.Int64()
		}
		return true
	})
	if suppressed != 9 {
		t.Fatalf("suppressed = %d, want 9", suppressed)
	}
	var none *clientLogLimiter
	none.warn("broken", "no limiter") // a nil limiter logs nothing and does not panic
}
