package actors

import "time"

// Idle connections: with ServerOptions.IdleTimeout set, one goroutine per server (started with
// the first listener, ended by Shutdown) looks at every connection each idleTick. A connection
// whose count of requests read has not changed and that has no request in a handler since the
// sweeper first saw it so, IdleTimeout ago or more, is closed. A request costs the
// connection one counter increment; there is no timer per connection.

// idleTick is how often the idle sweeper looks: a quarter of the timeout, at least 10 ms.
func idleTick(timeout time.Duration) time.Duration { return max(timeout/4, 10*time.Millisecond) }

// startIdleSweeper starts the idle sweeper once, if IdleTimeout is set. It is called with s.mu
// held and the server not closing.
func (s *Server) startIdleSweeper() {
	if s.opts.IdleTimeout <= 0 {
		return
	}
	s.idleStart.Do(func() { s.wg.Go(s.sweepIdle) })
}

func (s *Server) sweepIdle() {
	tick := time.NewTicker(idleTick(s.opts.IdleTimeout))
	defer tick.Stop()
	for {
		select {
		case <-s.stopped:
			return
		case now := <-tick.C:
			s.closeIdle(now.UnixNano())
		}
	}
}

// closeIdle closes the connections idle for IdleTimeout at now.
func (s *Server) closeIdle(now int64) {
	for _, sc := range s.connList() {
		if r := sc.reqs.Load(); r != sc.idleSeen || sc.busy.Load() > 0 || sc.idleSince == 0 {
			sc.idleSeen, sc.idleSince = r, now
			continue
		}
		if time.Duration(now-sc.idleSince) >= s.opts.IdleTimeout {
			s.log.Debug("troupe: closing an idle connection", "remote", sc.conn.RemoteAddr().String(),
				"idle_timeout", s.opts.IdleTimeout)
			sc.close()
		}
	}
}
