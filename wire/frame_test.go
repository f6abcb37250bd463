package wire_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/troupe-rpc/troupe/wire"
)

// header returns a frame header with the given sizes.
func header(bodySize, metaSize uint32) []byte {
	b := []byte("PRPC")
	b = binary.BigEndian.AppendUint32(b, bodySize)
	return binary.BigEndian.AppendUint32(b, metaSize)
}

// rawFrame returns a frame whose header agrees with meta and rest.
func rawFrame(meta, rest []byte) []byte {
	b := header(uint32(len(meta)+len(rest)), uint32(len(meta)))
	b = append(b, meta...)
	return append(b, rest...)
}

// echoFrame returns a request frame for example.EchoService.Echo with the given payload and
// attachment.
func echoFrame(correlationID int64, payload, attachment []byte) []byte {
	m := wire.Meta{Service: []byte("example.EchoService"), Method: []byte("Echo"), CorrelationID: correlationID}
	return wire.AppendFrame(nil, &m, payload, attachment)
}

func TestReadFrameErrors(t *testing.T) {
	good := echoFrame(1, []byte("payload"), nil)
	tests := []struct {
		name    string
		stream  []byte
		maxBody int
		want    error // a sentinel, matched with errors.Is
	}{
		{"HTTP instead of baidu_std", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 0, wire.ErrBadMagic},
		{"bad magic in a short stream", []byte("HTTP/1"), 0, wire.ErrBadMagic},
		{"lower-case magic", append([]byte("prpc"), good[4:]...), 0, wire.ErrBadMagic},
		{"meta_size > body_size", append(header(5, 6), 1, 2, 3, 4, 5), 0, wire.ErrMetaSize},
		{"body over the limit", append(header(1025, 0), make([]byte, 1025)...), 1024, wire.ErrFrameTooLarge},
		{"body over the default limit", header(wire.DefaultMaxBodySize+1, 0), 0, wire.ErrFrameTooLarge},
		{"body of 4 GiB - 1", header(1<<32-1, 0), 0, wire.ErrFrameTooLarge},
		{"truncated magic", []byte("PR"), 0, wire.ErrTruncated},
		{"truncated header", good[:wire.HeaderSize-1], 0, wire.ErrTruncated},
		{"header only", good[:wire.HeaderSize], 0, wire.ErrTruncated},
		{"truncated body", good[:len(good)-1], 0, wire.ErrTruncated},
		{"body at the default limit, truncated", header(wire.DefaultMaxBodySize, 0), 0, wire.ErrTruncated},
		{"garbage meta", rawFrame([]byte{0xff, 0xff, 0xff}, []byte("payload")), 0, wire.ErrBadMeta},
		{"meta with a truncated field", rawFrame([]byte{0x0a, 0x10, 0x0a}, nil), 0, wire.ErrBadMeta},
		{
			"attachment_size > payload",
			rawFrame(wire.AppendMeta(nil, &wire.Meta{IsResponse: true, AttachmentSize: 8}), []byte("1234567")),
			0, wire.ErrAttachmentSize,
		},
		{
			"negative attachment_size",
			rawFrame(wire.AppendMeta(nil, &wire.Meta{IsResponse: true, AttachmentSize: -1}), []byte("1234567")),
			0, wire.ErrAttachmentSize,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f wire.Frame
			err := newReader(tt.stream, tt.maxBody).ReadFrame(&f)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ReadFrame(%.40x) = %v, want %v", tt.stream, err, tt.want)
			}
			var fe *wire.FrameError
			if !errors.As(err, &fe) {
				t.Fatalf("ReadFrame(%.40x) = %T, want *wire.FrameError", tt.stream, err)
			}
			if fe.Kind != tt.want {
				t.Errorf("ReadFrame(%.40x).Kind = %v, want %v", tt.stream, fe.Kind, tt.want)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "baidu_std: "+tt.want.Error()) {
				t.Errorf("ReadFrame(%.40x).Error() = %q, want prefix %q", tt.stream, msg, "baidu_std: "+tt.want.Error())
			}
		})
	}
}

