package main

import "syscall"

// childAttr has the kernel kill a server child when the soak dies, even by SIGKILL.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
