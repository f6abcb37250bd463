package wire_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/troupe-rpc/troupe/wire"
)

// errnos is every code the package names, with brpc's number and name.
var errnos = []struct {
	code wire.Errno
	num  int32
	name string
}{
	{wire.ENOSERVICE, 1001, "ENOSERVICE"},
	{wire.ENOMETHOD, 1002, "ENOMETHOD"},
	{wire.EREQUEST, 1003, "EREQUEST"},
	{wire.ERPCAUTH, 1004, "ERPCAUTH"},
	{wire.ETOOMANYFAILS, 1005, "ETOOMANYFAILS"},
	{wire.EPCHANFINISH, 1006, "EPCHANFINISH"},
	{wire.EBACKUPREQUEST, 1007, "EBACKUPREQUEST"},
	{wire.ERPCTIMEDOUT, 1008, "ERPCTIMEDOUT"},
	{wire.EFAILEDSOCKET, 1009, "EFAILEDSOCKET"},
	{wire.EHTTP, 1010, "EHTTP"},
	{wire.EOVERCROWDED, 1011, "EOVERCROWDED"},
	{wire.ERTMPPUBLISHABLE, 1012, "ERTMPPUBLISHABLE"},
	{wire.ERTMPCREATESTREAM, 1013, "ERTMPCREATESTREAM"},
	{wire.EEOF, 1014, "EEOF"},
	{wire.EUNUSED, 1015, "EUNUSED"},
	{wire.ESSL, 1016, "ESSL"},
	{wire.EH2RUNOUTSTREAMS, 1017, "EH2RUNOUTSTREAMS"},
	{wire.EREJECT, 1018, "EREJECT"},
	{wire.EPROGREADTIMEOUT, 1019, "EPROGREADTIMEOUT"},
	{wire.EINTERNAL, 2001, "EINTERNAL"},
	{wire.ERESPONSE, 2002, "ERESPONSE"},
	{wire.ELOGOFF, 2003, "ELOGOFF"},
	{wire.ELIMIT, 2004, "ELIMIT"},
	{wire.ECLOSE, 2005, "ECLOSE"},
	{wire.EITP, 2006, "EITP"},
	{wire.ESHUTDOWNWRITE, 2007, "ESHUTDOWNWRITE"},
	{wire.ERDMA, 3001, "ERDMA"},
	{wire.ERDMAMEM, 3002, "ERDMAMEM"},
	{wire.EPERM, 1, "EPERM"},
	{wire.ENOENT, 2, "ENOENT"},
	{wire.ENOMEM, 12, "ENOMEM"},
	{wire.EINVAL, 22, "EINVAL"},
	{wire.EPIPE, 32, "EPIPE"},
	{wire.ENODATA, 61, "ENODATA"},
	{wire.ENETUNREACH, 101, "ENETUNREACH"},
	{wire.ECONNRESET, 104, "ECONNRESET"},
	{wire.ETIMEDOUT, 110, "ETIMEDOUT"},
	{wire.ECONNREFUSED, 111, "ECONNREFUSED"},
	{wire.EHOSTDOWN, 112, "EHOSTDOWN"},
	{wire.EHOSTUNREACH, 113, "EHOSTUNREACH"},
	{wire.ECANCELED, 125, "ECANCELED"},
}

func TestErrnoTable(t *testing.T) {
	seen := make(map[wire.Errno]string)
	for _, tt := range errnos {
		if int32(tt.code) != tt.num {
			t.Errorf("%s = %d, want %d", tt.name, int32(tt.code), tt.num)
		}
		if got := tt.code.Name(); got != tt.name {
			t.Errorf("Errno(%d).Name() = %q, want %q", tt.num, got, tt.name)
		}
		if got := tt.code.String(); got != tt.name {
			t.Errorf("Errno(%d).String() = %q, want %q", tt.num, got, tt.name)
		}
		if got := fmt.Sprint(tt.code); !strings.Contains(got, tt.name) {
			t.Errorf("fmt.Sprint(Errno(%d)) = %q, want it to contain %q", tt.num, got, tt.name)
		}
		if got, want := tt.code.Error(), fmt.Sprintf(" [%s %d]", tt.name, tt.num); !strings.HasSuffix(got, want) || len(got) == len(want) {
			t.Errorf("Errno(%d).Error() = %q, want a description and the suffix %q", tt.num, got, want)
		}
		if !tt.code.Known() {
			t.Errorf("Errno(%d).Known() = false, want true", tt.num)
		}
		if prev, dup := seen[tt.code]; dup {
			t.Errorf("%s and %s are both %d", prev, tt.name, tt.num)
		}
		seen[tt.code] = tt.name
	}
	if got, want := wire.ERPCTIMEDOUT.Error(), "RPC call timed out [ERPCTIMEDOUT 1008]"; got != want {
		t.Errorf("ERPCTIMEDOUT.Error() = %q, want %q", got, want)
	}
}

