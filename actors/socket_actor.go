package actors

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/troupe-rpc/troupe/mailbox"
	"github.com/troupe-rpc/troupe/wire"
)

// socketActor owns one connection to one server: it dials on demand, registers each attempt's
// correlation id, queues frames while a write or a dial is in progress and writes everything
// queued with one syscall when its mailbox drains. A reader goroutine it owns delivers responses
// straight to their calls. A broken connection fails every pending attempt; the next attempt
// dials again.
type socketActor struct {
	sk      *socket
	self    *actor.PID
	gen     int64 // connection generation; messages of an older one are stale
	conn    net.Conn
	raw     syscall.RawConn
	out     []byte // frames not yet written
	spare   []byte
	writing bool // a backlog goroutine is writing
	health  healthState
	// connectTimeout bounds dials; the last attempt's channel sets it.
	connectTimeout time.Duration
}

func (a *socketActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *attempt:
		a.onAttempt(m)
	case *mailbox.Drained:
		a.flush()
	case *dialed:
		a.onDialed(m)
	case *readFailed:
		a.onReadFailed(m)
	case *backlogWritten:
		a.onBacklogWritten(m)
	case *healthCheck:
		a.onHealthCheck()
	case *breakerTripped:
		a.onBreakerTripped(m)
	case *subscribe:
		a.onSubscribe(m)
	case *unsubscribe:
		a.onUnsubscribe(m)
	case *actor.Started:
		a.self = c.Self()
	case *actor.Stopping:
		a.onStopping()
	}
}

func (a *socketActor) onAttempt(at *attempt) {
	frame := at.frame
	at.frame = nil
	a.sk.pending.put(at.id, at.light)
	a.out = append(a.out, frame.b...)
	a.sk.frames.Add(1)
	putBuf(frame)
	a.connectTimeout = at.c.ch.opts.ConnectTimeout
	if a.conn == nil && a.sk.state.Load() != sockConnecting {
		a.dial(a.connectTimeout)
	}
}

// dial connects in a goroutine owned by the System; the result comes back as *dialed.
func (a *socketActor) dial(timeout time.Duration) {
	a.gen++
	a.sk.state.Store(sockConnecting)
	gen, sk, self := a.gen, a.sk, a.self
	sk.sys.goroutine(func() {
		d := net.Dialer{Timeout: timeout}
		conn, err := d.DialContext(sk.ctx, "tcp", sk.addr)
		if err == nil && !sk.adopt(conn) {
			return
		}
		sk.post(self, &dialed{gen: gen, conn: conn, err: err})
	})
}

func (a *socketActor) onDialed(m *dialed) {
	if m.gen != a.gen {
		if m.conn != nil {
			m.conn.Close()
		}
		return
	}
	if m.err != nil {
		a.sk.state.Store(sockIdle)
		a.sk.setErr(m.err)
		a.isolate()
		a.failAll(dialError(a.sk.addr, m.err))
		return
	}
	raw, err := m.conn.(syscall.Conn).SyscallConn()
	if err != nil {
		m.conn.Close()
		a.failAll(dialError(a.sk.addr, err))
		return
	}
	a.conn, a.raw = m.conn, raw
	local := m.conn.LocalAddr().String()
	a.sk.local.Store(&local)
	a.sk.conns.Add(1)
	a.sk.state.Store(sockConnected)
	a.revive()
	gen, sk, conn, self := a.gen, a.sk, m.conn, a.self
	sk.sys.goroutine(func() { readLoop(sk, self, gen, conn) })
	a.flush()
}

func dialError(addr string, err error) *wire.Error {
	code := wire.ErrnoOf(err)
	if code == wire.EINTERNAL {
		code = wire.EFAILEDSOCKET
	}
	return &wire.Error{Code: code, Text: "Fail to connect " + addr, Addr: addr, Err: err}
}

