package jpeg

import "io"

// input buffers the source so that the entropy decoder can take bytes without a call per
// byte. Marker segments are at most 64 KiB, so one scratch buffer serves them all.
type input struct {
	r    io.Reader
	buf  []byte
	i, n int   // unread bytes are buf[i:n]
	err  error // sticky error from r, reported once the buffer is drained
	tmp  []byte
}

const inputBufSize = 16 << 10

func newInput(r io.Reader) *input {
	return &input{r: r, buf: make([]byte, inputBufSize)}
}

// fill reads more bytes into an empty buffer. It reports whether any arrived.
func (in *input) fill() bool {
	if in.i < in.n {
		return true
	}
	if in.err != nil {
		return false
	}
	in.i, in.n = 0, 0
	// A reader may legally return 0 bytes and no error; retry a bounded number of times
	// so that a misbehaving reader cannot spin us forever.
	for tries := 0; tries < 100; tries++ {
		n, err := in.r.Read(in.buf)
		in.n = n
		if err != nil {
			in.err = err
		}
		if n > 0 || err != nil {
			return n > 0
		}
	}
	in.err = io.ErrNoProgress
	return false
}

func (in *input) readErr() error {
	if in.err == nil {
		return io.ErrUnexpectedEOF
	}
	return in.err
}

func (in *input) readByte() (byte, error) {
	if in.i >= in.n && !in.fill() {
		return 0, in.readErr()
	}
	b := in.buf[in.i]
	in.i++
	return b, nil
}

func (in *input) readFull(p []byte) error {
	for len(p) > 0 {
		if in.i >= in.n && !in.fill() {
			err := in.readErr()
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		c := copy(p, in.buf[in.i:in.n])
		in.i += c
		p = p[c:]
	}
	return nil
}

func (in *input) skip(n int) error {
	for n > 0 {
		if in.i >= in.n && !in.fill() {
			err := in.readErr()
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		c := min(n, in.n-in.i)
		in.i += c
		n -= c
	}
	return nil
}

// scratch returns a reusable buffer of n bytes (n < 64 KiB for marker segments).
func (in *input) scratch(n int) []byte {
	if cap(in.tmp) < n {
		in.tmp = make([]byte, n)
	}
	return in.tmp[:n]
}
