// Package echoservice is brpc's example EchoService (example.EchoService.Echo) for a troupe
// [actors.Server], with the knobs brpc's own unit tests and example servers use: a per-server
// delay, echoing the attachment, failing with a chosen code, recording request codes, and counting
// requests. The examples and tests use it; it is also a compact model of a real service.
package echoservice

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// Method is the full name of the echo method.
const Method = "example.EchoService.Echo"

// Service answers Echo with the request's message. Its fields are read on every request and may
// be set before the server starts; the counters are safe for concurrent use.
type Service struct {
	// Index is reported in EchoResponse.server_index, so callers can tell servers apart.
	Index int32
	// Sleep delays every answer (the request's sleep_us field adds to it). A delay ends early when
	// the call's connection closes or the server shuts down.
	Sleep time.Duration
	// EchoAttachment sends the request attachment back as the response attachment.
	EchoAttachment bool
	// IgnoreFailCode answers requests that ask to fail (fail_code) normally, so that one request
	// can fail on some servers of a cluster and succeed on others.
	IgnoreFailCode bool

	requests atomic.Int64
	mu       sync.Mutex
	codes    []int32
}

// Register adds the service's Echo method to srv.
func (s *Service) Register(srv *actors.Server) error {
	return actors.Handle(srv, Method, s.Echo)
}

// Echo answers req: it waits Sleep plus req.sleep_us, fails with req.fail_code when it is set,
// records req.code when it is non-zero, and otherwise returns the message with every code
// recorded so far.
func (s *Service) Echo(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
	s.requests.Add(1)
	if d := s.Sleep + time.Duration(req.GetSleepUs())*time.Microsecond; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, &wire.Error{Code: wire.ELOGOFF, Text: "connection closed while sleeping"}
		}
	}
	if c := req.GetFailCode(); c != 0 && !s.IgnoreFailCode {
		return nil, &wire.Error{Code: wire.Errno(c), Text: "Server fail"}
	}
	call := actors.ServerCallFromContext(ctx)
	if s.EchoAttachment && call != nil {
		call.SetResponseAttachment(call.RequestAttachment())
	}
	resp := &echopb.EchoResponse{Message: proto.String(req.GetMessage()), ServerIndex: proto.Int32(s.Index)}
	if c := req.GetCode(); c != 0 {
		s.mu.Lock()
		s.codes = append(s.codes, c)
		resp.CodeList = append([]int32(nil), s.codes...)
		s.mu.Unlock()
	}
	return resp, nil
}

// Requests returns how many requests the service has received.
func (s *Service) Requests() int64 { return s.requests.Load() }

// Codes returns the non-zero request codes received so far, in arrival order.
func (s *Service) Codes() []int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int32(nil), s.codes...)
}