func TestErrnoUnknown(t *testing.T) {
	for _, code := range []wire.Errno{0, 3, 999, 1000, 1020, 5000, -1} {
		want := fmt.Sprintf("E%d", int32(code))
		if got := code.Name(); got != want {
			t.Errorf("Errno(%d).Name() = %q, want %q", int32(code), got, want)
		}
		if code.Known() {
			t.Errorf("Errno(%d).Known() = true, want false", int32(code))
		}
		if got, want := code.Error(), fmt.Sprintf("error code %d", int32(code)); got != want {
			t.Errorf("Errno(%d).Error() = %q, want %q", int32(code), got, want)
		}
		if code.Temporary() || code.Timeout() {
			t.Errorf("Errno(%d).Temporary(), Timeout() = %v, %v, want false, false", int32(code), code.Temporary(), code.Timeout())
		}
	}
}

func TestErrnoTemporary(t *testing.T) {
	// brpc's default RetryPolicy retries these and nothing else.
	retried := map[wire.Errno]bool{
		wire.EFAILEDSOCKET: true, wire.EEOF: true, wire.EHOSTDOWN: true, wire.ELOGOFF: true,
		wire.ETIMEDOUT: true, wire.ELIMIT: true, wire.ENOENT: true, wire.EPIPE: true,
		wire.ECONNREFUSED: true, wire.ECONNRESET: true, wire.ENODATA: true, wire.EOVERCROWDED: true,
		wire.EH2RUNOUTSTREAMS: true,
	}
	for _, tt := range errnos {
		if got, want := tt.code.Temporary(), retried[tt.code]; got != want {
			t.Errorf("%s.Temporary() = %v, want %v", tt.name, got, want)
		}
	}
	for _, code := range []wire.Errno{wire.ERPCTIMEDOUT, wire.ECANCELED, wire.EREQUEST, wire.EINTERNAL, wire.EREJECT} {
		if code.Temporary() {
			t.Errorf("%s.Temporary() = true, want false", code.Name())
		}
	}
}

func TestErrnoTimeout(t *testing.T) {
	for _, tt := range errnos {
		want := tt.code == wire.ERPCTIMEDOUT || tt.code == wire.ETIMEDOUT
		if got := tt.code.Timeout(); got != want {
			t.Errorf("%s.Timeout() = %v, want %v", tt.name, got, want)
		}
	}
}

