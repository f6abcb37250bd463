//go:build unix && !linux

package actors

import "syscall"

// sysWrite is write(2) of a non-blocking socket.
func sysWrite(fd uintptr, b []byte) (int, error) { return syscall.Write(int(fd), b) }