func TestFrameErrorFields(t *testing.T) {
	var f wire.Frame
	err := newReader(header(1<<20, 7), 1000).ReadFrame(&f)
	var fe *wire.FrameError
	if !errors.As(err, &fe) {
		t.Fatalf("ReadFrame(too large) = %v, want a *wire.FrameError", err)
	}
	if fe.BodySize != 1<<20 || fe.MetaSize != 7 {
		t.Errorf("ReadFrame(too large) BodySize, MetaSize = %d, %d, want %d, %d", fe.BodySize, fe.MetaSize, 1<<20, 7)
	}
	for _, want := range []string{"body_size=1048576", "meta_size=7", "limit 1000"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("ReadFrame(too large).Error() = %q, want it to contain %q", err, want)
		}
	}
}

func TestReadFrameEOF(t *testing.T) {
	stream := append(echoFrame(1, []byte("a"), nil), echoFrame(2, []byte("b"), []byte("att"))...)
	r := newReader(stream, 0)
	var f wire.Frame
	for i := range 2 {
		if err := r.ReadFrame(&f); err != nil {
			t.Fatalf("ReadFrame #%d = %v, want nil", i, err)
		}
		if got, want := f.Meta.CorrelationID, int64(i+1); got != want {
			t.Errorf("ReadFrame #%d: CorrelationID = %d, want %d", i, got, want)
		}
	}
	for i := range 2 {
		if err := r.ReadFrame(&f); err != io.EOF { // exactly io.EOF, not wrapped
			t.Errorf("ReadFrame at the end #%d = %v, want io.EOF", i, err)
		}
	}
	if err := newReader(nil, 0).ReadFrame(&f); err != io.EOF {
		t.Errorf("ReadFrame(empty stream) = %v, want io.EOF", err)
	}
}

