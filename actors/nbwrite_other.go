//go:build !unix

package actors

import "errors"

// nonBlockingWrites is false where a socket's descriptor cannot be written directly (Windows'
// sockets are overlapped handles): a goroutine writes each batch instead.
const nonBlockingWrites = false

// writeFD is never called where nonBlockingWrites is false.
func writeFD(uintptr, []byte) (int, error) { return 0, errors.ErrUnsupported }
