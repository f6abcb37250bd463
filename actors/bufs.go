package actors

import (
	"math/bits"
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
// frames queued at once and goes back to the large buffers' pool once emptied, if it grew large.
const initialOutSize = 1 << 10

// frameBuf holds an encoded frame; the pointer travels so that pooling it allocates nothing.
type frameBuf struct{ b []byte }

var bufPool = sync.Pool{New: func() any { return &frameBuf{b: make([]byte, 0, 512)} }}

func getBuf() *frameBuf {
	fb := bufPool.Get().(*frameBuf)
	fb.b = fb.b[:0]
	return fb
}

// getBufFor returns an empty frame buffer that holds n bytes without growing: a pooled small one,
// or one whose storage comes from the large buffers' pool.
func getBufFor(n int) *frameBuf {
	return fitLarge(getBuf(), n)
}

// fitLarge gives fb storage for n bytes from the large buffers' pool when n is large and fb's
// own storage too small.
func fitLarge(fb *frameBuf, n int) *frameBuf {
	if n > cap(fb.b) && n > maxPooledBuf {
		fb.b = getLarge(n)[:0]
	}
	return fb
}

// payloadPool holds the buffers calls encode their requests into; a call returns its buffer when
// it completes, since every attempt copies the payload into a frame of its own.
var payloadPool = sync.Pool{New: func() any { return &frameBuf{b: make([]byte, 0, 256)} }}

// getPayload and putPayload take and return a payloadPool buffer.
func getPayload() *frameBuf { return payloadPool.Get().(*frameBuf) }

func putPayload(pb *frameBuf) {
	if pb != nil {
		payloadPool.Put(shedLarge(pb, 256))
	}
}

// shedLarge gives a large buffer's storage back to the large buffers' pool, leaving fb with a
// small one of capacity small, so that fb can go back to its own pool.
func shedLarge(fb *frameBuf, small int) *frameBuf {
	if cap(fb.b) > maxPooledBuf {
		putLarge(fb.b)
		fb.b = make([]byte, 0, small)
	}
	return fb
}

// getPayloadFor returns a payloadPool buffer that holds n bytes without growing.
func getPayloadFor(n int) *frameBuf {
	return fitLarge(getPayload(), n)
}

func putBuf(fb *frameBuf) {
	if fb != nil {
		bufPool.Put(shedLarge(fb, 512))
	}
}

// Large buffers — request and response frames, payloads and response bodies over maxPooledBuf —
// come from pools by size, so that a stream of large messages neither allocates nor zeroes
// megabytes per call, nor makes the collector run once every call or two. The sizes go up in
// quarters of a power of two (80, 96, 112, 128, 160 KiB…), so a buffer is at most a quarter
// larger than asked for. A buffer goes back to the pool of the largest size its capacity
// covers; the pools hold only what the collector has not reclaimed, as any sync.Pool does.
const (
	minLargeShift = 16 // 64 KiB, maxPooledBuf: the sizes start a quarter above it
	maxLargeShift = 26 // 64 MiB: wire.DefaultMaxBodySize; larger buffers are not pooled
)

var largePools [(maxLargeShift-minLargeShift)*4 + 1]sync.Pool

// largeClass returns the pool of the smallest size that holds n bytes, and that size; ok is false
// when n is beyond the largest.
func largeClass(n int) (class, size int, ok bool) {
	if n <= 1<<minLargeShift {
		return 0, 1 << minLargeShift, true
	}
	k := bits.Len(uint(n-1)) - 1 // 1<<k < n <= 1<<(k+1)
	step := 1 << (k - 2)
	q := (n - 1<<k + step - 1) / step // 1..4 quarters above 1<<k
	class = (k-minLargeShift)*4 + q
	if class >= len(largePools) {
		return 0, 0, false
	}
	return class, 1<<k + q*step, true
}

// getLarge returns a slice of length n whose storage may have been used before: its contents are
// not zeroed.
func getLarge(n int) []byte {
	class, size, ok := largeClass(n)
	if !ok {
		return make([]byte, n)
	}
	if p, ok := largePools[class].Get().(*[]byte); ok {
		b := *p
		*p = nil
		largeHeaders.Put(p)
		return b[:n]
	}
	return make([]byte, n, size)
}

// putLarge returns b's storage to the pool of the largest size it covers; b must not be used
// afterwards.
func putLarge(b []byte) {
	c := cap(b)
	if c <= 1<<minLargeShift {
		return
	}
	k := bits.Len(uint(c)) - 1 // 1<<k <= c < 1<<(k+1)
	class := (k-minLargeShift)*4 + (c-1<<k)/(1<<(k-2))
	if class == 0 || class >= len(largePools) { // class 0 is never asked for: smaller than any size
		return
	}
	p, _ := largeHeaders.Get().(*[]byte)
	if p == nil {
		p = new([]byte)
	}
	*p = b[:0]
	largePools[class].Put(p)
}

// allocBody is the allocator of the bodies a client's readers read: a large one comes from the
// large buffers' pool, and goes back to it with its inbound.
func allocBody(n int) []byte {
	if n > maxPooledBuf {
		return getLarge(n)
	}
	return make([]byte, n)
}

// largeHeaders recycles the slice headers that carry large buffers through their pools, so that
// pooling one allocates nothing.
var largeHeaders sync.Pool

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
		putLarge(in.frame.Body)
		in.frame.Body = nil
	}
	in.err = nil
	inboundPool.Put(in)
}

// requestFrames recycles the frames a server reads requests into, with their bodies when they
// are small: a frame is the server's again once its handler returned, since the request's
// message was parsed into fresh memory and its ServerCall, the only way to the frame, must not
// be used after that.
var requestFrames sync.Pool

// maxKeptBody is the largest body a recycled request frame keeps for the next request.
const maxKeptBody = 4 << 10

func getRequestFrame() *wire.Frame {
	if f, ok := requestFrames.Get().(*wire.Frame); ok {
		return f
	}
	return new(wire.Frame)
}

// putRequestFrame recycles f, whose body nothing uses any more: a large one goes back to its
// pool, a small one stays with the frame for the next request.
func putRequestFrame(f *wire.Frame) {
	body := f.Body
	switch {
	case cap(body) > maxPooledBuf:
		putLarge(body)
		body = nil
	case cap(body) > maxKeptBody:
		body = nil
	}
	*f = wire.Frame{Body: body[:0]}
	requestFrames.Put(f)
}
