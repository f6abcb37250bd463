package actors

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"strings"
	"syscall"
	"time"

	"github.com/troupe-rpc/troupe/wire"
)

// TLS and transports. A channel with ChannelOptions.TLS makes every connection it shares (single,
// pooled, short, and the health checker's) a TLS client connection: the handshake is part of
// connecting, bounded by ConnectTimeout; the server name defaults to the host of the server's
// address, certificates are verified unless the config says otherwise, and sessions are resumed
// on reconnect through a session cache per server when the config brings none. A handshake that
// fails, and a TLS alert on an open connection (a server that wants a client certificate under
// TLS 1.3 says so only after the handshake), fail the attempts with ESSL, brpc's SSL error, which
// is not retried: the same configuration would fail the same way on any server. A handshake that
// does not finish in time is a connect timeout (ETIMEDOUT). The socket actor encrypts a TLS
// connection's frames itself and writes the records without blocking, as it writes a plain
// connection (socket_sealed.go); only connections a user's Dialer makes of something other than
// a socket are written by a goroutine per burst of frames.
//
// A Server with ServerOptions.TLS serves TLS and plain baidu_std on the same port, as brpc's
// servers with SSL options do: the first byte of a connection decides (22, a TLS handshake
// record, or 'P' of "PRPC"). With RequireTLS every request of a plain connection is answered
// with ESSL, naming the requirement, and no handler runs: the client learns why at once, and,
// since the connection stays up, does not take the server for a broken one.

// Dialer makes a channel's connections in place of TCP; *net.Dialer is one. DialContext gets
// the network and address of the server ("tcp" and "host:port" as the naming service or target
// gave it, or "unix" and the path of a "unix:path" endpoint), and a context that ends at the
// connect timeout or when the System shuts down. A Dialer must be
// comparable (a pointer, say): channels share connections only when they share the Dialer.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// DefaultTLSHandshakeTimeout is the default of [ServerOptions.TLSHandshakeTimeout].
const DefaultTLSHandshakeTimeout = 10 * time.Second

// validateTransport checks the TLS config and the Dialer of channel options.
func (v *ChannelOptions) validateTransport() error {
	if v.Dialer != nil && !reflect.ValueOf(v.Dialer).Comparable() {
		return fmt.Errorf("troupe: ChannelOptions.Dialer of type %T is not comparable: use a pointer", v.Dialer)
	}
	return nil
}

// clientTLS returns the TLS config of a socket to addr: a copy of the channel's with the server
// name set to addr's host when it has none (a unix socket has no host: the config must name the
// server), and a session cache of its own when it has none.
func clientTLS(c *tls.Config, addr string) *tls.Config {
	if c == nil {
		return nil
	}
	c = c.Clone()
	if c.ServerName == "" && !strings.HasPrefix(addr, "unix:") {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			c.ServerName = host
		}
	}
	if c.ClientSessionCache == nil {
		c.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	}
	return c
}

// connect dials the socket's server, with the socket's Dialer or over TCP, and makes the TLS
// handshake when the socket has a TLS config, all within timeout. It runs on a goroutine of the
// System, never on the actor.
func (sk *socket) connect(timeout time.Duration) (net.Conn, error) {
	network, address := "tcp", sk.addr
	if path, ok := strings.CutPrefix(sk.addr, "unix:"); ok {
		network, address = "unix", path
	}
	if sk.dialer == nil && sk.tls == nil {
		d := net.Dialer{Timeout: timeout}
		return d.DialContext(sk.ctx, network, address)
	}
	ctx, cancel := context.WithTimeout(sk.ctx, timeout)
	defer cancel()
	var (
		conn net.Conn
		err  error
	)
	if sk.dialer != nil {
		conn, err = sk.dialer.DialContext(ctx, network, address)
		if err == nil && conn == nil {
			err = fmt.Errorf("Dialer %T returned no connection and no error", sk.dialer)
		}
		if err != nil {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) && sk.ctx.Err() == nil {
				return nil, &wire.Error{Code: wire.ETIMEDOUT, Text: "Fail to connect " + sk.addr + ": connect timed out", Addr: sk.addr, Err: err}
			}
			return nil, err
		}
	} else {
		var d net.Dialer
		if conn, err = d.DialContext(ctx, network, address); err != nil {
			return nil, err
		}
	}
	if sk.tls == nil {
		return conn, nil
	}
	tc := tls.Client(&sealedConn{Conn: conn}, sk.tls)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		if errors.Is(ctx.Err(), context.DeadlineExceeded) && sk.ctx.Err() == nil {
			return nil, &wire.Error{Code: wire.ETIMEDOUT, Text: "Fail to connect " + sk.addr + ": TLS handshake timed out", Addr: sk.addr, Err: err}
		}
		return nil, handshakeError(sk.addr, err)
	}
	return tc, nil
}

