//go:build race

package actors

import "syscall"

// sysRead and sysWrite are syscall.Read and syscall.Write under the race detector: those tell
// it that what one goroutine wrote to a socket happened before what another read from it, as
// a program's tests may rely on (a field set before a call, read by the handler the call
// reaches); raw system calls would not, and would make it report races that are not.
func sysRead(fd uintptr, b []byte) (int, error) { return fixN(syscall.Read(int(fd), b)) }

func sysWrite(fd uintptr, b []byte) (int, error) { return fixN(syscall.Write(int(fd), b)) }

// fixN reports 0 bytes with an error, as the raw calls do, where syscall reports -1.
func fixN(n int, err error) (int, error) {
	if err != nil {
		return 0, err
	}
	return n, nil
}