func TestErrorIs(t *testing.T) {
	timeout := &wire.Error{Code: wire.ERPCTIMEDOUT, Text: "Reached timeout=500ms", Method: "example.EchoService.Echo", Addr: "127.0.0.1:8000"}
	cause := errors.New("the cause")
	tests := []struct {
		name   string
		err    error
		target error
		want   bool
	}{
		{"timeout is its code", timeout, wire.ERPCTIMEDOUT, true},
		{"timeout is DeadlineExceeded", timeout, context.DeadlineExceeded, true},
		{"timeout is not Canceled", timeout, context.Canceled, false},
		{"timeout is not ETIMEDOUT", timeout, wire.ETIMEDOUT, false},
		{"wrapped timeout is its code", fmt.Errorf("call: %w", timeout), wire.ERPCTIMEDOUT, true},
		{"wrapped timeout is DeadlineExceeded", fmt.Errorf("call: %w", timeout), context.DeadlineExceeded, true},
		{"bare ERPCTIMEDOUT is DeadlineExceeded", wire.ERPCTIMEDOUT, context.DeadlineExceeded, true},
		{"ECANCELED is Canceled", wire.ECANCELED, context.Canceled, true},
		{"Error with ECANCELED is Canceled", &wire.Error{Code: wire.ECANCELED}, context.Canceled, true},
		{"ECANCELED is not DeadlineExceeded", wire.ECANCELED, context.DeadlineExceeded, false},
		{"ECONNREFUSED is syscall.ECONNREFUSED", wire.ECONNREFUSED, syscall.ECONNREFUSED, true},
		{"ECONNRESET is syscall.ECONNRESET", &wire.Error{Code: wire.ECONNRESET}, syscall.ECONNRESET, true},
		{"ECONNREFUSED is not syscall.ECONNRESET", wire.ECONNREFUSED, syscall.ECONNRESET, false},
		{"brpc code is no syscall.Errno", wire.Errno(1002), syscall.Errno(1002), false},
		{"Error reaches its cause", &wire.Error{Code: wire.EINTERNAL, Err: cause}, cause, true},
		{"Error reaches its code next to a cause", &wire.Error{Code: wire.EINTERNAL, Err: cause}, wire.EINTERNAL, true},
		{"Error with a cause is not another code", &wire.Error{Code: wire.EINTERNAL, Err: cause}, wire.ELIMIT, false},
		{"Error reaches a wrapped io.EOF", &wire.Error{Code: wire.EEOF, Err: fmt.Errorf("read: %w", io.EOF)}, io.EOF, true},
	}
	for _, tt := range tests {
		if got := errors.Is(tt.err, tt.target); got != tt.want {
			t.Errorf("%s: errors.Is(%v, %v) = %v, want %v", tt.name, tt.err, tt.target, got, tt.want)
		}
	}
}

func TestErrorAs(t *testing.T) {
	orig := &wire.Error{Code: wire.ELIMIT, Text: "max concurrency reached", Err: os.ErrClosed}
	err := fmt.Errorf("attempt 2: %w", orig)

	var we *wire.Error
	if !errors.As(err, &we) || we != orig {
		t.Errorf("errors.As(%v, *wire.Error) = %v, %p, want true, %p", err, we != nil, we, orig)
	}
	var code wire.Errno
	if !errors.As(err, &code) || code != wire.ELIMIT {
		t.Errorf("errors.As(%v, Errno) = %v, want ELIMIT", err, code)
	}
	var perr *os.PathError
	if errors.As(err, &perr) {
		t.Errorf("errors.As(%v, *os.PathError) = true, want false", err)
	}
	code = 0
	if !errors.As(fmt.Errorf("x: %w", wire.EEOF), &code) || code != wire.EEOF {
		t.Errorf("errors.As(wrapped EEOF, Errno) = %v, want EEOF", code)
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		name string
		err  *wire.Error
		want []string // substrings, in order
		not  []string
	}{
		{
			name: "brpc's format with method and address",
			err:  &wire.Error{Code: wire.ERPCTIMEDOUT, Text: "Reached timeout=500ms", Method: "example.EchoService.Echo", Addr: "127.0.0.1:8000"},
			want: []string{"example.EchoService.Echo", "127.0.0.1:8000", "[E1008]Reached timeout=500ms"},
		},
		{
			name: "bare code uses brpc's description",
			err:  &wire.Error{Code: wire.ENOMETHOD},
			want: []string{"[E1002]no such method"},
		},
		{
			name: "cause appended",
			err:  &wire.Error{Code: wire.EFAILEDSOCKET, Text: "write failed", Err: errors.New("broken pipe")},
			want: []string{"[E1009]write failed", "broken pipe"},
		},
		{
			name: "cause not repeated when the text says it",
			err:  &wire.Error{Code: wire.EFAILEDSOCKET, Text: "write failed: broken pipe", Err: errors.New("broken pipe")},
			want: []string{"[E1009]write failed: broken pipe"},
			not:  []string{"broken pipe: broken pipe"},
		},
		{
			name: "application code",
			err:  &wire.Error{Code: 12345, Text: "app says no", Remote: true},
			want: []string{"[E12345]app says no"},
		},
		{
			name: "Errorf",
			err:  wire.Errorf(wire.EREQUEST, "bad request body"),
			want: []string{"[E1003]bad request body"},
		},
	}
	for _, tt := range tests {
		got := tt.err.Error()
		rest := got
		for _, w := range tt.want {
			i := strings.Index(rest, w)
			if i < 0 {
				t.Errorf("%s: Error() = %q, want %q in it (in order)", tt.name, got, w)
				break
			}
			rest = rest[i+len(w):]
		}
		for _, n := range tt.not {
			if strings.Contains(got, n) {
				t.Errorf("%s: Error() = %q, want no %q in it", tt.name, got, n)
			}
		}
	}
	if e := wire.Errorf(wire.EREQUEST, "x"); e.Code != wire.EREQUEST || e.Text != "x" || e.Remote || e.Err != nil {
		t.Errorf("Errorf(EREQUEST, %q) = %+v, want Code EREQUEST, Text %q", "x", e, "x")
	}
}

