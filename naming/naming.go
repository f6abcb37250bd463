package naming

import (
	"context"

	"github.com/troupe-rpc/troupe/lb"
)

// ServerNode is one server a naming service lists: its address, its tag and its weight. The
// same address with different tags is a different instance (brpc's partition channels put one
// server in several partitions that way). It is [lb.ServerNode], so that the load balancers
// that choose among servers need not import naming.
type ServerNode = lb.ServerNode

// Service is a source of server lists.
type Service interface {
	// Watch reports the full server list through update, once as soon as it has a first list
	// (possibly empty) and again each time the list changes, until ctx ends; then it returns
	// ctx.Err(). It returns another error only when the source cannot work at all. A source that
	// fails for a while (an unreadable file, an unreachable etcd) keeps its last good list,
	// reports nothing, and retries. Watch runs on a goroutine the caller owns; update is called on
	// that goroutine and must not block for long. update receives a fresh slice it may keep.
	Watch(ctx context.Context, update func([]ServerNode)) error
}

// Filter decides which servers of a naming service a channel uses (brpc's NamingServiceFilter).
type Filter interface {
	Accept(ServerNode) bool
}

// FilterFunc is a function that is a Filter.
type FilterFunc func(ServerNode) bool

// Accept calls f.
func (f FilterFunc) Accept(n ServerNode) bool { return f(n) }
