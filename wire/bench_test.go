package wire_test

import (
	"bufio"
	"testing"

	"github.com/troupe-rpc/troupe/wire"
)

func BenchmarkAppendFrame(b *testing.B) {
	m := wire.Meta{
		Service:       []byte("example.EchoService"),
		Method:        []byte("Echo"),
		CorrelationID: 1<<32 + 2,
	}
	payload := []byte("\x0a\x0ehello, world!!") // 16 bytes: EchoRequest{message: "hello, world!!"}
	buf := wire.AppendFrame(nil, &m, payload, nil)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		m.CorrelationID++
		buf = wire.AppendFrame(buf[:0], &m, payload, nil)
	}
}

func BenchmarkReadFrameHeader(b *testing.B) {
	frame := readCaptures(b, "plain.hex")[1].frame
	b.ReportAllocs()
	for b.Loop() {
		if _, err := wire.ParseHeader(frame); err != nil {
			b.Fatal(err)
		}
	}
}

// repeatReader serves data over and over, never ending.
type repeatReader struct {
	data []byte
	off  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.data[r.off:])
		n += c
		r.off = (r.off + c) % len(r.data)
	}
	return n, nil
}

func BenchmarkReadFrame(b *testing.B) {
	frame := readCaptures(b, "plain.hex")[1].frame // a response: "hello world"
	var many []byte
	for range 64 {
		many = append(many, frame...)
	}
	r := wire.NewReader(bufio.NewReader(&repeatReader{data: many}), 0)
	var f wire.Frame // reused: its body storage serves every frame
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if err := r.ReadFrame(&f); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeMeta(b *testing.B) {
	for _, c := range []struct {
		name    string
		capture capture
	}{
		{"response", readCaptures(b, "plain.hex")[1]},
		{"request", readCaptures(b, "plain.hex")[0]},
		{"error response", readCaptures(b, "errors.hex")[1]},
	} {
		b.Run(c.name, func(b *testing.B) {
			h, err := wire.ParseHeader(c.capture.frame)
			if err != nil {
				b.Fatal(err)
			}
			meta := c.capture.frame[wire.HeaderSize : wire.HeaderSize+h.MetaSize]
			var m wire.Meta
			b.SetBytes(int64(len(meta)))
			b.ReportAllocs()
			for b.Loop() {
				if err := wire.DecodeMeta(meta, &m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
