package actors

import (
	"sync"

	"github.com/troupe-rpc/troupe/wire"
)

// Frame buffers and inbound responses are pooled: a frame is encoded by the caller, copied into
// the socket actor's write buffer and returned; a response frame is read by a socket's reader,
// decoded by its call and returned.

const maxPooledBuf = 64 << 10

// readBufSize is the read buffer of a connection, client or server. A read takes what arrived of
// many small frames at once; a large frame's body is read straight into the frame, past the
// buffer. It is small because an idle connection keeps it: at 64 callers on one connection the
// answers that arrive together fit in it, and a larger buffer measured no faster.
const readBufSize = 4 << 10

// initialOutSize is the first capacity of a connection's write buffer, which grows with the
// frames queued at once and is let go beyond maxIdleOut once emptied.
const initialOutSize = 1 << 10

// frameBuf holds an encoded frame; the pointer travels so that pooling it allocates nothing.
type frameBuf struct{ b []byte }

var bufPool = sync.Pool{New: func() any { return &frameBuf{b: make([]byte, 0, 512)} }}

func getBuf() *frameBuf {
	fb := bufPool.Get().(*frameBuf)
	fb.b = fb.b[:0]
	return fb
}

// payloadPool holds the buffers calls encode their requests into; a call returns its buffer when
// it completes, since every attempt copies the payload into a frame of its own.
var payloadPool = sync.Pool{New: func() any { return &frameBuf{b: make([]byte, 0, 256)} }}

// getPayload and putPayload take and return a payloadPool buffer.
func getPayload() *frameBuf { return payloadPool.Get().(*frameBuf) }

func putPayload(pb *frameBuf) {
	if pb != nil && cap(pb.b) <= maxPooledBuf {
		payloadPool.Put(pb)
	}
}

func putBuf(fb *frameBuf) {
	if fb == nil || cap(fb.b) > maxPooledBuf {
		return
	}
	bufPool.Put(fb)
}

// inbound is a response frame on its way from a socket's reader to its call.
type inbound struct {
	id    int64
	frame wire.Frame
	err   error   // a per-frame decoding problem (attachment size)
	local *string // the local address of the connection it came on
}

// IgnoreDeadLetterLogging: a response may reach a call that just finished.
func (*inbound) IgnoreDeadLetterLogging() {}

var inboundPool = sync.Pool{New: func() any { return new(inbound) }}

func getInbound() *inbound { return inboundPool.Get().(*inbound) }

func putInbound(in *inbound) {
	if cap(in.frame.Body) > maxPooledBuf {
		in.frame.Body = nil
	}
	in.err = nil
	inboundPool.Put(in)
}