// TestReadFrameTooLargeReadsNothing checks that a header over the limit is refused from the header
// alone: the stream holds nothing after it, so a Reader that tried to read the body would report
// ErrTruncated instead; and nothing near the claimed size is allocated.
func TestReadFrameTooLargeReadsNothing(t *testing.T) {
	const claim = 1 << 30
	stream := header(claim, 10)
	var f wire.Frame
	r := newReader(stream, 1<<20)

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := r.ReadFrame(&f)
	runtime.ReadMemStats(&after)

	if !errors.Is(err, wire.ErrFrameTooLarge) {
		t.Fatalf("ReadFrame(header claiming %d) = %v, want %v", claim, err, wire.ErrFrameTooLarge)
	}
	if f.Body != nil {
		t.Errorf("ReadFrame(header claiming %d): len(Body), cap(Body) = %d, %d, want nil Body", claim, len(f.Body), cap(f.Body))
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 64<<10 {
		t.Errorf("ReadFrame(header claiming %d) allocated %d bytes, want < 64 KiB", claim, got)
	}

	br := bufio.NewReader(bytes.NewReader(stream))
	r = wire.NewReader(br, 1<<20)
	allocs := testing.AllocsPerRun(50, func() {
		br.Reset(bytes.NewReader(stream))
		if err := r.ReadFrame(&f); !errors.Is(err, wire.ErrFrameTooLarge) {
			panic(err)
		}
	})
	// The error itself costs a few small allocations; the body none.
	if allocs > 5 {
		t.Errorf("ReadFrame(header claiming %d) allocations = %v, want <= 5", claim, allocs)
	}
}

// TestReadFrameLyingHeader checks that a header claiming 60 MiB followed by 10 bytes costs memory
// only for what arrives, not for what the header claims.
func TestReadFrameLyingHeader(t *testing.T) {
	const claim = 60 << 20
	stream := append(header(claim, 0), make([]byte, 10)...)
	var f wire.Frame
	r := newReader(stream, 0)

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := r.ReadFrame(&f)
	runtime.ReadMemStats(&after)

	if !errors.Is(err, wire.ErrTruncated) {
		t.Fatalf("ReadFrame(header claiming 60 MiB, 10 bytes) = %v, want %v", err, wire.ErrTruncated)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got >= 8<<20 {
		t.Errorf("ReadFrame(header claiming 60 MiB, 10 bytes) allocated %d bytes, want < 8 MiB", got)
	}
	if !strings.Contains(err.Error(), "after 10 body bytes") {
		t.Errorf("ReadFrame(header claiming 60 MiB, 10 bytes) = %q, want it to say %q", err, "after 10 body bytes")
	}
}

// TestReadFrameBackToBack reads many frames from one stream into one Frame: each decodes as it does
// alone, and the body storage is reused whenever it is large enough.
func TestReadFrameBackToBack(t *testing.T) {
	big := make([]byte, 3<<20+17) // larger than the Reader's read chunk: the body grows in steps
	for i := range big {
		big[i] = byte(i * 7)
	}
	frames := [][]byte{
		echoFrame(1, big, []byte("big attachment")),
		echoFrame(2, []byte("small"), nil),
	}
	for _, c := range allCaptures(t) {
		frames = append(frames, c.frame)
	}
	frames = append(frames, echoFrame(3, nil, nil), echoFrame(4, []byte("x"), []byte("y")))
	var stream []byte
	for range 3 {
		for _, fr := range frames {
			stream = append(stream, fr...)
		}
	}

	r := newReader(stream, 0)
	var f wire.Frame
	var storage *byte
	for i := range 3 * len(frames) {
		want := frames[i%len(frames)]
		prevCap := cap(f.Body)
		if err := r.ReadFrame(&f); err != nil {
			t.Fatalf("ReadFrame #%d = %v, want nil", i, err)
		}
		alone := readOne(t, want)
		checkMeta(t, "back-to-back ReadFrame", &f.Meta, &alone.Meta)
		if !bytes.Equal(f.Payload, alone.Payload) || !bytes.Equal(f.Attachment, alone.Attachment) {
			t.Errorf("ReadFrame #%d: Payload, Attachment = %.20x, %q, want %.20x, %q", i, f.Payload, f.Attachment, alone.Payload, alone.Attachment)
		}
		if i == 0 {
			storage = &f.Body[:1][0]
			continue
		}
		if len(want)-wire.HeaderSize <= prevCap && &f.Body[:1][0] != storage {
			t.Errorf("ReadFrame #%d: body storage reallocated although cap(Body) = %d >= %d", i, prevCap, len(want)-wire.HeaderSize)
		}
	}
	if err := r.ReadFrame(&f); err != io.EOF {
		t.Errorf("ReadFrame at the end = %v, want io.EOF", err)
	}
}

// TestReadFrameSlowStreams reads frames that arrive in pieces, through the smallest bufio.Reader.
func TestReadFrameSlowStreams(t *testing.T) {
	var stream []byte
	var want []*wire.Frame
	for _, c := range allCaptures(t) {
		stream = append(stream, c.frame...)
		want = append(want, readOne(t, c.frame))
	}
	big := echoFrame(9, bytes.Repeat([]byte("0123456789abcdef"), 1<<16+3), []byte("tail"))
	stream = append(stream, big...)
	want = append(want, readOne(t, big))

	tests := []struct {
		name string
		r    func(io.Reader) io.Reader
	}{
		{"one byte at a time", iotest.OneByteReader},
		{"half reads", iotest.HalfReader},
		{"EOF with the last data", iotest.DataErrReader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := wire.NewReader(bufio.NewReaderSize(tt.r(bytes.NewReader(stream)), 16), 0)
			var f wire.Frame
			for i, w := range want {
				if err := r.ReadFrame(&f); err != nil {
					t.Fatalf("ReadFrame #%d = %v, want nil", i, err)
				}
				checkMeta(t, tt.name, &f.Meta, &w.Meta)
				if !bytes.Equal(f.Payload, w.Payload) || !bytes.Equal(f.Attachment, w.Attachment) {
					t.Errorf("ReadFrame #%d: Payload, Attachment = %.20x, %q, want %.20x, %q", i, f.Payload, f.Attachment, w.Payload, w.Attachment)
				}
			}
			if err := r.ReadFrame(&f); err != io.EOF {
				t.Errorf("ReadFrame at the end = %v, want io.EOF", err)
			}
		})
	}
}

// TestReadFrameStreamError checks that an error of the stream itself (a reset connection, a
// deadline) reaches the caller as it is, not disguised as a truncated frame.
func TestReadFrameStreamError(t *testing.T) {
	errReset := errors.New("connection reset by peer")
	frame := echoFrame(1, []byte("payload"), nil)
	for _, n := range []int{0, 2, wire.HeaderSize - 1, wire.HeaderSize, wire.HeaderSize + 3, len(frame) - 1} {
		stream := io.MultiReader(bytes.NewReader(frame[:n]), iotest.ErrReader(errReset))
		var f wire.Frame
		err := wire.NewReader(bufio.NewReader(stream), 0).ReadFrame(&f)
		if !errors.Is(err, errReset) {
			t.Errorf("ReadFrame(%d bytes, then an error) = %v, want %v", n, err, errReset)
		}
	}
}

// onceErrReader fails once with err, then reports the end of the stream, as a socket does after
// a reset: read(2) returns ECONNRESET once and 0 bytes afterwards.
type onceErrReader struct {
	err  error
	done bool
}

func (r *onceErrReader) Read([]byte) (int, error) {
	if r.done {
		return 0, io.EOF
	}
	r.done = true
	return 0, r.err
}

func TestReadFrameStreamErrorReportedOnce(t *testing.T) {
	errReset := errors.New("connection reset by peer")
	frame := echoFrame(1, []byte("payload"), nil)
	for _, n := range []int{0, 2, wire.HeaderSize - 1, wire.HeaderSize, wire.HeaderSize + 3, len(frame) - 1} {
		stream := io.MultiReader(bytes.NewReader(frame[:n]), &onceErrReader{err: errReset})
		var f wire.Frame
		err := wire.NewReader(bufio.NewReader(stream), 0).ReadFrame(&f)
		if !errors.Is(err, errReset) {
			t.Errorf("ReadFrame(%d bytes, then an error once, then EOF) = %v, want %v", n, err, errReset)
		}
	}
}

// TestReadFrameReusedAllocs checks that reading into a Frame whose body is large enough allocates
// nothing.
func TestReadFrameReusedAllocs(t *testing.T) {
	frame := readCaptures(t, "attach.hex")[1].frame
	br := bufio.NewReader(bytes.NewReader(frame))
	r := wire.NewReader(br, 0)
	var f wire.Frame
	if err := r.ReadFrame(&f); err != nil {
		t.Fatalf("ReadFrame = %v", err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		br.Reset(bytes.NewReader(frame))
		if err := r.ReadFrame(&f); err != nil {
			panic(err)
		}
	})
	// bytes.NewReader escapes into the bufio.Reader: that one allocation is the test's.
	if allocs > 1 {
		t.Errorf("ReadFrame with a reused Frame: allocations = %v, want <= 1 (the test's bytes.Reader)", allocs)
	}
}

// TestReadFrameAfterAttachmentSizeError checks that ErrAttachmentSize consumes its frame, so that
// the next one can be read.
func TestReadFrameAfterAttachmentSizeError(t *testing.T) {
	bad := rawFrame(wire.AppendMeta(nil, &wire.Meta{IsResponse: true, CorrelationID: 1, AttachmentSize: 100}), []byte("payload"))
	good := echoFrame(2, []byte("payload"), []byte("att"))
	r := newReader(append(bad, good...), 0)
	var f wire.Frame
	if err := r.ReadFrame(&f); !errors.Is(err, wire.ErrAttachmentSize) {
		t.Fatalf("ReadFrame(bad attachment_size) = %v, want %v", err, wire.ErrAttachmentSize)
	}
	if f.Meta.CorrelationID != 1 {
		t.Errorf("ReadFrame(bad attachment_size): CorrelationID = %d, want 1 (the meta is decoded)", f.Meta.CorrelationID)
	}
	if err := r.ReadFrame(&f); err != nil {
		t.Fatalf("ReadFrame after ErrAttachmentSize = %v, want nil", err)
	}
	if f.Meta.CorrelationID != 2 || string(f.Payload) != "payload" || string(f.Attachment) != "att" {
		t.Errorf("ReadFrame after ErrAttachmentSize: CorrelationID, Payload, Attachment = %d, %q, %q, want 2, %q, %q",
			f.Meta.CorrelationID, f.Payload, f.Attachment, "payload", "att")
	}
}

func TestReadFramePayloadAttachmentSplit(t *testing.T) {
	tests := []struct {
		name                string
		payload, attachment string
	}{
		{"neither", "", ""},
		{"payload only", "payload", ""},
		{"attachment only", "", "attachment"},
		{"both", "payload", "attachment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := readOne(t, echoFrame(1, []byte(tt.payload), []byte(tt.attachment)))
			if string(f.Payload) != tt.payload || string(f.Attachment) != tt.attachment {
				t.Errorf("ReadFrame: Payload, Attachment = %q, %q, want %q, %q", f.Payload, f.Attachment, tt.payload, tt.attachment)
			}
			if got, want := int(f.Meta.AttachmentSize), len(tt.attachment); got != want {
				t.Errorf("ReadFrame: AttachmentSize = %d, want %d", got, want)
			}
			// Appending to the payload must not overwrite the attachment that follows it.
			_ = append(f.Payload, "XXXXXXXXXXXXXXXX"...)
			if string(f.Attachment) != tt.attachment {
				t.Errorf("after append(Payload): Attachment = %q, want %q", f.Attachment, tt.attachment)
			}
		})
	}
}

