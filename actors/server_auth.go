package actors

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/troupe-rpc/troupe/wire"
)

// lingerTime bounds how long a connection refused by authentication is read (and discarded)
// after its answer was sent, so that closing it does not reset the answer away.
const lingerTime = time.Second

// errNoCredential is why a first request without authentication_data is refused.
var errNoCredential = errors.New("no credential in the first request")

// authenticate checks the credential of the connection's first request with the server's
// Authenticator. A refused request is answered with ERPCAUTH and reports false: the connection
// serves nothing else.
func (sc *serverConn) authenticate(f *wire.Frame) bool {
	err := errNoCredential
	if f.Meta.AuthenticationData != nil {
		// A copy: the request's buffer goes back to a pool once its handler returned.
		err = sc.verify(bytes.Clone(f.Meta.AuthenticationData))
	}
	if err == nil {
		sc.authed = true
		return true
	}
	sc.srv.log.Warn("troupe: authentication failed", "remote", sc.conn.RemoteAddr().String(), "err", err)
	sc.reply(f, nil, nil, &wire.Error{Code: wire.ERPCAUTH, Text: "Fail to authenticate: " + err.Error()}, false)
	return false
}

// verify calls the Authenticator, turning a panic into a refusal.
func (sc *serverConn) verify(cred []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("VerifyCredential panicked: %v", r)
		}
	}()
	return sc.srv.opts.Authenticator.VerifyCredential(cred, sc.conn.RemoteAddr())
}

// linger ends a refused connection gracefully: it stops writing (the client reads the refusal,
// then end of stream) and discards what the client still sends, for a short while, before the
// connection is closed. Closing at once with unread requests would reset the connection, and the
// client could lose the refusal.
func (sc *serverConn) linger() {
	if cw, ok := sc.conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = sc.conn.SetReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.Copy(io.Discard, sc.conn)
}
