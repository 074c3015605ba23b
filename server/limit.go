package server

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// busyResponse is what a connection over the limit gets before it is closed: a complete
// HTTP/1.1 answer that needs no request to be read first.
const busyResponse = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: " + retryAfter +
	"\r\nContent-Type: text/plain; charset=utf-8\r\nCache-Control: no-store\r\nConnection: close\r\nContent-Length: 35\r\n\r\n" +
	"too many connections: retry later\r\n"

// limitConnections bounds the open connections of ln at max: a connection beyond it is
// answered busyResponse and closed at once, instead of waiting in the accept queue or
// holding a file descriptor and buffers like the rest.
func limitConnections(ln net.Listener, max int) net.Listener {
	return &limitListener{Listener: ln, max: int64(max)}
}

type limitListener struct {
	net.Listener
	max  int64
	open atomic.Int64
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) > l.max {
			l.open.Add(-1)
			go refuse(c)
			continue
		}
		return &countedConn{Conn: c, l: l}, nil
	}
}

// refuse answers a connection over the limit and closes it, spending at most a second.
func refuse(c net.Conn) {
	c.SetWriteDeadline(time.Now().Add(time.Second))
	c.Write([]byte(busyResponse))
	c.Close()
}

// countedConn gives its place back once, when closed.
type countedConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.l.open.Add(-1) })
	return c.Conn.Close()
}