func TestParseHeader(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		want wire.Header
		err  error
	}{
		{"empty frame", header(0, 0), wire.Header{}, nil},
		{"sizes big-endian", header(0x01020304, 0x00010203), wire.Header{BodySize: 0x01020304, MetaSize: 0x00010203}, nil},
		{"meta fills the body", header(9, 9), wire.Header{BodySize: 9, MetaSize: 9}, nil},
		{"largest", header(1<<32-1, 1<<32-1), wire.Header{BodySize: 1<<32 - 1, MetaSize: 1<<32 - 1}, nil},
		{"extra bytes ignored", append(header(20, 10), "more"...), wire.Header{BodySize: 20, MetaSize: 10}, nil},
		{"short", []byte("PRPC\x00\x00\x00\x01\x00\x00\x00"), wire.Header{}, wire.ErrTruncated},
		{"nil", nil, wire.Header{}, wire.ErrTruncated},
		{"bad magic", append([]byte("PRPD"), header(1, 1)[4:]...), wire.Header{}, wire.ErrBadMagic},
		{"meta_size > body_size", header(1, 2), wire.Header{}, wire.ErrMetaSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := wire.ParseHeader(tt.b)
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Errorf("ParseHeader(%x) error = %v, want %v", tt.b, err, tt.err)
			}
			if tt.err == nil && got != tt.want {
				t.Errorf("ParseHeader(%x) = %+v, want %+v", tt.b, got, tt.want)
			}
		})
	}

	hdr := readCaptures(t, "plain.hex")[0].frame
	if allocs := testing.AllocsPerRun(100, func() {
		if _, err := wire.ParseHeader(hdr); err != nil {
			panic(err)
		}
	}); allocs != 0 {
		t.Errorf("ParseHeader allocations = %v, want 0", allocs)
	}
}

