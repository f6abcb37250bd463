package wire

import (
	"context"
	"strconv"
	"syscall"
)

// Errno is a brpc error code: the numbers of brpc's errno.proto (1001 and up) and the Linux errno
// values brpc reports (below 1000, Linux numbers on every platform). Like [syscall.Errno] it is an error by itself; a failure that
// knows more is an [*Error] that wraps one.
//
// errors.Is(err, ERPCTIMEDOUT) is true for a call whose deadline passed, and so is
// errors.Is(err, context.DeadlineExceeded); ECANCELED likewise matches [context.Canceled]. The
// system codes below 1000 match the [syscall.Errno] of the same name.
type Errno int32

// brpc's own error codes (src/brpc/errno.proto).
const (
	ENOSERVICE        Errno = 1001 // the server has no such service
	ENOMETHOD         Errno = 1002 // the server has no such method
	EREQUEST          Errno = 1003 // bad request
	ERPCAUTH          Errno = 1004 // authentication failed
	ETOOMANYFAILS     Errno = 1005 // too many sub-calls of a parallel call failed
	EPCHANFINISH      Errno = 1006 // the parallel call finished; this sub-call was stopped
	EBACKUPREQUEST    Errno = 1007 // time to send a backup request
	ERPCTIMEDOUT      Errno = 1008 // the RPC deadline passed
	EFAILEDSOCKET     Errno = 1009 // the connection broke
	EHTTP             Errno = 1010 // bad HTTP call
	EOVERCROWDED      Errno = 1011 // too much unwritten data on the connection
	ERTMPPUBLISHABLE  Errno = 1012 // RTMP stream is publishable
	ERTMPCREATESTREAM Errno = 1013 // RTMP stream could not be created
	EEOF              Errno = 1014 // the connection was closed by the peer
	EUNUSED           Errno = 1015 // the connection was closed for being idle
	ESSL              Errno = 1016 // SSL error
	EH2RUNOUTSTREAMS  Errno = 1017 // HTTP/2 stream ids exhausted
	EREJECT           Errno = 1018 // rejected by the cluster-recovery policy
	EPROGREADTIMEOUT  Errno = 1019 // progressive read timed out
	EINTERNAL         Errno = 2001 // server internal error
	ERESPONSE         Errno = 2002 // bad response
	ELOGOFF           Errno = 2003 // the server is stopping
	ELIMIT            Errno = 2004 // the server reached its concurrency limit
	ECLOSE            Errno = 2005 // the server closed the connection deliberately
	EITP              Errno = 2006 // ITP error
	ESHUTDOWNWRITE    Errno = 2007 // the write side of the connection is shut down
	ERDMA             Errno = 3001 // RDMA error
	ERDMAMEM          Errno = 3002 // RDMA memory error
)

// The Linux errno values brpc uses and sends. Their numbers are the Linux ones on every platform,
// since they travel in RpcResponseMeta.error_code.
const (
	EPERM        Errno = 1   // operation not permitted (a parallel channel with no sub-channels)
	ENOENT       Errno = 2   // no such entry
	ENOMEM       Errno = 12  // out of memory
	EINVAL       Errno = 22  // invalid argument (misuse)
	EPIPE        Errno = 32  // broken pipe
	ENODATA      Errno = 61  // no server is known
	ENETUNREACH  Errno = 101 // network unreachable
	ECONNRESET   Errno = 104 // connection reset by peer
	ETIMEDOUT    Errno = 110 // connect timed out (not the RPC deadline)
	ECONNREFUSED Errno = 111 // connection refused
	EHOSTDOWN    Errno = 112 // no usable server
	EHOSTUNREACH Errno = 113 // no route to host
	ECANCELED    Errno = 125 // the call was cancelled
)

type errnoInfo struct{ name, desc string }

