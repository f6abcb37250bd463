package actors

import (
	"errors"
	"fmt"

	"github.com/troupe-rpc/troupe/wire"
)

// The request memory budget: a server counts the bytes held by the requests it has read and not
// done with, in Server.reqMem, from when each is read until its handler returns:
//
//   - its frame, and as much again for the message parsed from its payload, when it is read; a
//     request that finds the budget spent is answered ELIMIT at once and its frame dropped;
//   - if compressed, the buffer its payload decompresses into, as that buffer is allocated (sized
//     from gzip's announced length, or grown by doubling; see wire.DecompressBudget), and as
//     much as the decompressed bytes for the message parsed from them. A decompression that
//     the budget cannot grant stops there and answers ELIMIT.
//
// What a handler allocates, and the garbage a growing buffer leaves behind, are not counted. So
// the memory requests hold is about MaxRequestMemory at most, plus the frames the connections'
// readers are reading at the moment (each at most MaxBodySize).

// Defaults of the limits in ServerOptions.
const (
	defaultMaxUnwrittenBytes     = 64 << 20
	defaultMaxRequestMemory      = 256 << 20
	defaultMaxConnectionRequests = 1024
)

// setLimits checks the limits in o and fills in their defaults; MaxBodySize is set already.
func (o *ServerOptions) setLimits() error {
	invalid := func(field string, v any, want string) error {
		return fmt.Errorf("troupe: ServerOptions.%s = %v, want %s: %w", field, v, want, wire.EINVAL)
	}
	switch {
	case o.MaxConnections < 0:
		return invalid("MaxConnections", o.MaxConnections, ">= 0")
	case o.IdleTimeout < 0:
		return invalid("IdleTimeout", o.IdleTimeout, ">= 0")
	case o.MaxConnectionRequests < 0:
		return invalid("MaxConnectionRequests", o.MaxConnectionRequests, ">= 0")
	case o.MaxRequestMemory > 0 && o.MaxRequestMemory < int64(o.MaxBodySize):
		return invalid("MaxRequestMemory", o.MaxRequestMemory,
			fmt.Sprintf(">= MaxBodySize (%d), 0 for the default or < 0 for none", o.MaxBodySize))
	}
	if o.MaxUnwrittenBytes == 0 {
		o.MaxUnwrittenBytes = defaultMaxUnwrittenBytes
	}
	if o.MaxRequestMemory == 0 {
		o.MaxRequestMemory = max(defaultMaxRequestMemory, int64(o.MaxBodySize))
	}
	if o.MaxConnectionRequests == 0 {
		o.MaxConnectionRequests = defaultMaxConnectionRequests
	}
	return nil
}

// holdRequest counts a request's frame into the budget, or answers ELIMIT when the budget is
// spent.
func (s *Server) holdRequest(f *wire.Frame) *wire.Error {
	limit := s.opts.MaxRequestMemory
	if limit < 0 {
		return nil
	}
	n := int64(len(f.Body) + len(f.Payload))
	if s.reqMem.Add(n) <= limit {
		return nil
	}
	s.reqMem.Add(-n)
	s.warnLimited(&s.budgetLog, "troupe: request memory budget spent, answering ELIMIT",
		"max_request_memory", limit, "frame_bytes", n)
	return s.budgetError()
}

// dropRequest gives back what a request held: its frame, its decompressed payload and the
// estimates of their parsed messages.
func (s *Server) dropRequest(f *wire.Frame, inflated int64) {
	if s.opts.MaxRequestMemory >= 0 {
		s.reqMem.Add(-int64(len(f.Body)+len(f.Payload)) - inflated)
	}
}

func (s *Server) budgetError() *wire.Error {
	return &wire.Error{Code: wire.ELIMIT, Text: fmt.Sprintf("request memory budget of %d bytes (ServerOptions.MaxRequestMemory) exceeded",
		s.opts.MaxRequestMemory)}
}

// inflate decompresses a request's payload within MaxBodySize and what is left of the budget,
// counting what it produced in hc.inflated (given back when the handler returns).
func (sc *serverConn) inflate(hc *handlerCtx, f *wire.Frame) ([]byte, *wire.Error) {
	s := sc.srv
	var take func(int) bool
	if limit := s.opts.MaxRequestMemory; limit >= 0 {
		take = func(n int) bool {
			if s.reqMem.Add(int64(n)) > limit {
				s.reqMem.Add(-int64(n))
				return false
			}
			hc.inflated += int64(n)
			return true
		}
	}
	payload, err := wire.DecompressBudget(nil, f.Payload, f.Meta.CompressType, s.opts.MaxBodySize, take)
	if err == nil && take != nil && !take(len(payload)) { // the message parsed from it
		err = wire.ErrBudget
	}
	if errors.Is(err, wire.ErrBudget) {
		s.warnLimited(&s.budgetLog, "troupe: request memory budget exceeded by a decompression, answering ELIMIT",
			"max_request_memory", s.opts.MaxRequestMemory, "method", hc.call.method)
		werr := s.budgetError()
		werr.Text = "Fail to decompress request: " + werr.Text
		return nil, werr
	}
	if err != nil {
		return nil, &wire.Error{Code: wire.EREQUEST, Text: "Fail to decompress request: " + err.Error()}
	}
	return payload, nil
}
