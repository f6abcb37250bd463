package actors

import (
	"context"
	"log/slog"
	"sync"

	"github.com/troupe-rpc/troupe/naming"
)

// WatchNaming runs svc's Watch on a goroutine the System owns, calling update with each new server
// list on that goroutine, until the returned stop is called or the System shuts down. stop waits
// for the goroutine and is idempotent. Channels built on naming services — partition channels —
// use it; update must not block for long.
func (s *System) WatchNaming(svc naming.Service, update func([]naming.ServerNode)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	s.mu.Lock()
	s.watchers[&cancel] = struct{}{}
	s.mu.Unlock()
	s.goroutine(func() {
		defer close(done)
		if err := svc.Watch(ctx, update); err != nil && ctx.Err() == nil {
			s.log.Error("troupe: naming service stopped", "err", err)
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			<-done
			s.mu.Lock()
			delete(s.watchers, &cancel)
			s.mu.Unlock()
		})
	}
}

// Logger returns the logger the System writes to (a discarding one when none was given).
func (s *System) Logger() *slog.Logger { return s.log }