// errnoTable is a static table: brpc's names and descriptions by code.
func errnoTable(e Errno) (errnoInfo, bool) {
	switch e {
	case ENOSERVICE:
		return errnoInfo{"ENOSERVICE", "no such service"}, true
	case ENOMETHOD:
		return errnoInfo{"ENOMETHOD", "no such method"}, true
	case EREQUEST:
		return errnoInfo{"EREQUEST", "bad request"}, true
	case ERPCAUTH:
		return errnoInfo{"ERPCAUTH", "authentication failed"}, true
	case ETOOMANYFAILS:
		return errnoInfo{"ETOOMANYFAILS", "too many sub-calls failed"}, true
	case EPCHANFINISH:
		return errnoInfo{"EPCHANFINISH", "parallel call finished"}, true
	case EBACKUPREQUEST:
		return errnoInfo{"EBACKUPREQUEST", "sending backup request"}, true
	case ERPCTIMEDOUT:
		return errnoInfo{"ERPCTIMEDOUT", "RPC call timed out"}, true
	case EFAILEDSOCKET:
		return errnoInfo{"EFAILEDSOCKET", "broken connection"}, true
	case EHTTP:
		return errnoInfo{"EHTTP", "bad HTTP call"}, true
	case EOVERCROWDED:
		return errnoInfo{"EOVERCROWDED", "the connection is overcrowded"}, true
	case ERTMPPUBLISHABLE:
		return errnoInfo{"ERTMPPUBLISHABLE", "RTMP stream is publishable"}, true
	case ERTMPCREATESTREAM:
		return errnoInfo{"ERTMPCREATESTREAM", "fail to create RTMP stream"}, true
	case EEOF:
		return errnoInfo{"EEOF", "connection closed by peer"}, true
	case EUNUSED:
		return errnoInfo{"EUNUSED", "idle connection closed"}, true
	case ESSL:
		return errnoInfo{"ESSL", "SSL error"}, true
	case EH2RUNOUTSTREAMS:
		return errnoInfo{"EH2RUNOUTSTREAMS", "HTTP/2 stream ids are exhausted"}, true
	case EREJECT:
		return errnoInfo{"EREJECT", "rejected by the cluster-recovery policy"}, true
	case EPROGREADTIMEOUT:
		return errnoInfo{"EPROGREADTIMEOUT", "progressive read timed out"}, true
	case EINTERNAL:
		return errnoInfo{"EINTERNAL", "server internal error"}, true
	case ERESPONSE:
		return errnoInfo{"ERESPONSE", "bad response"}, true
	case ELOGOFF:
		return errnoInfo{"ELOGOFF", "server is stopping"}, true
	case ELIMIT:
		return errnoInfo{"ELIMIT", "server reached its concurrency limit"}, true
	case ECLOSE:
		return errnoInfo{"ECLOSE", "connection closed by server"}, true
	case EITP:
		return errnoInfo{"EITP", "ITP error"}, true
	case ESHUTDOWNWRITE:
		return errnoInfo{"ESHUTDOWNWRITE", "write side is shut down"}, true
	case ERDMA:
		return errnoInfo{"ERDMA", "RDMA error"}, true
	case ERDMAMEM:
		return errnoInfo{"ERDMAMEM", "RDMA memory error"}, true
	}
	return sysErrnoTable(e)
}

func sysErrnoTable(e Errno) (errnoInfo, bool) {
	switch e {
	case EPERM:
		return errnoInfo{"EPERM", "operation not permitted"}, true
	case ENOENT:
		return errnoInfo{"ENOENT", "no such entry"}, true
	case ENOMEM:
		return errnoInfo{"ENOMEM", "out of memory"}, true
	case EINVAL:
		return errnoInfo{"EINVAL", "invalid argument"}, true
	case EPIPE:
		return errnoInfo{"EPIPE", "broken pipe"}, true
	case ENODATA:
		return errnoInfo{"ENODATA", "no server available"}, true
	case ENETUNREACH:
		return errnoInfo{"ENETUNREACH", "network is unreachable"}, true
	case ECONNRESET:
		return errnoInfo{"ECONNRESET", "connection reset by peer"}, true
	case ETIMEDOUT:
		return errnoInfo{"ETIMEDOUT", "connect timed out"}, true
	case ECONNREFUSED:
		return errnoInfo{"ECONNREFUSED", "connection refused"}, true
	case EHOSTDOWN:
		return errnoInfo{"EHOSTDOWN", "no usable server"}, true
	case EHOSTUNREACH:
		return errnoInfo{"EHOSTUNREACH", "no route to host"}, true
	case ECANCELED:
		return errnoInfo{"ECANCELED", "operation canceled"}, true
	}
	return errnoInfo{}, false
}

// Name returns brpc's name for the code, such as "ERPCTIMEDOUT", or "E<number>" for a code brpc
// does not name (an application's own code).
func (e Errno) Name() string {
	if in, ok := errnoTable(e); ok {
		return in.name
	}
	return "E" + strconv.Itoa(int(e))
}

// String returns [Errno.Name].
func (e Errno) String() string { return e.Name() }

// Error describes the code, as "RPC call timed out [ERPCTIMEDOUT 1008]".
func (e Errno) Error() string {
	in, ok := errnoTable(e)
	if !ok {
		return "error code " + strconv.Itoa(int(e))
	}
	return in.desc + " [" + in.name + " " + strconv.Itoa(int(e)) + "]"
}

// Known reports whether the code is one of brpc's or one of the system codes brpc uses.
func (e Errno) Known() bool {
	_, ok := errnoTable(e)
	return ok
}

// Is makes ERPCTIMEDOUT match [context.DeadlineExceeded], ECANCELED match [context.Canceled], and
// a system code match the platform's [syscall.Errno] of the same name.
func (e Errno) Is(target error) bool {
	switch target {
	case context.DeadlineExceeded:
		return e == ERPCTIMEDOUT
	case context.Canceled:
		return e == ECANCELED
	}
	if se, ok := target.(syscall.Errno); ok {
		mine, ok := toSyscall(e)
		return ok && mine == se
	}
	return false
}

// Timeout reports whether the code means a deadline passed (the RPC's or a connect's).
func (e Errno) Timeout() bool { return e == ERPCTIMEDOUT || e == ETIMEDOUT }

// Temporary reports whether brpc's default retry policy would retry a call that failed with this
// code: a connection problem or an overloaded or stopping server, never a timeout, a bad request
// or an application error.
func (e Errno) Temporary() bool {
	switch e {
	case EFAILEDSOCKET, EEOF, EHOSTDOWN, ELOGOFF, ETIMEDOUT, ELIMIT, ENOENT, EPIPE,
		ECONNREFUSED, ECONNRESET, ENODATA, EOVERCROWDED, EH2RUNOUTSTREAMS:
		return true
	}
	return false
}
