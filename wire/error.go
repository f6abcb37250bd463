package wire

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Error is one failed call or attempt: a brpc code with the text that explains it, the method and
// server it concerned, and the error that caused it, if any. The zero Code is not a failure; an
// Error always carries a non-zero one.
//
// errors.Is(err, code) matches its Code, and errors.Is/As also reach Err. Remote tells a code the
// server sent in its response from one troupe made up locally (a timeout, a broken connection).
type Error struct {
	Code   Errno  // brpc's code, never 0
	Text   string // what happened, in brpc's words where brpc has some
	Method string // full method name, "example.EchoService.Echo"; may be empty
	Addr   string // the server, "127.0.0.1:8000"; may be empty
	Remote bool   // the server sent Code in its response
	Err    error  // the cause, if any
}

// Errorf returns an Error with code c and a formatted text; it is a shorthand used throughout
// troupe for locally made errors.
func Errorf(c Errno, text string) *Error { return &Error{Code: c, Text: text} }

// Error formats the failure as brpc does, "[E1008]Reached timeout=500ms", preceded by the method
// and server when they are known and followed by the cause when the text does not already say it.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Method != "" {
		b.WriteString(e.Method)
		b.WriteByte(' ')
	}
	if e.Addr != "" {
		b.WriteString("@")
		b.WriteString(e.Addr)
		b.WriteByte(' ')
	}
	b.WriteString("[E")
	b.WriteString(strconv.Itoa(int(e.Code)))
	b.WriteByte(']')
	text := e.Text
	if text == "" {
		if in, ok := errnoTable(e.Code); ok {
			text = in.desc
		}
	}
	b.WriteString(text)
	if e.Err != nil {
		if cause := e.Err.Error(); !strings.Contains(text, cause) {
			b.WriteString(": ")
			b.WriteString(cause)
		}
	}
	return b.String()
}

// Unwrap returns the code and the cause, so that errors.Is and errors.As see both.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Code}
	}
	return []error{e.Code, e.Err}
}

// ErrnoOf returns the brpc code of err: its own code for an [*Error] or [Errno] anywhere in its
// chain, ETIMEDOUT for a connection attempt that timed out (a [*net.OpError] of a dial, even
// though Go's dial timeout also matches context.DeadlineExceeded), ERPCTIMEDOUT for
// [context.DeadlineExceeded], ECANCELED for [context.Canceled], the
// matching code for a network or system error, EINTERNAL for anything else, and 0 for nil.
func ErrnoOf(err error) Errno {
	if err == nil {
		return 0
	}
	var we *Error
	if errors.As(err, &we) {
		return we.Code
	}
	var e Errno
	if errors.As(err, &e) {
		return e
	}
	return errnoOfForeign(err)
}

func errnoOfForeign(err error) Errno {
	if isDialTimeout(err) {
		return ETIMEDOUT
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return ERPCTIMEDOUT
	case errors.Is(err, context.Canceled):
		return ECANCELED
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return EEOF
	case errors.Is(err, net.ErrClosed):
		return EFAILEDSOCKET
	case errors.Is(err, os.ErrDeadlineExceeded):
		return ETIMEDOUT
	}
	var se syscall.Errno
	if errors.As(err, &se) {
		if c, ok := fromSyscall(se); ok {
			return c
		}
		return EFAILEDSOCKET
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ETIMEDOUT
	}
	return EINTERNAL
}

// isDialTimeout reports whether err is a connection attempt that timed out. Go's dial timeout
// also matches context.DeadlineExceeded, but it is brpc's connect timeout (ETIMEDOUT, retried),
// not the deadline of a call (ERPCTIMEDOUT, never retried).
func isDialTimeout(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial" && oe.Timeout()
}

// sysErrnos pairs the platform's errno values with brpc's (Linux) numbers for the system codes
// troupe reports, so that the mapping holds on every platform.
var sysErrnos = [...]struct {
	sys  syscall.Errno
	code Errno
}{
	{syscall.EPERM, EPERM}, {syscall.ENOENT, ENOENT}, {syscall.ENOMEM, ENOMEM},
	{syscall.EINVAL, EINVAL}, {syscall.EPIPE, EPIPE}, {sysENODATA, ENODATA},
	{syscall.ENETUNREACH, ENETUNREACH}, {syscall.ECONNRESET, ECONNRESET},
	{syscall.ETIMEDOUT, ETIMEDOUT}, {syscall.ECONNREFUSED, ECONNREFUSED},
	{syscall.EHOSTDOWN, EHOSTDOWN}, {syscall.EHOSTUNREACH, EHOSTUNREACH},
	{syscall.ECANCELED, ECANCELED},
}

func fromSyscall(se syscall.Errno) (Errno, bool) {
	for _, p := range sysErrnos {
		if p.sys == se && se != 0 {
			return p.code, true
		}
	}
	return 0, false
}

func toSyscall(e Errno) (syscall.Errno, bool) {
	for _, p := range sysErrnos {
		if p.code == e {
			return p.sys, true
		}
	}
	return 0, false
}
