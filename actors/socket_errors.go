package actors

import (
	"errors"
	"io"

	"github.com/troupe-rpc/troupe/wire"
)

// How a socket reports a connection's failure to the attempts it carried, as brpc does:
//
//   - a connection that could not be made: the dial's code (ECONNREFUSED, ENETUNREACH, …), and
//     ETIMEDOUT ("connect timed out") for a connect timeout, which is not the call's deadline;
//   - a connection the server closed before or in the middle of an answer: EEOF;
//   - an answer stream that cannot be parsed (bad magic, a meta that does not decode, a frame
//     over the size limit, a request frame where an answer was expected): EFAILEDSOCKET, with a
//     text naming what was wrong and quoting at most the four bytes of a bad magic;
//   - any other failure of an open connection: its system code, or EFAILEDSOCKET.
//
// All of them are retried by the default retry policy. A frame that parses but whose answer
// does not (a payload that is not the response type, a bad attachment_size, a checksum that
// does not match) fails only its call, with ERESPONSE: the connection stays in step.

// errRequestAsAnswer is the failure of a connection whose peer sent a request frame (a meta
// with a request part and no response part) where an answer was expected.
var errRequestAsAnswer = errors.New("baidu_std: a request frame arrived where an answer was expected")

// isRequestFrame reports whether m is a request's meta rather than an answer's.
func isRequestFrame(m *wire.Meta) bool {
	return !m.IsResponse && (len(m.Service) > 0 || len(m.Method) > 0)
}

// dialError is the error of the attempts that waited for a connection that could not be made.
func dialError(addr string, err error) *wire.Error {
	if we, ok := err.(*wire.Error); ok { // connect made it: a TLS handshake's, a Dialer's timeout
		return we
	}
	code := wire.ErrnoOf(err)
	text := "Fail to connect " + addr
	switch code {
	case wire.ETIMEDOUT:
		text += ": connect timed out"
	case wire.EINTERNAL:
		code = wire.EFAILEDSOCKET
	}
	return &wire.Error{Code: code, Text: text, Addr: addr, Err: err}
}

// socketError is the error of the attempts pending on a connection that failed while open.
func socketError(addr string, err error) *wire.Error {
	var fe *wire.FrameError
	switch {
	case errors.As(err, &fe) && errors.Is(fe.Kind, wire.ErrTruncated):
		return &wire.Error{Code: wire.EEOF, Text: "Connection to " + addr + " closed in the middle of an answer", Addr: addr, Err: err}
	case fe != nil || errors.Is(err, errRequestAsAnswer):
		return &wire.Error{Code: wire.EFAILEDSOCKET, Text: "Unparsable answer stream from " + addr, Addr: addr, Err: err}
	case errors.Is(err, io.EOF):
		return &wire.Error{Code: wire.EEOF, Text: "Connection to " + addr + " closed by the server", Addr: addr, Err: err}
	case isTLSAlert(err):
		return &wire.Error{Code: wire.ESSL, Text: "TLS connection to " + addr + " refused by the server", Addr: addr, Err: err}
	}
	code := wire.ErrnoOf(err)
	if code == wire.EINTERNAL {
		code = wire.EFAILEDSOCKET
	}
	return &wire.Error{Code: code, Text: "Connection to " + addr + " broke", Addr: addr, Err: err}
}
