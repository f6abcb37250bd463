package wire_test

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/golang/snappy"

	"github.com/troupe-rpc/troupe/wire"
)

var codecs = []wire.CompressType{wire.CompressNone, wire.CompressSnappy, wire.CompressGzip, wire.CompressZlib}

// compressible returns n bytes of text-like data that compresses but not trivially.
func compressible(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	words := [][]byte{[]byte("hello "), []byte("world "), []byte("brpc "), []byte("troupe "), []byte("baidu_std\n")}
	b := make([]byte, 0, n+16)
	for len(b) < n {
		if r.IntN(8) == 0 {
			b = append(b, byte(r.Uint32()))
		} else {
			b = append(b, words[r.IntN(len(words))]...)
		}
	}
	return b[:n]
}

func TestCompressRoundTrip(t *testing.T) {
	inputs := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"small", []byte("hello world")},
		{"1 MiB", compressible(1 << 20)},
	}
	for _, c := range codecs {
		for _, in := range inputs {
			t.Run(c.String()+"/"+in.name, func(t *testing.T) {
				comp, err := wire.Compress(nil, in.data, c)
				if err != nil {
					t.Fatalf("Compress(%s, %s) = %v", in.name, c, err)
				}
				got, err := wire.Decompress(nil, comp, c, 0)
				if err != nil {
					t.Fatalf("Decompress(Compress(%s, %s)) = %v", in.name, c, err)
				}
				if !bytes.Equal(got, in.data) {
					t.Errorf("Decompress(Compress(%s, %s)) = %d bytes, want the %d input bytes", in.name, c, len(got), len(in.data))
				}
				// With a limit of exactly the size it still decodes.
				if got, err := wire.Decompress(nil, comp, c, max(len(in.data), 1)); err != nil || !bytes.Equal(got, in.data) {
					t.Errorf("Decompress(Compress(%s, %s), limit %d) = %d bytes, %v, want the input, nil", in.name, c, len(in.data), len(got), err)
				}
				if c != wire.CompressNone && len(in.data) == 1<<20 && len(comp) >= len(in.data) {
					t.Errorf("Compress(%s, %s) = %d bytes, want fewer than the input", in.name, c, len(comp))
				}

				// Both append to dst.
				prefix := []byte("prefix")
				comp2, err := wire.Compress(bytes.Clone(prefix), in.data, c)
				if err != nil || !bytes.Equal(comp2, append(bytes.Clone(prefix), comp...)) {
					t.Errorf("Compress(prefix, %s, %s) = %.16x..., %v, want prefix + Compress(nil, ...)", in.name, c, comp2, err)
				}
				got, err = wire.Decompress(bytes.Clone(prefix), comp, c, 0)
				if err != nil || !bytes.Equal(got, append(bytes.Clone(prefix), in.data...)) {
					t.Errorf("Decompress(prefix, %s, %s) = %d bytes, %v, want prefix + input", in.name, c, len(got), err)
				}
			})
		}
	}
}

// TestCompressFormats checks that each codec writes the format brpc reads: snappy's block format
// (not its framing format), gzip and zlib streams.
func TestCompressFormats(t *testing.T) {
	data := compressible(100 << 10)

	comp, err := wire.Compress(nil, data, wire.CompressSnappy)
	if err != nil {
		t.Fatalf("Compress(snappy) = %v", err)
	}
	if want := snappy.Encode(nil, data); !bytes.Equal(comp, want) {
		t.Errorf("Compress(snappy) = %.16x... (%d bytes), want snappy.Encode = %.16x... (%d bytes)", comp, len(comp), want, len(want))
	}
	// And it reads snappy.Encode's output.
	if got, err := wire.Decompress(nil, snappy.Encode(nil, data), wire.CompressSnappy, 0); err != nil || !bytes.Equal(got, data) {
		t.Errorf("Decompress(snappy.Encode) = %d bytes, %v, want the input", len(got), err)
	}

	comp, err = wire.Compress(nil, data, wire.CompressGzip)
	if err != nil {
		t.Fatalf("Compress(gzip) = %v", err)
	}
	gr, err := gzip.NewReader(bytes.NewReader(comp))
	if err != nil {
		t.Fatalf("gzip.NewReader(Compress(gzip)) = %v", err)
	}
	if got, err := io.ReadAll(gr); err != nil || !bytes.Equal(got, data) {
		t.Errorf("gzip.NewReader(Compress(gzip)): read %d bytes, %v, want the input", len(got), err)
	}

	comp, err = wire.Compress(nil, data, wire.CompressZlib)
	if err != nil {
		t.Fatalf("Compress(zlib) = %v", err)
	}
	zr, err := zlib.NewReader(bytes.NewReader(comp))
	if err != nil {
		t.Fatalf("zlib.NewReader(Compress(zlib)) = %v", err)
	}
	if got, err := io.ReadAll(zr); err != nil || !bytes.Equal(got, data) {
		t.Errorf("zlib.NewReader(Compress(zlib)): read %d bytes, %v, want the input", len(got), err)
	}
}

