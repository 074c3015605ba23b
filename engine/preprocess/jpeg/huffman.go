package jpeg

// lookBits is how many bits the fast Huffman lookup resolves at once; longer codes, rare in
// practice, go through the canonical-code comparison per length (ITU T.81 F.2.2.3).
const lookBits = 9

// huffTable is one decoded DHT table.
type huffTable struct {
	lookup  [1 << lookBits]uint16 // code length<<8 | symbol for codes up to lookBits; 0 = longer
	maxCode [17]int32             // largest code of each length, -1 when there is none
	valOff  [17]int32             // index in vals of the first code of a length, minus that code
	vals    [256]byte
	n       int
	maxSym  byte
}

// build makes the table from a DHT's 16 counts and its symbols (T.81 annex C), rejecting
// counts that overflow the code space as libjpeg does.
func (t *huffTable) build(counts [16]int, syms []byte) error {
	*t = huffTable{}
	t.n = copy(t.vals[:], syms)
	for _, s := range syms {
		t.maxSym = max(t.maxSym, s)
	}
	last := 0 // longest code length in use
	for l, n := range counts {
		if n > 0 {
			last = l + 1
		}
	}
	code, k := int32(0), 0
	for l := 1; l <= 16; l++ {
		n := counts[l-1]
		t.valOff[l] = int32(k) - code
		if int(code)+n > 1<<l {
			return invalid("Huffman table overflows its code space")
		}
		if n == 0 {
			t.maxCode[l] = -1
		} else {
			for i := 0; i < n; i++ {
				if l <= lookBits {
					// every lookBits-bit pattern that starts with this code
					shift := uint(lookBits - l)
					base := int(code+int32(i)) << shift
					for j := 0; j < 1<<shift; j++ {
						t.lookup[base+j] = uint16(l)<<8 | uint16(t.vals[k+i])
					}
				}
			}
			code += int32(n)
			k += n
			t.maxCode[l] = code - 1
		}
		// libjpeg also refuses a table that needs the all-ones code of a length.
		if l <= last && code >= 1<<l {
			return invalid("Huffman table overflows its code space")
		}
		code <<= 1
	}
	return nil
}

// bitReader reads the entropy-coded data of a scan, removing stuffed zero bytes. When it
// meets a marker or the end of the file it supplies zero bits, as libjpeg does, and
// remembers which: the scan loop decides whether that was an error.
type bitReader struct {
	in     *input
	acc    uint64 // the low n bits are unread, oldest first
	n      uint
	pad    uint // how many of the low bits of acc are padding, not data
	marker byte // marker met in the coded data, not yet handled
	eof    bool // the file ended in the coded data
	padUse bool // padding bits have been consumed as data
}

func (b *bitReader) reset(in *input) {
	b.in, b.acc, b.n, b.pad, b.eof, b.padUse = in, 0, 0, 0, false, false
}

// fill tops the accumulator up to at least 57 bits.
func (b *bitReader) fill() {
	in := b.in
	for b.n <= 56 {
		if b.marker != 0 || b.eof {
			b.acc <<= 8
			b.n += 8
			b.pad += 8
			continue
		}
		// Fast path: a plain byte already buffered.
		if in.i < in.n {
			c := in.buf[in.i]
			if c != 0xFF {
				in.i++
				b.acc = b.acc<<8 | uint64(c)
				b.n += 8
				continue
			}
		}
		c, err := in.readByte()
		if err != nil {
			b.eof = true
			continue
		}
		if c == 0xFF {
			for c == 0xFF { // fill bytes may precede a marker
				if c, err = in.readByte(); err != nil {
					b.eof = true
					break
				}
			}
			if b.eof {
				continue
			}
			if c != 0 {
				b.marker = c
				continue
			}
			c = 0xFF // stuffed
		}
		b.acc = b.acc<<8 | uint64(c)
		b.n += 8
	}
}

// consume drops k bits, noting whether any of them were padding.
func (b *bitReader) consume(k uint) {
	b.n -= k
	if b.n < b.pad {
		b.padUse = true
		b.pad = b.n
	}
}

// getBits returns the next k (0..16) bits as an unsigned number.
func (b *bitReader) getBits(k uint) int {
	if k == 0 {
		return 0
	}
	if b.n < k {
		b.fill()
	}
	v := int(b.acc>>(b.n-k)) & (1<<k - 1)
	b.consume(k)
	return v
}

func (b *bitReader) getBit() bool {
	if b.n < 1 {
		b.fill()
	}
	v := b.acc>>(b.n-1)&1 != 0
	b.consume(1)
	return v
}

// receiveExtend reads a k-bit magnitude category value and sign-extends it (T.81 F.2.2.1).
func (b *bitReader) receiveExtend(k uint) int {
	if k == 0 {
		return 0
	}
	if b.n < k {
		b.fill()
	}
	v := int(b.acc>>(b.n-k)) & (1<<k - 1)
	b.consume(k)
	if v < 1<<(k-1) {
		v += -1<<k + 1
	}
	return v
}

// decode reads one Huffman-coded symbol. A bit pattern matching no code gives symbol 0
// after 16 bits, libjpeg's "safest" answer for corrupt data.
func (b *bitReader) decode(t *huffTable) byte {
	if b.n < 16 {
		b.fill()
	}
	if e := t.lookup[b.acc>>(b.n-lookBits)&(1<<lookBits-1)]; e != 0 {
		b.consume(uint(e >> 8))
		return byte(e)
	}
	for l := uint(lookBits + 1); l <= 16; l++ {
		code := int32(b.acc>>(b.n-l)) & (1<<l - 1)
		if code <= t.maxCode[l] {
			b.consume(l)
			i := t.valOff[l] + code
			if i < 0 || int(i) >= t.n {
				return 0
			}
			return t.vals[i]
		}
	}
	b.consume(16)
	return 0
}
