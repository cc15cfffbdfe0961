//go:build unix && !linux

package soak

import "syscall"

// childAttr puts a child in its own process group, so that the terminal's
// Ctrl-C reaches only hwsoak, which then stops the children in order.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
