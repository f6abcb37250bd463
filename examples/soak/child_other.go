//go:build !linux

package main

import "syscall"

// childAttr is nil: without Linux's Pdeathsig a server child ends when its stdin closes.
func childAttr() *syscall.SysProcAttr { return nil }