func TestNewReaderLimit(t *testing.T) {
	tests := []struct {
		name    string
		maxBody int
		body    uint32
		want    error
	}{
		{"at the limit", 100, 100, wire.ErrTruncated}, // accepted, then the stream ends
		{"over the limit", 100, 101, wire.ErrFrameTooLarge},
		{"zero means the default", 0, wire.DefaultMaxBodySize + 1, wire.ErrFrameTooLarge},
		{"negative means the default", -1, wire.DefaultMaxBodySize + 1, wire.ErrFrameTooLarge},
		{"default accepts its own size", -1, wire.DefaultMaxBodySize, wire.ErrTruncated},
		{"over 4 GiB means the default", 1 << 33, wire.DefaultMaxBodySize + 1, wire.ErrFrameTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f wire.Frame
			err := newReader(header(tt.body, 0), tt.maxBody).ReadFrame(&f)
			if !errors.Is(err, tt.want) {
				t.Errorf("NewReader(limit %d).ReadFrame(body %d) = %v, want %v", tt.maxBody, tt.body, err, tt.want)
			}
		})
	}
}

// maskedCRC32C is brpc's checksum, written out independently of the package.
func maskedCRC32C(b []byte) []byte {
	c := crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli))
	return binary.BigEndian.AppendUint32(nil, (c>>15|c<<17)+0xa282ead8)
}

