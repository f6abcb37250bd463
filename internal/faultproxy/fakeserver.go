package faultproxy

import (
	"bufio"
	"net"
	"sync"
	"sync/atomic"

	"github.com/troupe-rpc/troupe/wire"
)

// Reply is what a FakeServer does about one request: write Bytes (if any), then close the
// connection if Close is set, or reset it if Reset is set. The zero Reply does nothing: the
// request stays unanswered.
type Reply struct {
	Bytes []byte
	Close bool
	Reset bool
}

// Answer replies with b.
func Answer(b []byte) Reply { return Reply{Bytes: b} }

// FakeServer is a raw baidu_std listener that answers each request with a test's function of the
// request frame.
type FakeServer struct {
	l      net.Listener
	handle func(req *wire.Frame) Reply
	wg     sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool

	accepted, requests atomic.Int64
}

// NewFakeServer starts a FakeServer on a free loopback port. handle runs on the connection's
// reading goroutine, once per request in order; the frame is valid only during the call.
func NewFakeServer(handle func(req *wire.Frame) Reply) (*FakeServer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &FakeServer{l: l, handle: handle, conns: make(map[net.Conn]struct{})}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the server's address.
func (s *FakeServer) Addr() string { return s.l.Addr().String() }

// Accepted is how many connections the server accepted.
func (s *FakeServer) Accepted() int64 { return s.accepted.Load() }

// Requests is how many request frames the server read.
func (s *FakeServer) Requests() int64 { return s.requests.Load() }

// Close closes the listener and every connection, and returns once the server's goroutines are
// gone.
func (s *FakeServer) Close() error {
	err := s.l.Close()
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *FakeServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.l.Accept()
		if err != nil {
			return
		}
		s.accepted.Add(1)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			continue
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serve(c)
	}
}

func (s *FakeServer) serve(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	r := wire.NewReader(bufio.NewReader(c), 0)
	var f wire.Frame
	for {
		if err := r.ReadFrame(&f); err != nil {
			return
		}
		s.requests.Add(1)
		rep := s.handle(&f)
		if len(rep.Bytes) > 0 {
			if _, err := c.Write(rep.Bytes); err != nil {
				return
			}
		}
		if rep.Reset {
			setLinger0(c)
			return
		}
		if rep.Close {
			return
		}
	}
}
