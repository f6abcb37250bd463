package actors

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/wire"
)

// ServerHandler answers a parsed request: a registered method's handler, or the rest of the
// interceptor chain in front of it. Its error is sent as [Handle] describes.
type ServerHandler func(ctx context.Context, req proto.Message) (proto.Message, error)

// ServerInterceptor runs around the handler of every request a [Server] parses: it sees the
// call (its method, [ServerCall.Method], and the rest of the request's RpcMeta), the parsed
// request, and the response and error of handler, which is the rest of the chain. It may call
// handler with another ctx (derived from its own, so that the handler's [ServerCallFromContext]
// still finds the call, and its deadline still applies unless shortened) or another request of
// the same type, change the response or error it returns, set response user fields or an
// attachment on call, or answer without calling handler at all. Its error is sent as [Handle]
// describes a handler's; a panic in it is answered as a handler's panic is (EINTERNAL, logged)
// and the server keeps serving.
//
// An interceptor runs where the handler runs, for requests that parse: a request refused before
// (an unknown method, a concurrency limit, a request that does not parse) reaches none.
type ServerInterceptor func(ctx context.Context, call *ServerCall, req proto.Message, handler ServerHandler) (proto.Message, error)

// checkInterceptors rejects a nil interceptor.
func checkInterceptors(ics []ServerInterceptor) error {
	for i, ic := range ics {
		if ic == nil {
			return fmt.Errorf("troupe: ServerOptions.Interceptors[%d] is nil: %w", i, wire.EINVAL)
		}
	}
	return nil
}

// chain returns h behind the interceptors, the first outermost; h itself when there are none,
// so that a server without interceptors calls its handlers directly. The chain is built once per
// method: a request pays no allocation for it.
func chain(ics []ServerInterceptor, h ServerHandler) ServerHandler {
	for i := len(ics) - 1; i >= 0; i-- {
		ic, next := ics[i], h
		h = func(ctx context.Context, req proto.Message) (proto.Message, error) {
			return ic(ctx, ServerCallFromContext(ctx), req, next)
		}
	}
	return h
}
