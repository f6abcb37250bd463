package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
)

// HeaderSize is the length of a baidu_std frame header: "PRPC", body size, meta size.
const HeaderSize = 12

// DefaultMaxBodySize is the largest frame body a [Reader] accepts unless told otherwise; it is
// brpc's -max_body_size.
const DefaultMaxBodySize = 64 << 20

// magic is the first four bytes of every baidu_std frame.
const magic = "PRPC"

// Sentinels matched (errors.Is) by the [*FrameError] a [Reader] returns.
var (
	ErrBadMagic       = errors.New("not a baidu_std frame (bad magic)")
	ErrFrameTooLarge  = errors.New("frame body exceeds the size limit")
	ErrMetaSize       = errors.New("meta_size exceeds body_size")
	ErrTruncated      = errors.New("truncated frame")
	ErrAttachmentSize = errors.New("attachment_size exceeds the payload")
	ErrChecksum       = errors.New("checksum mismatch")
)

// FrameError is a frame a [Reader] could not accept. Kind is one of the sentinels above (or
// [ErrBadMeta]); the connection it came from cannot be trusted any further, except after
// ErrAttachmentSize and ErrChecksum, which concern one frame whose bytes were fully consumed.
type FrameError struct {
	Kind     error
	BodySize uint32 // from the header, when it was read
	MetaSize uint32
	Detail   string
}

// Error describes the frame and what was wrong with it.
func (e *FrameError) Error() string {
	s := "baidu_std: " + e.Kind.Error()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.BodySize != 0 || e.MetaSize != 0 {
		s += fmt.Sprintf(" (body_size=%d meta_size=%d)", e.BodySize, e.MetaSize)
	}
	return s
}

// Unwrap returns Kind.
func (e *FrameError) Unwrap() error { return e.Kind }

// Header is a decoded frame header.
type Header struct {
	BodySize uint32 // meta + payload + attachment
	MetaSize uint32
}

// ParseHeader decodes the first [HeaderSize] bytes of b. It does not allocate.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, &FrameError{Kind: ErrTruncated, Detail: fmt.Sprintf("%d header bytes", len(b))}
	}
	if string(b[:4]) != magic {
		return Header{}, &FrameError{Kind: ErrBadMagic, Detail: fmt.Sprintf("got %q", b[:4])}
	}
	h := Header{BodySize: binary.BigEndian.Uint32(b[4:8]), MetaSize: binary.BigEndian.Uint32(b[8:12])}
	if h.MetaSize > h.BodySize {
		return h, &FrameError{Kind: ErrMetaSize, BodySize: h.BodySize, MetaSize: h.MetaSize}
	}
	return h, nil
}

// Frame is one decoded frame. Meta, Payload and Attachment alias Body.
type Frame struct {
	Meta       Meta
	Body       []byte // meta + payload + attachment
	Payload    []byte // the (possibly compressed) message, without the attachment
	Attachment []byte
}

// AppendFrame appends a whole frame to dst: header, meta, payload, attachment. It sets
// m.AttachmentSize from attachment and, when m.ChecksumType is [ChecksumCRC32C], computes
// m.ChecksumValue. payload must already be compressed as m.CompressType says.
func AppendFrame(dst []byte, m *Meta, payload, attachment []byte) []byte {
	dst = AppendFrameHead(dst, m, payload, attachment)
	dst = append(dst, payload...)
	return append(dst, attachment...)
}

// AppendFrameHead appends what [AppendFrame] writes before the payload: the header and the meta,
// with m.AttachmentSize and the checksum set as AppendFrame sets them. A writer that sends the
// payload and the attachment from their own buffers (a vectored write) sends this first.
func AppendFrameHead(dst []byte, m *Meta, payload, attachment []byte) []byte {
	m.AttachmentSize = int32(len(attachment))
	if m.ChecksumType == ChecksumCRC32C {
		// Fresh storage: the old value may belong to a decoded frame.
		m.ChecksumValue = appendChecksum(make([]byte, 0, 4), payload, attachment, m.ChecksumWithAttachment)
	}
	head := len(dst)
	dst = append(dst, magic...)
	dst = append(dst, 0, 0, 0, 0, 0, 0, 0, 0) // the sizes, once the meta is encoded
	dst = AppendMeta(dst, m)
	metaSize := len(dst) - head - HeaderSize
	binary.BigEndian.PutUint32(dst[head+4:], uint32(metaSize+len(payload)+len(attachment)))
	binary.BigEndian.PutUint32(dst[head+8:], uint32(metaSize))
	return dst
}

