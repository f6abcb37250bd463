package actors

import (
	"fmt"

	"github.com/troupe-rpc/troupe/wire"
)

// Defaults of the write limits of [ChannelOptions], brpc's.
const (
	// DefaultMaxUnwrittenBytes is brpc's -socket_max_unwritten_bytes: 64 MiB.
	DefaultMaxUnwrittenBytes int64 = 64 << 20
	// DefaultMaxBodySize is brpc's -max_body_size: 64 MiB, the same as [wire.DefaultMaxBodySize].
	DefaultMaxBodySize = wire.DefaultMaxBodySize
)

// NoLimit turns off a size limit of [ChannelOptions] (MaxUnwrittenBytes, MaxBodySize); any
// negative value does the same.
const NoLimit = -1

// maxFrameBody is the largest body the frame format can carry: its size field has 32 bits.
const maxFrameBody = 1<<32 - 1

// validateWriteLimits fills the defaults of MaxUnwrittenBytes and MaxBodySize; a negative value
// becomes NoLimit.
func (v *ChannelOptions) validateWriteLimits() error {
	switch {
	case v.MaxUnwrittenBytes == 0:
		v.MaxUnwrittenBytes = DefaultMaxUnwrittenBytes
	case v.MaxUnwrittenBytes < 0:
		v.MaxUnwrittenBytes = NoLimit
	}
	switch {
	case v.MaxBodySize == 0:
		v.MaxBodySize = DefaultMaxBodySize
	case v.MaxBodySize < 0:
		v.MaxBodySize = NoLimit
	case uint64(v.MaxBodySize) > maxFrameBody:
		return wire.Errorf(wire.EINVAL, fmt.Sprintf(
			"troupe: ChannelOptions.MaxBodySize = %d, want at most %d (the frame format's limit) or NoLimit",
			v.MaxBodySize, maxFrameBody))
	}
	return nil
}

// bodyLimit is the largest body a channel with max_body_size n sends or accepts.
func bodyLimit(n int) int {
	if n < 0 {
		return maxFrameBody
	}
	return n
}

// requestTooLarge is the error of a request whose body of n bytes exceeds the channel's
// max_body_size: it is never sent, and never retried.
func (pc *plainCall) requestTooLarge(n int) error {
	return pc.call.Errorf(wire.EREQUEST, nil, "request of %d bytes exceeds max_body_size=%d", n, pc.ch.opts.MaxBodySize)
}

// refuseFrame fails the call whose encoded frame, meta included, exceeds max_body_size: the
// payload and attachment alone fit, the meta tipped it over.
func (pc *plainCall) refuseFrame(at *attempt) {
	n := len(at.frame.b) - wire.HeaderSize
	putBuf(at.frame)
	at.frame = nil
	pc.call.Finish(pc.requestTooLarge(n))
}

// crowdedAlone reports whether err is an EOVERCROWDED that a retry could only meet again: the
// channel has one server, whose connection refused the frame. brpc's default policy retries
// EOVERCROWDED, to another server; on the same connection it would fail again at once.
func (pc *plainCall) crowdedAlone(err error) bool {
	return pc.ch.cluster == nil && wire.ErrnoOf(err) == wire.EOVERCROWDED
}

// crowdedAgain handles a retry whose balancer picked sock again, the server that refused the
// last attempt with EOVERCROWDED: the call ends with EOVERCROWDED.
func (pc *plainCall) crowdedAgain(sock *socket) {
	pc.call.Finish(&wire.Error{Code: wire.EOVERCROWDED, Method: pc.call.Method(), Addr: sock.addr,
		Text: fmt.Sprintf("unwritten bytes exceed max_unwritten_bytes=%d on %s, which refused the last attempt",
			pc.ch.opts.MaxUnwrittenBytes, sock.addr)})
}