// closedPort returns a loopback address on which nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("net.Listen = %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatalf("Listener.Close = %v", err)
	}
	return addr
}

func TestErrnoOf(t *testing.T) {
	addr := closedPort(t)
	conn, dialErr := net.Dial("tcp", addr)
	if dialErr == nil {
		conn.Close()
		t.Fatalf("net.Dial(%s) succeeded, want connection refused", addr)
	}

	d := net.Dialer{Deadline: time.Now().Add(-time.Second)}
	_, dialTimeout := d.Dial("tcp", addr)
	if !errors.Is(dialTimeout, context.DeadlineExceeded) {
		t.Fatalf("a dial past its deadline = %v, want an error matching context.DeadlineExceeded", dialTimeout)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		err  error
		want wire.Errno
	}{
		{"nil", nil, 0},
		{"*Error", &wire.Error{Code: wire.ENOMETHOD}, wire.ENOMETHOD},
		{"wrapped *Error", fmt.Errorf("x: %w", &wire.Error{Code: wire.ELOGOFF}), wire.ELOGOFF},
		{"*Error with a timeout cause keeps its code", &wire.Error{Code: wire.EFAILEDSOCKET, Err: context.DeadlineExceeded}, wire.EFAILEDSOCKET},
		{"application code", &wire.Error{Code: 12345}, 12345},
		{"Errno", wire.EREQUEST, wire.EREQUEST},
		{"wrapped Errno", fmt.Errorf("x: %w", wire.EOVERCROWDED), wire.EOVERCROWDED},
		{"DeadlineExceeded", context.DeadlineExceeded, wire.ERPCTIMEDOUT},
		{"Canceled", context.Canceled, wire.ECANCELED},
		{"ctx.Err() after cancel", ctx.Err(), wire.ECANCELED},
		{"wrapped DeadlineExceeded", fmt.Errorf("x: %w", context.DeadlineExceeded), wire.ERPCTIMEDOUT},
		{"io.EOF", io.EOF, wire.EEOF},
		{"io.ErrUnexpectedEOF", io.ErrUnexpectedEOF, wire.EEOF},
		{"net.ErrClosed", fmt.Errorf("read: %w", net.ErrClosed), wire.EFAILEDSOCKET},
		{"os.ErrDeadlineExceeded", os.ErrDeadlineExceeded, wire.ETIMEDOUT},
		{"dial to a closed port", dialErr, wire.ECONNREFUSED},
		{"dial timeout (also DeadlineExceeded)", dialTimeout, wire.ETIMEDOUT},
		{"syscall.ECONNRESET", &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}, wire.ECONNRESET},
		{"syscall.EPIPE", syscall.EPIPE, wire.EPIPE},
		{"syscall errno brpc does not use", syscall.Errno(5), wire.EFAILEDSOCKET},
		{"net.Error timeout", &net.DNSError{Err: "slow", IsTimeout: true}, wire.ETIMEDOUT},
		{"unknown error", errors.New("something else"), wire.EINTERNAL},
		{"net.Error, not a timeout", &net.DNSError{Err: "no such host", IsNotFound: true}, wire.EINTERNAL},
	}
	for _, tt := range tests {
		if got := wire.ErrnoOf(tt.err); got != tt.want {
			t.Errorf("%s: ErrnoOf(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}