// FrameSize returns how many bytes [AppendFrame] appends for m, payload and attachment, with m's
// AttachmentSize as it will be set and a checksum of m.ChecksumType.
func FrameSize(m *Meta, payload, attachment []byte) int {
	sized := *m // m itself is left as it is
	sized.AttachmentSize = int32(len(attachment))
	if sized.ChecksumType == ChecksumCRC32C {
		sized.ChecksumValue = checksumShape
	}
	return HeaderSize + MetaSize(&sized) + len(payload) + len(attachment)
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checksumShape stands for a checksum where only its size matters; it is never written.
var checksumShape = make([]byte, 4)

// appendChecksum appends brpc's checksum of the payload (and attachment): the CRC32C, masked as
// LevelDB masks stored CRCs (rotated right by 15 bits plus 0xa282ead8), in 4 big-endian bytes.
func appendChecksum(dst, payload, attachment []byte, withAttachment bool) []byte {
	sum := crc32.Update(0, castagnoli, payload)
	if withAttachment {
		sum = crc32.Update(sum, castagnoli, attachment)
	}
	masked := (sum>>15 | sum<<17) + 0xa282ead8
	return binary.BigEndian.AppendUint32(dst, masked)
}

// VerifyChecksum checks f against its meta's checksum, if it has one. A frame without a checksum
// type, or with one troupe does not know, passes, as brpc lets it.
func VerifyChecksum(f *Frame) error {
	if f.Meta.ChecksumType != ChecksumCRC32C {
		return nil
	}
	var buf [4]byte
	got := appendChecksum(buf[:0], f.Payload, f.Attachment, f.Meta.ChecksumWithAttachment)
	if string(got) != string(f.Meta.ChecksumValue) {
		return &FrameError{Kind: ErrChecksum, Detail: fmt.Sprintf("computed %x, frame says %x", got, f.Meta.ChecksumValue)}
	}
	return nil
}

// Reader reads frames from a stream. It is not safe for concurrent use.
type Reader struct {
	r       *bufio.Reader
	maxBody uint32
	alloc   func(n int) []byte
}

// NewReader returns a Reader over r that refuses bodies larger than maxBodySize bytes
// (DefaultMaxBodySize when maxBodySize <= 0).
func NewReader(r *bufio.Reader, maxBodySize int) *Reader {
	if maxBodySize <= 0 || uint64(maxBodySize) > 1<<32-1 {
		maxBodySize = DefaultMaxBodySize
	}
	return &Reader{r: r, maxBody: uint32(maxBodySize)}
}

// SetAllocator makes the Reader take the storage of a body that does not fit in the frame's from
// alloc, which returns a slice of length n (its contents need not be zeroed), rather than from
// make: a program that pools its buffers gives them back once done with a frame.
func (r *Reader) SetAllocator(alloc func(n int) []byte) { r.alloc = alloc }

// readChunk bounds how much the Reader allocates ahead of the bytes that actually arrive, so that a
// header claiming a large body costs memory only as the body comes in. A body at most a quarter
// larger is allocated at once: growing a chunk by a few bytes would copy all of it.
const readChunk = 1 << 20

// ReadFrame reads the next frame into f, reusing f.Body's storage when it is large enough. It
// returns io.EOF at a clean end of stream between frames and a [*FrameError] for anything that is
// not a well-formed frame. After an error other than ErrAttachmentSize or ErrChecksum the stream
// is out of step and must be closed.
func (r *Reader) ReadFrame(f *Frame) error {
	// The magic first: garbage is refused after 4 bytes, without waiting for a whole header. A
	// failed Peek is reported here: bufio hands a stream error out once, and a socket that failed
	// (a reset) reads as a clean end afterwards.
	mb, err := r.r.Peek(len(magic))
	if err != nil {
		return r.headerErr(mb, err)
	}
	if string(mb) != magic {
		return &FrameError{Kind: ErrBadMagic, Detail: fmt.Sprintf("got %q", mb)}
	}
	hb, err := r.r.Peek(HeaderSize)
	if err != nil {
		return r.headerErr(hb, err)
	}
	h, err := ParseHeader(hb)
	if err != nil {
		return err
	}
	if h.BodySize > r.maxBody {
		return &FrameError{Kind: ErrFrameTooLarge, BodySize: h.BodySize, MetaSize: h.MetaSize,
			Detail: fmt.Sprintf("limit %d", r.maxBody)}
	}
	if _, err := r.r.Discard(HeaderSize); err != nil {
		return err
	}
	if err := r.readBody(f, h); err != nil {
		return err
	}
	return splitBody(f, h)
}

// FrameBuffered reports whether the next frame can be read without waiting for the stream: its
// whole body is buffered already, or what is buffered is enough for ReadFrame to refuse it. A
// server that answers requests in batches writes its answers out once this is false.
func (r *Reader) FrameBuffered() bool {
	n := r.r.Buffered()
	if n < len(magic) {
		return false
	}
	if mb, _ := r.r.Peek(len(magic)); string(mb) != magic {
		return true
	}
	if n < HeaderSize {
		return false
	}
	hb, _ := r.r.Peek(HeaderSize)
	h, err := ParseHeader(hb)
	if err != nil || h.BodySize > r.maxBody {
		return true
	}
	return uint64(n) >= uint64(HeaderSize)+uint64(h.BodySize)
}

func (r *Reader) headerErr(got []byte, err error) error {
	if err == io.EOF && len(got) == 0 {
		return io.EOF
	}
	if err == io.EOF {
		if len(got) >= 4 && string(got[:4]) != magic {
			return &FrameError{Kind: ErrBadMagic, Detail: fmt.Sprintf("got %q", got[:4])}
		}
		return &FrameError{Kind: ErrTruncated, Detail: fmt.Sprintf("stream ended after %d header bytes", len(got))}
	}
	if len(got) >= 4 && string(got[:4]) != magic {
		return &FrameError{Kind: ErrBadMagic, Detail: fmt.Sprintf("got %q", got[:4])}
	}
	return err
}

func (r *Reader) readBody(f *Frame, h Header) error {
	size := int(h.BodySize)
	if cap(f.Body) >= size {
		f.Body = f.Body[:size]
		return r.fill(f.Body, 0, h)
	}
	first := size
	if size > readChunk+readChunk/4 {
		first = readChunk
	}
	if r.alloc != nil {
		f.Body = r.alloc(first)
	} else {
		f.Body = make([]byte, first)
	}
	done := 0
	for {
		if err := r.fill(f.Body, done, h); err != nil {
			return err
		}
		done = len(f.Body)
		if done == size {
			return nil
		}
		f.Body = append(f.Body, make([]byte, min(size-done, done))...)
	}
}

func (r *Reader) fill(b []byte, from int, h Header) error {
	n, err := io.ReadFull(r.r, b[from:])
	if err == nil {
		return nil
	}
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return &FrameError{Kind: ErrTruncated, BodySize: h.BodySize, MetaSize: h.MetaSize,
			Detail: fmt.Sprintf("stream ended after %d body bytes", from+n)}
	}
	return err
}

// splitBody decodes the meta of a fully read body and cuts payload and attachment out of it.
func splitBody(f *Frame, h Header) error {
	if err := DecodeMeta(f.Body[:h.MetaSize], &f.Meta); err != nil {
		return &FrameError{Kind: ErrBadMeta, BodySize: h.BodySize, MetaSize: h.MetaSize,
			Detail: strings.TrimPrefix(err.Error(), ErrBadMeta.Error()+": ")}
	}
	rest := f.Body[h.MetaSize:]
	att := f.Meta.AttachmentSize
	if att < 0 || int(att) > len(rest) {
		f.Payload, f.Attachment = rest, nil
		return &FrameError{Kind: ErrAttachmentSize, BodySize: h.BodySize, MetaSize: h.MetaSize,
			Detail: fmt.Sprintf("attachment_size=%d, %d bytes after the meta", att, len(rest))}
	}
	cut := len(rest) - int(att)
	f.Payload, f.Attachment = rest[:cut:cut], rest[cut:]
	if att == 0 {
		f.Attachment = nil
	}
	return nil
}
