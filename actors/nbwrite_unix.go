//go:build unix

package actors

// nonBlockingWrites says whether a socket actor writes its connections itself, without
// blocking, through the descriptor; elsewhere a goroutine writes them.
const nonBlockingWrites = true

// writeFD writes b to the non-blocking socket fd once.
func writeFD(fd uintptr, b []byte) (int, error) { return sysWrite(fd, b) }
