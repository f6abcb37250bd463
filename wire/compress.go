package wire

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/golang/snappy"
)

// ErrUnsupportedCompression is matched by the error for a compress type troupe cannot encode or
// decode (lz4, which brpc names but does not implement either, or an unknown number).
var ErrUnsupportedCompression = errors.New("unsupported compress type")

// Compress appends src compressed with t to dst, in the formats brpc uses: snappy's block format,
// gzip and zlib streams. [CompressNone] appends src as it is.
func Compress(dst, src []byte, t CompressType) ([]byte, error) {
	switch t {
	case CompressNone:
		return append(dst, src...), nil
	case CompressSnappy:
		return append(dst, snappy.Encode(nil, src)...), nil
	case CompressGzip:
		buf := bytes.NewBuffer(dst)
		w := gzip.NewWriter(buf)
		return finishStream(buf, w, src)
	case CompressZlib:
		buf := bytes.NewBuffer(dst)
		w := zlib.NewWriter(buf)
		return finishStream(buf, w, src)
	}
	return dst, fmt.Errorf("%w: %v", ErrUnsupportedCompression, t)
}

func finishStream(buf *bytes.Buffer, w io.WriteCloser, src []byte) ([]byte, error) {
	if _, err := w.Write(src); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ErrBudget is matched by the error of [DecompressBudget] when its budget refuses more memory.
var ErrBudget = errors.New("decompression budget exceeded")

// Decompress appends src, compressed with t, decompressed to dst. It refuses to produce more than
// limit bytes (no limit when limit <= 0), so that a small frame cannot expand without bound.
func Decompress(dst, src []byte, t CompressType, limit int) ([]byte, error) {
	return DecompressBudget(dst, src, t, limit, nil)
}

// DecompressBudget is [Decompress] that asks take for the memory it is about to allocate for its
// output before allocating it: the decoded size at once for snappy, whose size is known up
// front; for gzip and zlib, each growth of the output buffer (which doubles, up to limit), so
// that what take granted is the capacity of the output, not counting dst's own. When take
// returns false it stops with an error matching [ErrBudget], having allocated no more than take
// granted; the caller gives back whatever take granted, on success or not. A nil take grants
// everything. [CompressNone] appends src as it is and asks take nothing.
func DecompressBudget(dst, src []byte, t CompressType, limit int, take func(n int) bool) ([]byte, error) {
	switch t {
	case CompressNone:
		return append(dst, src...), nil
	case CompressSnappy:
		n, err := snappy.DecodedLen(src)
		if err != nil {
			return nil, fmt.Errorf("snappy: %w", err)
		}
		if limit > 0 && n > limit {
			return nil, fmt.Errorf("snappy: decoded size %d exceeds the limit %d", n, limit)
		}
		if take != nil && !take(n) {
			return nil, fmt.Errorf("snappy: decoded size %d: %w", n, ErrBudget)
		}
		out, err := snappy.Decode(nil, src)
		if err != nil {
			return nil, fmt.Errorf("snappy: %w", err)
		}
		return append(dst, out...), nil
	case CompressGzip:
		r, err := gzip.NewReader(bytes.NewReader(src))
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return readLimited(dst, r, limit, take, gzipSizeHint(src), "gzip")
	case CompressZlib:
		r, err := zlib.NewReader(bytes.NewReader(src))
		if err != nil {
			return nil, fmt.Errorf("zlib: %w", err)
		}
		return readLimited(dst, r, limit, take, 0, "zlib")
	}
	return nil, fmt.Errorf("%w: %v", ErrUnsupportedCompression, t)
}

// gzipSizeHint returns the size a gzip stream says its data has (its trailer's ISIZE, the size
// modulo 2^32), or 0. It comes from the peer: a hint for sizing a buffer, nothing more.
func gzipSizeHint(src []byte) int {
	if len(src) < 18 { // the smallest gzip stream: a 10-byte header and an 8-byte trailer
		return 0
	}
	return int(binary.LittleEndian.Uint32(src[len(src)-4:]))
}

// readLimited reads r to its end after dst. With take, the output buffer is sized from hint
// (when take grants it) and then grows by doubling with what take grants.
func readLimited(dst []byte, r io.ReadCloser, limit int, take func(int) bool, hint int, name string) ([]byte, error) {
	defer r.Close()
	var src io.Reader = r
	if limit > 0 {
		src = io.LimitReader(r, int64(limit)+1)
	}
	var out []byte
	var err error
	if take == nil {
		buf := bytes.NewBuffer(dst)
		_, err = buf.ReadFrom(src)
		out = buf.Bytes()
	} else {
		w := &budgetWriter{b: dst, base: len(dst), limit: limit, take: take}
		w.reserve(hint)
		_, err = io.Copy(w, src)
		out = w.b
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if limit > 0 && len(out)-len(dst) > limit {
		return nil, fmt.Errorf("%s: decompressed size exceeds the limit %d", name, limit)
	}
	return out, nil
}

// budgetWriter appends to b, growing it by doubling with the memory take grants.
type budgetWriter struct {
	b     []byte
	base  int // len(dst): the caller's bytes, not counted
	limit int // the most bytes to produce, or <= 0 for none
	take  func(int) bool
}

// reserve makes room for the size the stream announced, up to the limit, if take grants it; if
// not, the buffer grows as the data comes.
func (w *budgetWriter) reserve(hint int) {
	if w.limit > 0 {
		hint = min(hint, w.limit+1)
	}
	if hint <= 0 || !w.take(hint) {
		return
	}
	nb := make([]byte, len(w.b), len(w.b)+hint)
	copy(nb, w.b)
	w.b = nb
}

func (w *budgetWriter) Write(p []byte) (int, error) {
	if cap(w.b)-len(w.b) < len(p) {
		produced := len(w.b) - w.base
		grow := max(produced, len(p), 32<<10)
		if w.limit > 0 {
			// No more than the limit (plus the byte that tells it was exceeded) is kept.
			grow = max(min(grow, w.limit+1-produced), len(p))
		}
		if !w.take(grow) {
			return 0, ErrBudget
		}
		nb := make([]byte, len(w.b), len(w.b)+grow)
		copy(nb, w.b)
		w.b = nb
	}
	w.b = append(w.b, p...)
	return len(p), nil
}
