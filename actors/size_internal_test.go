package actors

import (
	"testing"
	"unsafe"
)

// A plain call (with its Call and light actor inline) is one allocation per call. Go puts an
// 8-byte header before an object over 512 bytes that holds pointers, so 888 bytes fill the
// 896-byte size class; one more field would take the call to the 1024-byte class, 128 bytes
// more per call for the garbage collector.
func TestPlainCallFitsItsSizeClass(t *testing.T) {
	if size := unsafe.Sizeof(plainCall{}); size > 888 {
		t.Errorf("plainCall is %d bytes, want at most 888 (the 896-byte size class with its header)", size)
	}
}
