//go:build !linux

package server

import "net"

// unsentBytes is not known off Linux: responses there use per-write deadlines.
func unsentBytes(net.Conn) (int, bool) { return 0, false }
