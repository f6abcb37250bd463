package actors

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/troupe-rpc/troupe/wire"
)

// writerFunc is a function that is an io.Writer.
type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// A buffer over maxSpare is not kept, and the spare the writer handed out as the next buffer is
// not handed out a second time: frames appended during a write never land in the bytes being
// written.
func TestWriteCombinerNeverAppendsToTheBufferItWrites(t *testing.T) {
	var wc writeCombiner
	wc.idle.L = &wc.mu
	writes, corrupted := 0, 0
	wc.w = writerFunc(func(p []byte) (int, error) {
		writes++
		before := append([]byte(nil), p...)
		if writes == 2 || writes == 3 { // frames that arrive while a write is in progress
			wc.hold(&wire.Meta{IsResponse: true, CorrelationID: int64(10 + writes)}, []byte("an answer that arrived meanwhile"), nil)
		}
		if !bytes.Equal(before, p) {
			corrupted++
		}
		return len(p), nil
	})
	// The first buffer, kept as the spare, has room for the frames that arrive later.
	wc.write(&wire.Meta{IsResponse: true, CorrelationID: 1}, make([]byte, 512), nil)
	wc.hold(&wire.Meta{IsResponse: true, CorrelationID: 2}, make([]byte, maxSpare+1), nil)
	wc.flush()
	if corrupted > 0 || writes != 4 {
		t.Errorf("%d of %d writes had their bytes changed while being written, want 0 of 4", corrupted, writes)
	}
}

// A large answer is written from its own buffers, after the answers held before it and before
// one added while it is written: the stream carries the frames whole and in that order.
func TestWriteCombinerWritesLargeAnswersWithoutCopying(t *testing.T) {
	var wc writeCombiner
	wc.idle.L = &wc.mu
	var stream bytes.Buffer
	writes := 0
	wc.w = writerFunc(func(p []byte) (int, error) {
		writes++
		if writes == 1 {
			wc.hold(&wire.Meta{IsResponse: true, CorrelationID: 3}, []byte("added meanwhile"), nil)
		}
		return stream.Write(p)
	})
	payload := bytes.Repeat([]byte("p"), maxPooledBuf+1)
	attachment := bytes.Repeat([]byte("a"), 1000)
	wc.hold(&wire.Meta{IsResponse: true, CorrelationID: 1}, []byte("held"), nil)
	wc.write(&wire.Meta{IsResponse: true, CorrelationID: 2}, payload, attachment)
	if len(wc.buf) != 0 || wc.writing {
		t.Fatalf("after write: %d bytes buffered, writing %v; want everything written", len(wc.buf), wc.writing)
	}
	if cap(wc.spare) > maxPooledBuf {
		t.Errorf("the spare buffer has %d bytes of capacity: the large payload was copied into it", cap(wc.spare))
	}
	r := wire.NewReader(bufio.NewReader(&stream), 0)
	want := []struct {
		id                  int64
		payload, attachment []byte
	}{{1, []byte("held"), nil}, {2, payload, attachment}, {3, []byte("added meanwhile"), nil}}
	for _, w := range want {
		var f wire.Frame
		if err := r.ReadFrame(&f); err != nil {
			t.Fatalf("frame %d: %v", w.id, err)
		}
		if f.Meta.CorrelationID != w.id || !bytes.Equal(f.Payload, w.payload) || !bytes.Equal(f.Attachment, w.attachment) {
			t.Fatalf("frame %d: got id %d, %d payload and %d attachment bytes; want %d and %d",
				w.id, f.Meta.CorrelationID, len(f.Payload), len(f.Attachment), len(w.payload), len(w.attachment))
		}
	}
}
