package server

import (
	"net"
	"syscall"
	"unsafe"
)

// unsentBytes is how many bytes written to c the peer has not yet acknowledged (the
// socket's send queue, SIOCOUTQ), or ok=false when c is not a TCP socket.
func unsentBytes(c net.Conn) (n int, ok bool) {
	tc, isTCP := c.(*net.TCPConn)
	if !isTCP {
		return 0, false
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return 0, false
	}
	var out int32
	var serr syscall.Errno
	err = rc.Control(func(fd uintptr) {
		_, _, serr = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&out)))
	})
	if err != nil || serr != 0 {
		return 0, false
	}
	return int(out), true
}
