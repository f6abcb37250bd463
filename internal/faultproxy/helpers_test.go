package faultproxy

import "syscall"

const syscallECONNRESET = syscall.ECONNRESET
