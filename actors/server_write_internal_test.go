package actors

import (
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
	wc.write(&wire.Meta{IsResponse: true, CorrelationID: 2}, make([]byte, maxSpare+1), nil)
	if corrupted > 0 || writes != 4 {
		t.Errorf("%d of %d writes had their bytes changed while being written, want 0 of 4", corrupted, writes)
	}
}