func TestCompressUnsupported(t *testing.T) {
	for _, c := range []wire.CompressType{wire.CompressLZ4, 5, 9, -1} {
		if _, err := wire.Compress(nil, []byte("data"), c); !errors.Is(err, wire.ErrUnsupportedCompression) {
			t.Errorf("Compress(%v) = %v, want %v", c, err, wire.ErrUnsupportedCompression)
		}
		if _, err := wire.Decompress(nil, []byte("data"), c, 0); !errors.Is(err, wire.ErrUnsupportedCompression) {
			t.Errorf("Decompress(%v) = %v, want %v", c, err, wire.ErrUnsupportedCompression)
		}
	}
}

// TestDecompressLimit checks that a small compressed payload cannot expand past the limit.
func TestDecompressLimit(t *testing.T) {
	zeros := make([]byte, 10<<20)
	const limit = 1 << 20
	for _, c := range codecs[1:] {
		t.Run(c.String(), func(t *testing.T) {
			comp, err := wire.Compress(nil, zeros, c)
			if err != nil {
				t.Fatalf("Compress(10 MiB of zeros, %s) = %v", c, err)
			}
			got, err := wire.Decompress(nil, comp, c, limit)
			if err == nil {
				t.Errorf("Decompress(%d compressed bytes, %s, limit %d) = %d bytes, nil, want an error", len(comp), c, limit, len(got))
			}
			if got, err := wire.Decompress(nil, comp, c, len(zeros)-1); err == nil {
				t.Errorf("Decompress(%s, limit size-1) = %d bytes, nil, want an error", c, len(got))
			}
			if got, err := wire.Decompress(nil, comp, c, len(zeros)); err != nil || len(got) != len(zeros) {
				t.Errorf("Decompress(%s, limit size) = %d bytes, %v, want %d, nil", c, len(got), err, len(zeros))
			}
		})
	}
}

func TestDecompressCorrupt(t *testing.T) {
	data := compressible(64 << 10)
	for _, c := range codecs[1:] {
		t.Run(c.String(), func(t *testing.T) {
			comp, err := wire.Compress(nil, data, c)
			if err != nil {
				t.Fatalf("Compress(%s) = %v", c, err)
			}
			flipped := bytes.Clone(comp)
			flipped[len(flipped)/2] ^= 0x55
			// snappy's block format has no checksum: a flipped literal byte decodes to other data.
			// gzip and zlib check a CRC32 and an Adler-32.
			checked := c != wire.CompressSnappy
			inputs := []struct {
				name     string
				b        []byte
				mustFail bool
			}{
				{"empty", nil, true},
				{"garbage", []byte("this is not compressed at all, not even a little"), true},
				{"all 0xff", bytes.Repeat([]byte{0xff}, 100), true},
				{"truncated", comp[:len(comp)/2], true},
				{"last byte missing", comp[:len(comp)-1], true},
				{"byte flipped", flipped, checked},
				{"huge claimed length", []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 0x00}, true},
			}
			for _, in := range inputs {
				got, err := wire.Decompress(nil, in.b, c, 1<<20) // must not panic, whatever in.b is
				if in.mustFail && err == nil {
					t.Errorf("Decompress(%s, %s) = %d bytes, nil, want an error", in.name, c, len(got))
				}
			}
		})
	}
}

// DecompressBudget asks for the memory of its output before allocating it: with enough budget
// it decodes what Decompress does and was granted about the output's capacity; with too little
// it fails with ErrBudget, having been granted no more than the budget.
func TestDecompressBudget(t *testing.T) {
	const n = 1 << 20
	src := compressible(n)
	for _, ct := range []wire.CompressType{wire.CompressSnappy, wire.CompressGzip, wire.CompressZlib} {
		z, err := wire.Compress(nil, src, ct)
		if err != nil {
			t.Fatal(err)
		}
		var granted int
		take := func(budget int) func(int) bool {
			return func(k int) bool {
				if granted+k > budget {
					return false
				}
				granted += k
				return true
			}
		}
		out, err := wire.DecompressBudget(nil, z, ct, 2*n, take(4*n))
		if err != nil || !bytes.Equal(out, src) {
			t.Errorf("DecompressBudget(%v, budget %d) = %d bytes, %v; want the %d bytes compressed", ct, 4*n, len(out), err, n)
		}
		if granted < n || granted > 2*n+64<<10 {
			t.Errorf("DecompressBudget(%v) was granted %d bytes for %d bytes of output, want between", ct, granted, n)
		}
		granted = 0
		_, err = wire.DecompressBudget(nil, z, ct, 2*n, take(n/2))
		if !errors.Is(err, wire.ErrBudget) {
			t.Errorf("DecompressBudget(%v, budget %d) = %v, want ErrBudget", ct, n/2, err)
		}
		if granted > n/2 {
			t.Errorf("DecompressBudget(%v, budget %d) was granted %d bytes, want at most the budget", ct, n/2, granted)
		}
	}
}