// handshakeError is the ESSL error of a client handshake that failed, with a hint when the server
// hung up without a word: most likely it does not serve TLS.
func handshakeError(addr string, err error) *wire.Error {
	text := "TLS handshake with " + addr + " failed"
	if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
		text += " (the server closed the connection: does it serve TLS?)"
	}
	return &wire.Error{Code: wire.ESSL, Text: text, Addr: addr, Err: err}
}

// isTLSAlert reports whether err is a TLS alert the peer sent, such as "certificate required".
func isTLSAlert(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "remote error"
}

// closeConn closes a connection at once: a TLS connection through its underlying one, since
// tls.Conn.Close first writes an alert and may wait seconds for a peer that does not read.
func closeConn(c net.Conn) error {
	if tc, ok := c.(*tls.Conn); ok {
		return tc.NetConn().Close()
	}
	return c.Close()
}

// validateTLS checks the server's TLS options.
func (o *ServerOptions) validateTLS() error {
	if o.RequireTLS && o.TLS == nil {
		return errors.New("troupe: ServerOptions.RequireTLS is set without ServerOptions.TLS")
	}
	if o.TLS != nil && len(o.TLS.Certificates) == 0 && o.TLS.GetCertificate == nil && o.TLS.GetConfigForClient == nil {
		return errors.New("troupe: ServerOptions.TLS has no certificate (set Certificates, GetCertificate or GetConfigForClient)")
	}
	if o.TLSHandshakeTimeout < 0 {
		return fmt.Errorf("troupe: ServerOptions.TLSHandshakeTimeout = %v, want > 0", o.TLSHandshakeTimeout)
	}
	if o.TLSHandshakeTimeout == 0 {
		o.TLSHandshakeTimeout = DefaultTLSHandshakeTimeout
	}
	return nil
}

// tlsRecordHandshake is the first byte of a TLS connection: a handshake record.
const tlsRecordHandshake = 22

// startTLS looks at the first byte of a connection of a server with TLS options and makes the
// server's handshake when it starts one. It returns the connection to read requests from and
// write answers to, or false when the connection is to be closed: its handshake failed.
func (sc *serverConn) startTLS(br *readerConn) (net.Conn, bool) {
	o := &sc.srv.opts
	first, err := br.r.Peek(1)
	if err != nil {
		return nil, false // closed before saying anything, or by the idle sweeper
	}
	if first[0] != tlsRecordHandshake {
		if o.RequireTLS {
			sc.plainRefused, sc.authed = true, true // nothing is served: no credential is needed
		}
		return br, true
	}
	tc := tls.Server(br, o.TLS)
	ctx, cancel := context.WithTimeout(sc.ctx, o.TLSHandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		if sc.ctx.Err() == nil && !sc.srv.closing.Load() {
			sc.srv.warnLimited(&sc.srv.tlsLog, "troupe: TLS handshake failed", "remote", sc.conn.RemoteAddr().String(), "err", err)
		}
		return nil, false
	}
	state := tc.ConnectionState()
	sc.tls = &state
	sc.isTLS.Store(true)
	return tc, true
}

// errTLSRequired answers the requests of a plain connection to a server that requires TLS.
var errTLSRequired = &wire.Error{Code: wire.ESSL, Text: "The server requires TLS: connect with ChannelOptions.TLS set"}

// readerConn is a connection whose first bytes were peeked: reads go through the buffer.
type readerConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *readerConn) Read(b []byte) (int, error) { return c.r.Read(b) }
