// Package pechoservice is brpc's parallel example EchoService (example/parallel_echo_c++) for a
// troupe [actors.Server]: Echo answers with the request's value and, if asked, its attachment.
// examples/parallel_echo/server runs it, and the parallel_echo client's tests call it. It links
// pechopb, never wire/echopb: both define example.EchoRequest.
package pechoservice

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/examples/parallel_echo/pechopb"
)

// Method is the full name of the echo method, the same as the string echo's.
const Method = pechopb.EchoService_Echo_FullMethodName

// Service answers Echo with the request's value. EchoAttachment may be set before the server
// starts; the counter is safe for concurrent use.
type Service struct {
	// EchoAttachment sends the request attachment back as the response attachment (brpc's
	// -echo_attachment, on by default there).
	EchoAttachment bool

	requests atomic.Int64
}

// Register adds the service's Echo method to srv.
func (s *Service) Register(srv *actors.Server) error {
	return pechopb.RegisterEchoServiceServer(srv, s)
}

// Echo answers req with response.value = request.value, as brpc's parallel_echo_server does.
func (s *Service) Echo(ctx context.Context, req *pechopb.EchoRequest) (*pechopb.EchoResponse, error) {
	s.requests.Add(1)
	if call := actors.ServerCallFromContext(ctx); s.EchoAttachment && call != nil {
		call.SetResponseAttachment(call.RequestAttachment())
	}
	return &pechopb.EchoResponse{Value: proto.Int32(req.GetValue())}, nil
}

// Requests returns how many requests the service has received.
func (s *Service) Requests() int64 { return s.requests.Load() }

// Options configure [Start], as brpc's parallel_echo_server flags configure its server.
type Options struct {
	// EchoAttachment is [Service.EchoAttachment] (brpc's -echo_attachment; default false here,
	// true in brpc's flag).
	EchoAttachment bool
	// IdleTimeout closes connections idle that long (brpc's -idle_timeout_s; 0, the default,
	// never does).
	IdleTimeout time.Duration
	// MaxConcurrency bounds the requests handled at once (brpc's -max_concurrency; 0, the
	// default, means no limit).
	MaxConcurrency int
	// Logger receives the server's warnings; nil discards them.
	Logger *slog.Logger
}

// Start starts a server answering Echo on addr ("host:port"; port 0 picks one) and returns it,
// its service and the address it listens on. The caller shuts the server down.
func Start(addr string, o Options) (*actors.Server, *Service, net.Addr, error) {
	srv, err := actors.NewServer(&actors.ServerOptions{
		MaxConcurrency: o.MaxConcurrency,
		IdleTimeout:    o.IdleTimeout,
		Logger:         o.Logger,
	})
	if err != nil {
		return nil, nil, nil, err
	}
	svc := &Service{EchoAttachment: o.EchoAttachment}
	if err := svc.Register(srv); err != nil {
		srv.Shutdown(context.Background())
		return nil, nil, nil, err
	}
	bound, err := srv.Listen(addr)
	if err != nil {
		srv.Shutdown(context.Background())
		return nil, nil, nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return srv, svc, bound, nil
}
