package actors

import (
	"errors"
	"net"
	"time"
)

// Accepting: a Server accepts on each listener until the listener is closed. Any other accept
// error (out of descriptors, EMFILE or ENFILE; a connection aborted before it was accepted;
// ENOBUFS; a listener's own temporary errors) is logged, at most once a second, and accepting
// is retried after a pause that starts at acceptMinPause and doubles up to acceptMaxPause while
// the errors go on; an accepted connection resets it. A server out of descriptors thus serves
// again as soon as connections close, as brpc's acceptor does.

// The pause between accept attempts after an error grows from acceptMinPause to acceptMaxPause.
const (
	acceptMinPause = 5 * time.Millisecond
	acceptMaxPause = time.Second
)

func (s *Server) track(l net.Listener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return ErrServerClosed
	}
	if len(s.listeners) == 0 {
		if err := s.applyMethodLimits(); err != nil {
			return err
		}
	}
	s.listeners[l] = struct{}{}
	s.startIdleSweeper()
	return nil
}

func (s *Server) acceptLoop(l net.Listener) error {
	var pause time.Duration
	for {
		c, err := l.Accept()
		if err == nil {
			pause = 0
			s.startConn(c)
			continue
		}
		if s.closing.Load() {
			return ErrServerClosed
		}
		if errors.Is(err, net.ErrClosed) {
			s.log.Warn("troupe: listener closed", "addr", l.Addr().String(), "err", err)
			return err
		}
		pause = min(max(2*pause, acceptMinPause), acceptMaxPause)
		s.warnLimited(&s.acceptLog, "troupe: accept failed, retrying", "addr", l.Addr().String(),
			"err", err, "pause", pause)
		if !s.pauseAccept(pause) {
			return ErrServerClosed
		}
	}
}

// pauseAccept waits for d, or until Shutdown begins; it reports whether accepting goes on.
func (s *Server) pauseAccept(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.stopped:
		return false
	}
}

// startConn serves c, or closes it at once when the server is closing or has
// ServerOptions.MaxConnections open already.
func (s *Server) startConn(c net.Conn) {
	sc := newServerConn(s, c)
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		c.Close()
		return
	}
	if limit := s.opts.MaxConnections; limit > 0 && len(s.conns) >= limit {
		s.mu.Unlock()
		s.warnLimited(&s.connLog, "troupe: refusing a connection over ServerOptions.MaxConnections",
			"remote", c.RemoteAddr().String(), "max_connections", limit)
		sc.cancel()
		c.Close()
		return
	}
	s.conns[sc] = struct{}{}
	s.wg.Add(1) // under mu, so that Shutdown's Wait cannot start before it; the reader's end releases it
	s.mu.Unlock()
	go sc.serve()
}

func (s *Server) forget(sc *serverConn) {
	s.mu.Lock()
	delete(s.conns, sc)
	s.mu.Unlock()
}

// connList returns the open connections.
func (s *Server) connList() []*serverConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*serverConn, 0, len(s.conns))
	for sc := range s.conns {
		out = append(out, sc)
	}
	return out
}
