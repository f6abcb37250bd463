//go:build !race

package actors

import (
	"syscall"
	"unsafe"
)

// sysRead and sysWrite are read(2) and write(2) of a non-blocking socket made as raw system
// calls, which Go's scheduler does not hear of. A system call made the usual way hands the
// processor to the scheduler for its duration: entering it wakes the runtime's monitor thread
// when every processor had been idle, and one that lasts over 20 µs (a loopback write that wakes
// its reader on a virtual machine can) has its processor handed to another thread. On a
// non-blocking socket neither call waits, so there is nothing to hand over; cloudwego's netpoll
// (Kitex's network library) makes its socket calls the same way. Both return the errno as
// their error, and 0 bytes with it.
func sysRead(fd uintptr, b []byte) (int, error) { return rawRW(syscall.SYS_READ, fd, b) }

func sysWrite(fd uintptr, b []byte) (int, error) { return rawRW(syscall.SYS_WRITE, fd, b) }

func rawRW(trap, fd uintptr, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, _, e := syscall.RawSyscall(trap, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