func TestChecksum(t *testing.T) {
	// CRC32C("123456789") is 0xe3069283, the standard check value.
	if got, want := crc32.Checksum([]byte("123456789"), crc32.MakeTable(crc32.Castagnoli)), uint32(0xe3069283); got != want {
		t.Fatalf("crc32c(123456789) = %#x, want %#x", got, want)
	}
	tests := []struct {
		name                string
		payload, attachment string
		withAttachment      bool
		want                []byte
	}{
		// brpc's value for the payload EchoRequest{message: "hello world"}, from checksum.hex.
		{"brpc's checksum.hex", "\x0a\x0bhello world", "", false, []byte{0xd3, 0x8c, 0xab, 0x46}},
		{"check value", "123456789", "ignored", false, maskedCRC32C([]byte("123456789"))},
		{"empty", "", "", false, maskedCRC32C(nil)},
		{"with attachment", "1234", "56789", true, maskedCRC32C([]byte("123456789"))},
		{"with empty attachment", "payload", "", true, maskedCRC32C([]byte("payload"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := wire.Meta{Service: []byte("S"), Method: []byte("M"), ChecksumType: wire.ChecksumCRC32C, ChecksumWithAttachment: tt.withAttachment}
			frame := wire.AppendFrame(nil, &m, []byte(tt.payload), []byte(tt.attachment))
			if !bytes.Equal(m.ChecksumValue, tt.want) {
				t.Errorf("AppendFrame: ChecksumValue = %x, want %x", m.ChecksumValue, tt.want)
			}
			f := readOne(t, frame)
			if !bytes.Equal(f.Meta.ChecksumValue, tt.want) {
				t.Errorf("ReadFrame(AppendFrame): ChecksumValue = %x, want %x", f.Meta.ChecksumValue, tt.want)
			}
			if err := wire.VerifyChecksum(f); err != nil {
				t.Errorf("VerifyChecksum(AppendFrame) = %v, want nil", err)
			}
		})
	}
}

func TestVerifyChecksumFails(t *testing.T) {
	capture := readCaptures(t, "checksum.hex")[0]
	tests := []struct {
		name   string
		frame  func() []byte
		wantOK bool
	}{
		{"brpc's frame", func() []byte { return capture.frame }, true},
		{"payload byte flipped", func() []byte {
			b := bytes.Clone(capture.frame)
			b[len(b)-1] ^= 1
			return b
		}, false},
		{"checksum byte flipped", func() []byte {
			b := bytes.Clone(capture.frame)
			i := bytes.Index(b, []byte{0xd3, 0x8c, 0xab, 0x46})
			b[i+3] ^= 0x80
			return b
		}, false},
		{"attachment changed, covered", func() []byte {
			m := wire.Meta{ChecksumType: wire.ChecksumCRC32C, ChecksumWithAttachment: true}
			b := wire.AppendFrame(nil, &m, []byte("payload"), []byte("attachment"))
			b[len(b)-1] ^= 1
			return b
		}, false},
		{"attachment changed, not covered", func() []byte {
			m := wire.Meta{ChecksumType: wire.ChecksumCRC32C}
			b := wire.AppendFrame(nil, &m, []byte("payload"), []byte("attachment"))
			b[len(b)-1] ^= 1
			return b
		}, true},
		{"checksum too short", func() []byte {
			m := wire.Meta{ChecksumType: wire.ChecksumCRC32C, ChecksumValue: []byte{1, 2}}
			return rawFrame(wire.AppendMeta(nil, &m), []byte("payload"))
		}, false},
		{"no checksum type, garbage value", func() []byte {
			m := wire.Meta{ChecksumValue: []byte("garbage")}
			return rawFrame(wire.AppendMeta(nil, &m), []byte("payload"))
		}, true},
		{"unknown checksum type", func() []byte {
			m := wire.Meta{ChecksumType: 2, ChecksumValue: []byte{1, 2, 3, 4}}
			return rawFrame(wire.AppendMeta(nil, &m), []byte("payload"))
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := readOne(t, tt.frame())
			err := wire.VerifyChecksum(f)
			if tt.wantOK {
				if err != nil {
					t.Errorf("VerifyChecksum = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, wire.ErrChecksum) {
				t.Errorf("VerifyChecksum = %v, want %v", err, wire.ErrChecksum)
			}
			var fe *wire.FrameError
			if !errors.As(err, &fe) {
				t.Errorf("VerifyChecksum = %T, want *wire.FrameError", err)
			}
		})
	}
}

// TestAppendFrame checks AppendFrame's side effects and that it appends to dst.
func TestAppendFrame(t *testing.T) {
	m := wire.Meta{Service: []byte("S"), Method: []byte("M"), AttachmentSize: 99, ChecksumValue: []byte("stale")}
	prefix := []byte("previous frame")
	out := wire.AppendFrame(bytes.Clone(prefix), &m, []byte("payload"), []byte("att"))
	if !bytes.HasPrefix(out, prefix) {
		t.Fatalf("AppendFrame(prefix, ...) = %q, want prefix %q", out, prefix)
	}
	if m.AttachmentSize != 3 {
		t.Errorf("AppendFrame: m.AttachmentSize = %d, want 3", m.AttachmentSize)
	}
	if string(m.ChecksumValue) != "stale" {
		t.Errorf("AppendFrame with checksum type 0: m.ChecksumValue = %q, want %q (left alone)", m.ChecksumValue, "stale")
	}
	f := readOne(t, out[len(prefix):])
	if f.Meta.AttachmentSize != 3 || string(f.Payload) != "payload" || string(f.Attachment) != "att" {
		t.Errorf("ReadFrame(AppendFrame): AttachmentSize, Payload, Attachment = %d, %q, %q, want 3, %q, %q",
			f.Meta.AttachmentSize, f.Payload, f.Attachment, "payload", "att")
	}
	h, err := wire.ParseHeader(out[len(prefix):])
	if err != nil {
		t.Fatalf("ParseHeader(AppendFrame) = %v", err)
	}
	if got, want := int(h.BodySize), len(out)-len(prefix)-wire.HeaderSize; got != want {
		t.Errorf("ParseHeader(AppendFrame).BodySize = %d, want %d", got, want)
	}
	if got, want := int(h.MetaSize), wire.MetaSize(&m); got != want {
		t.Errorf("ParseHeader(AppendFrame).MetaSize = %d, want %d", got, want)
	}

	m = wire.Meta{AttachmentSize: 5}
	f = readOne(t, wire.AppendFrame(nil, &m, []byte("p"), nil))
	if m.AttachmentSize != 0 || f.Meta.AttachmentSize != 0 || f.Attachment != nil {
		t.Errorf("AppendFrame(no attachment): AttachmentSize, decoded AttachmentSize, Attachment = %d, %d, %q, want 0, 0, nil",
			m.AttachmentSize, f.Meta.AttachmentSize, f.Attachment)
	}
}

// TestAppendFrameDoesNotWriteIntoDecodedFrame re-encodes a decoded frame with checksum_type 1 from
// its own, aliasing Meta, the way a proxy would forward it or a server would reuse it. AppendFrame
// recomputes the checksum; it must not write that checksum into the received frame, and least of
// all over its payload.
func TestAppendFrameDoesNotWriteIntoDecodedFrame(t *testing.T) {

	payload := []byte("\x0a\x0bhello world")
	tests := []struct {
		name  string
		value []byte // the received checksum_value
	}{
		{"empty checksum_value", nil},
		{"2-byte checksum_value", []byte{1, 2}},
		{"wrong 4-byte checksum_value", []byte{1, 2, 3, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// checksum_value is the last meta field, so the payload follows it directly.
			m := wire.Meta{Service: []byte("example.EchoService"), Method: []byte("Echo"), CorrelationID: 1,
				ChecksumType: wire.ChecksumCRC32C, ChecksumValue: tt.value}
			in := rawFrame(wire.AppendMeta(nil, &m), payload)
			f := readOne(t, in)
			body := bytes.Clone(f.Body)

			out := wire.AppendFrame(nil, &f.Meta, f.Payload, f.Attachment)

			if !bytes.Equal(f.Body, body) {
				t.Errorf("AppendFrame(decoded meta) changed the decoded frame's body: %x, want %x", f.Body, body)
			}
			g := readOne(t, out)
			if !bytes.Equal(g.Payload, payload) {
				t.Errorf("AppendFrame(decoded meta) wrote payload %q, want %q", g.Payload, payload)
			}
			if err := wire.VerifyChecksum(g); err != nil {
				t.Errorf("VerifyChecksum(AppendFrame(decoded meta)) = %v, want nil", err)
			}
		})
	}
}

// FrameBuffered is true exactly when ReadFrame can return without reading the stream: a whole
// frame is buffered, or enough to refuse what is buffered.
func TestFrameBuffered(t *testing.T) {
	first := echoFrame(1, []byte("payload"), []byte("attachment"))
	stream := append(append([]byte(nil), first...), echoFrame(2, []byte("x"), nil)...)
	for k := 0; k <= len(stream); k++ {
		br := bufio.NewReader(bytes.NewReader(stream[:k]))
		br.Peek(1) // buffers the k bytes in one read
		r := wire.NewReader(br, 0)
		if got, want := r.FrameBuffered(), k >= len(first); got != want {
			t.Errorf("%d of %d bytes buffered: FrameBuffered() = %v, want %v", k, len(first), got, want)
		}
	}
	for _, c := range []struct {
		name   string
		stream []byte
		limit  int
		want   bool
	}{
		{"three bytes of magic", []byte("PRP"), 0, false},
		{"bad magic", []byte("HTTP"), 0, true},
		{"magic, part of a header", []byte("PRPC\x00\x00"), 0, false},
		{"meta larger than body", header(4, 8), 0, true},
		{"body over the limit", header(1000, 0), 100, true},
		{"body within the limit, not buffered", header(100, 0), 1000, false},
	} {
		br := bufio.NewReader(bytes.NewReader(c.stream))
		br.Peek(1)
		if got := wire.NewReader(br, c.limit).FrameBuffered(); got != c.want {
			t.Errorf("%s: FrameBuffered() = %v, want %v", c.name, got, c.want)
		}
	}
}
