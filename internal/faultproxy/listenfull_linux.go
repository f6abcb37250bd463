package faultproxy

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

// FullListener is a loopback listener that never accepts and whose accept queue is full, so that
// connecting to it times out (the kernel drops the SYNs).
type FullListener struct {
	l     net.Listener
	addr  string
	conns []net.Conn // the connections that fill the queue
}

// ListenFull returns a FullListener: a socket listening with a backlog of 0 whose queue is filled
// by connections the listener holds. It fails when the platform does not drop SYNs to a full
// queue.
func ListenFull() (*FullListener, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	sa := &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}
	if err := syscall.Bind(fd, sa); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	if err := syscall.Listen(fd, 0); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "listenfull")
	l, err := net.FileListener(f) // dups fd
	f.Close()
	if err != nil {
		return nil, err
	}
	fl := &FullListener{l: l, addr: l.Addr().String()}
	if err := fl.fill(); err != nil {
		fl.Close()
		return nil, err
	}
	return fl, nil
}

// fill connects until a connection attempt times out: the queue is then full.
func (fl *FullListener) fill() error {
	for range 64 {
		c, err := net.DialTimeout("tcp", fl.addr, 300*time.Millisecond)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return nil
			}
			return err
		}
		fl.conns = append(fl.conns, c)
	}
	return fmt.Errorf("faultproxy: %d connections to a listener with backlog 0 all succeeded", len(fl.conns))
}

// Addr is the address connecting to which times out.
func (fl *FullListener) Addr() string { return fl.addr }

// Close closes the listener and the connections that filled its queue.
func (fl *FullListener) Close() error {
	for _, c := range fl.conns {
		c.Close()
	}
	return fl.l.Close()
}
