//go:build freebsd || openbsd || dragonfly

package wire

import "syscall"

// sysENODATA stands for ENODATA, which these systems lack: no errno maps to brpc's ENODATA
// there (fromSyscall never matches a zero errno).
const sysENODATA = syscall.Errno(0)
