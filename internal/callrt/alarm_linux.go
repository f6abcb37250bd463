package callrt

import (
	"os"
	"syscall"
	"time"
	"unsafe"
)

// timerfdAlarm is a Linux timerfd that a goroutine of its own reads through Go's network
// poller: waiting for it is not a Go timer. Its methods are called with the deadlines' lock
// held.
type timerfdAlarm struct {
	f  *os.File
	fd uintptr
}

const clockMonotonic = 1 // CLOCK_MONOTONIC

// newAlarm returns a timerfd alarm whose goroutine, started with run, calls ring each time it
// rings; or an alarm on a Go timer when no timerfd can be made.
func newAlarm(ring func(), run func(func())) alarm {
	fd, _, errno := syscall.Syscall(syscall.SYS_TIMERFD_CREATE, clockMonotonic, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errno != 0 {
		return &timerAlarm{ring: ring}
	}
	a := &timerfdAlarm{f: os.NewFile(fd, "troupe-deadlines"), fd: fd}
	run(func() {
		var expirations [8]byte
		for {
			if _, err := a.f.Read(expirations[:]); err != nil {
				return // stop closed the file
			}
			ring()
		}
	})
	return a
}

// set arms the timerfd once, d from now. d is positive: a zero setting would disarm it.
func (a *timerfdAlarm) set(d time.Duration) {
	spec := [2]syscall.Timespec{{}, syscall.NsecToTimespec(int64(d))} // interval, first expiry
	syscall.Syscall6(syscall.SYS_TIMERFD_SETTIME, a.fd, 0, uintptr(unsafe.Pointer(&spec)), 0, 0, 0)
}

func (a *timerfdAlarm) stop() { a.f.Close() }