// flush writes the queued frames: directly when the socket can take them without blocking, and
// the rest from a goroutine, so that the actor itself never blocks.
func (a *socketActor) flush() {
	if a.conn == nil || a.writing || len(a.out) == 0 {
		return
	}
	n, err := a.writeNow(a.out)
	a.sk.writes.Add(1)
	if err != nil {
		a.broken(err)
		return
	}
	if n == len(a.out) {
		a.out = a.out[:0]
		return
	}
	a.writeBacklog(n)
}

// writeNow writes as much of b as the kernel accepts at once, without waiting.
func (a *socketActor) writeNow(b []byte) (int, error) {
	var n int
	var werr error
	err := a.raw.Write(func(fd uintptr) bool {
		for n < len(b) {
			m, err := syscall.Write(int(fd), b[n:])
			if err == syscall.EINTR {
				continue
			}
			if err == syscall.EAGAIN {
				return true
			}
			if err != nil {
				werr = err
				return true
			}
			n += m
		}
		return true
	})
	if werr == nil {
		werr = err
	}
	return n, werr
}

// writeBacklog hands b[n:] to a goroutine that writes it blocking; frames queued meanwhile wait
// for it and leave together.
func (a *socketActor) writeBacklog(n int) {
	backlog := a.out[n:]
	a.out, a.spare = a.spare[:0], a.out
	a.writing = true
	gen, conn, sk, self := a.gen, a.conn, a.sk, a.self
	sk.sys.goroutine(func() {
		_, err := conn.Write(backlog)
		sk.post(self, &backlogWritten{gen: gen, err: err})
	})
}

func (a *socketActor) onBacklogWritten(m *backlogWritten) {
	if m.gen != a.gen {
		return
	}
	a.writing = false
	if m.err != nil {
		a.broken(m.err)
		return
	}
	a.flush()
}

func (a *socketActor) onReadFailed(m *readFailed) {
	if m.gen == a.gen {
		a.broken(m.err)
	}
}

// broken closes the connection and fails every attempt pending on it.
func (a *socketActor) broken(err error) {
	a.sk.setErr(err)
	if a.conn != nil {
		a.conn.Close()
	}
	a.conn, a.raw, a.writing = nil, nil, false
	a.gen++
	a.out = a.out[:0]
	a.sk.state.Store(sockIdle)
	a.isolate()
	a.failAll(socketError(a.sk.addr, err))
}

func socketError(addr string, err error) *wire.Error {
	code := wire.ErrnoOf(err)
	if code == wire.EINTERNAL {
		code = wire.EFAILEDSOCKET
	}
	var fe *wire.FrameError
	if errors.As(err, &fe) {
		code = wire.ERESPONSE
	}
	return &wire.Error{Code: code, Text: fmt.Sprintf("Connection to %s broke", addr), Addr: addr, Err: err}
}

func (a *socketActor) failAll(err *wire.Error) {
	for _, p := range a.sk.pending.drain() {
		p.call.Send(&attemptFailed{id: p.id, err: err})
	}
	a.out = a.out[:0]
}

func (a *socketActor) onStopping() {
	a.stopHealthCheck()
	if a.conn != nil {
		a.conn.Close()
	}
	a.gen++
	a.failAll(closedError(""))
}

// readLoop reads responses until the connection fails and delivers each to the call waiting for
// its correlation id; a response nobody waits for any more is dropped.
func readLoop(sk *socket, self *actor.PID, gen int64, conn net.Conn) {
	r := wire.NewReader(bufio.NewReaderSize(conn, 64<<10), 0)
	for {
		in := getInbound()
		err := r.ReadFrame(&in.frame)
		if err != nil && !errors.Is(err, wire.ErrAttachmentSize) {
			putInbound(in)
			sk.post(self, &readFailed{gen: gen, err: err})
			return
		}
		if err == nil {
			err = wire.VerifyChecksum(&in.frame)
		}
		in.err = err
		call := sk.pending.take(in.frame.Meta.CorrelationID)
		if call == nil {
			putInbound(in)
			continue
		}
		in.id = in.frame.Meta.CorrelationID
		call.Send(in)
	}
}
