//go:build !freebsd && !openbsd && !dragonfly

package wire

import "syscall"

// sysENODATA is the platform's ENODATA.
const sysENODATA = syscall.ENODATA
