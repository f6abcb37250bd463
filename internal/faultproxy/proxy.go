package faultproxy

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Dir is a direction of a proxied connection.
type Dir int

const (
	// Up is client to server: the requests.
	Up Dir = iota
	// Down is server to client: the answers.
	Down
)

// String is "up" or "down".
func (d Dir) String() string {
	if d == Up {
		return "up"
	}
	return "down"
}

// faults is what happens to the bytes of one direction.
type faults struct {
	delay      time.Duration
	stall      bool
	blackhole  bool
	throttle   int // bytes per second, 0: none
	corruptAll bool
	corruptAt  int64 // -1: none
	cutAfter   int64 // -1: none
	reset      bool
}

func noFaults() faults { return faults{corruptAt: -1, cutAfter: -1} }

// Stats counts a Proxy's connections and the bytes it forwarded.
type Stats struct {
	Accepted int64 // connections accepted, refused ones included
	Open     int64 // connections being relayed now
	Refused  int64 // connections closed at accept by Refuse
	Bytes    [2]int64
}

// Proxy relays loopback TCP connections to a target, injecting the faults set on it.
type Proxy struct {
	target string
	l      net.Listener
	done   chan struct{}
	wg     sync.WaitGroup

	mu      sync.Mutex
	f       [2]faults
	changed chan struct{} // closed and replaced on every change of f
	refuse  bool
	conns   map[*pair]struct{}
	closed  bool

	accepted, open, refused atomic.Int64
	bytes                   [2]atomic.Int64
}

// pair is one proxied connection: the client's and the one to the target.
type pair struct {
	client, server net.Conn
	once           sync.Once
	closed         chan struct{}
}

func (p *pair) close(reset bool) {
	p.once.Do(func() {
		close(p.closed)
		if reset {
			setLinger0(p.client)
			setLinger0(p.server)
		}
		p.client.Close()
		p.server.Close()
	})
}

func setLinger0(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
}

// New starts a proxy to target on a free loopback port.
func New(target string) (*Proxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{target: target, l: l, done: make(chan struct{}), changed: make(chan struct{}),
		conns: make(map[*pair]struct{})}
	p.f[Up], p.f[Down] = noFaults(), noFaults()
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the address clients connect to.
func (p *Proxy) Addr() string { return p.l.Addr().String() }

// Target is the address the proxy relays to.
func (p *Proxy) Target() string { return p.target }

// Close stops accepting, closes every connection and returns once every goroutine of the proxy
// is gone.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.done)
	p.mu.Unlock()
	err := p.l.Close()
	p.CloseConns()
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		p.mu.Lock()
		refuse, closed := p.refuse, p.closed
		p.mu.Unlock()
		if refuse || closed {
			p.refused.Add(1)
			setLinger0(c)
			c.Close()
			continue
		}
		p.wg.Add(1)
		go p.connect(c)
	}
}

// connect dials the target for c and relays between them.
func (p *Proxy) connect(c net.Conn) {
	defer p.wg.Done()
	s, err := p.dial()
	if err != nil {
		setLinger0(c)
		c.Close()
		return
	}
	pr := &pair{client: c, server: s, closed: make(chan struct{})}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		pr.close(false)
		return
	}
	p.conns[pr] = struct{}{}
	p.mu.Unlock()
	p.open.Add(1)
	var both sync.WaitGroup
	both.Add(2)
	go func() { defer both.Done(); p.pump(pr, Up, c, s) }()
	go func() { defer both.Done(); p.pump(pr, Down, s, c) }()
	both.Wait()
	p.mu.Lock()
	delete(p.conns, pr)
	p.mu.Unlock()
	p.open.Add(-1)
}

// CloseConns closes every connection being relayed (both sides, with a normal close); one
// accepted a moment ago whose connection to the target is still being made is not among them.
func (p *Proxy) CloseConns() {
	p.mu.Lock()
	prs := make([]*pair, 0, len(p.conns))
	for pr := range p.conns {
		prs = append(prs, pr)
	}
	p.mu.Unlock()
	for _, pr := range prs {
		pr.close(false)
	}
}

// Stats returns the proxy's counters.
func (p *Proxy) Stats() Stats {
	return Stats{Accepted: p.accepted.Load(), Open: p.open.Load(), Refused: p.refused.Load(),
		Bytes: [2]int64{p.bytes[Up].Load(), p.bytes[Down].Load()}}
}

// set changes the faults of dir and wakes the relays waiting on the old ones.
func (p *Proxy) set(dir Dir, change func(*faults)) {
	p.mu.Lock()
	change(&p.f[dir])
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

func (p *Proxy) faults(dir Dir) (faults, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.f[dir], p.changed
}

// Delay holds each chunk of bytes read in dir for d before forwarding it; 0 removes the delay.
func (p *Proxy) Delay(dir Dir, d time.Duration) { p.set(dir, func(f *faults) { f.delay = d }) }

// Stall stops forwarding dir: the bytes read are held, and no more are read (so the sender's
// buffers fill), until Clear or ClearDir.
func (p *Proxy) Stall(dir Dir) { p.set(dir, func(f *faults) { f.stall = true }) }

// Blackhole reads dir and forwards nothing.
func (p *Proxy) Blackhole(dir Dir) { p.set(dir, func(f *faults) { f.blackhole = true }) }

// Throttle forwards dir at about bytesPerSec; 0 removes the limit.
func (p *Proxy) Throttle(dir Dir, bytesPerSec int) {
	p.set(dir, func(f *faults) { f.throttle = max(bytesPerSec, 0) })
}

// Corrupt flips every bit of every byte forwarded in dir from now on.
func (p *Proxy) Corrupt(dir Dir) { p.set(dir, func(f *faults) { f.corruptAll = true }) }

// CorruptAt flips every bit of the byte at offset off of each connection's stream in dir.
func (p *Proxy) CorruptAt(dir Dir, off int64) { p.set(dir, func(f *faults) { f.corruptAt = off }) }

// Cut closes a connection (normally, FIN both ways) when bytes next arrive in dir, forwarding
// none of them.
func (p *Proxy) Cut(dir Dir) { p.set(dir, func(f *faults) { f.cutAfter = 0 }) }

// CutAfter closes a connection (normally) once it forwarded n bytes in dir: with n inside a
// frame, the peer sees the stream end mid-frame.
func (p *Proxy) CutAfter(dir Dir, n int64) { p.set(dir, func(f *faults) { f.cutAfter = max(n, 0) }) }

// Reset resets a connection (RST to both sides, by SetLinger(0)) when bytes next arrive in dir.
func (p *Proxy) Reset(dir Dir) { p.set(dir, func(f *faults) { f.reset = true }) }

// Refuse, when on, closes each new connection (with a reset) as soon as it is accepted.
func (p *Proxy) Refuse(on bool) {
	p.mu.Lock()
	p.refuse = on
	p.mu.Unlock()
}

// ClearDir lifts every fault of dir; stalled bytes are forwarded.
func (p *Proxy) ClearDir(dir Dir) { p.set(dir, func(f *faults) { *f = noFaults() }) }

// Clear lifts every fault, Refuse included.
func (p *Proxy) Clear() {
	p.Refuse(false)
	p.ClearDir(Up)
	p.ClearDir(Down)
}

// dial connects to the target; Close cuts a slow dial short.
func (p *Proxy) dial() (net.Conn, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-p.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	d := net.Dialer{Timeout: 5 * time.Second}
	return d.DialContext(ctx, "tcp", p.target)
}
