package jpeg

import "fmt"

// maxBlocksInMCU is libjpeg's limit on the blocks of one interleaved MCU (T.81 B.2.3).
const maxBlocksInMCU = 10

// scan is one SOS header.
type scan struct {
	comps  []*component
	ss, se int // spectral selection
	ah, al uint
}

func (d *decoder) readScan() error {
	if !d.sofSeen {
		return invalid("scan before the frame header")
	}
	d.scans++
	if d.scans > maxScans {
		return invalid("more than %d scans", maxScans)
	}
	p, err := d.segment("scan header")
	if err != nil {
		return err
	}
	if len(p) < 1 {
		return invalid("empty scan header")
	}
	n := int(p[0])
	if n < 1 || n > 4 || len(p) != 4+2*n {
		return invalid("scan header of %d bytes for %d components", len(p), n)
	}
	var s scan
	for i := 0; i < n; i++ {
		id, tables := p[1+2*i], p[2+2*i]
		var c *component
		for j := range d.comps {
			if d.comps[j].id == id {
				c = &d.comps[j]
			}
		}
		if c == nil {
			return invalid("scan names component id %d, not in the frame", id)
		}
		for _, o := range s.comps {
			if o == c {
				return invalid("scan names component id %d twice", id)
			}
		}
		td, ta := int(tables>>4), int(tables&15)
		if td > 3 || ta > 3 {
			return invalid("Huffman table selectors %d/%d", td, ta)
		}
		c.dcTab, c.acTab = &d.dcTables[td], &d.acTables[ta]
		if !d.dcSet[td] {
			c.dcTab = stdTable(false, td)
		}
		if !d.acSet[ta] {
			c.acTab = stdTable(true, ta)
		}
		s.comps = append(s.comps, c)
	}
	q := p[1+2*n:]
	s.ss, s.se, s.ah, s.al = int(q[0]), int(q[1]), uint(q[2]>>4), uint(q[2]&15)

	if n > 1 {
		blocks := 0
		for _, c := range s.comps {
			blocks += c.h * c.v
		}
		if blocks > maxBlocksInMCU {
			return invalid("%d blocks in an MCU (limit %d)", blocks, maxBlocksInMCU)
		}
	}
	if d.progressive {
		// The checks libjpeg makes before a progressive scan (T.81 G.1.1.1.1).
		bad := s.se > 63 || s.ss > s.se || s.al > 13 || (s.ah != 0 && s.al != s.ah-1)
		if s.ss == 0 {
			bad = bad || s.se != 0
		} else {
			bad = bad || n != 1
		}
		if bad {
			return invalid("progressive scan parameters Ss=%d Se=%d Ah=%d Al=%d with %d components", s.ss, s.se, s.ah, s.al, n)
		}
	}
	// Sequential scans must code the whole block; libjpeg only warns about other values
	// and decodes the block anyway, which is what the sequential decoder below does.

	if !d.allocated {
		if err := d.allocate(); err != nil {
			return err
		}
	}
	needDC := !d.progressive || (s.ss == 0 && s.ah == 0)
	needAC := !d.progressive || s.ss > 0
	for i, c := range s.comps {
		td, ta := p[2+2*i]>>4, p[2+2*i]&15
		if needDC && c.dcTab == nil {
			return invalid("DC Huffman table %d not defined", td)
		}
		if needAC && c.acTab == nil {
			return invalid("AC Huffman table %d not defined", ta)
		}
		// The DC table must only hold magnitude categories 0..15 (libjpeg refuses the
		// table otherwise).
		if needDC && c.dcTab.maxSym > 15 {
			return invalid("DC Huffman table %d has symbol %d", td, c.dcTab.maxSym)
		}
		if !d.progressive && c.seen {
			// T.81 codes each component of a sequential image in exactly one scan. Refusing
			// repeats also bounds the work a small hostile file can ask for.
			return invalid("component id %d coded twice in a sequential JPEG", c.id)
		}
		if !c.latched {
			// libjpeg takes each component's quantization table as it is when the
			// component first appears in a scan.
			if !d.quantSet[c.tq] {
				return invalid("quantization table %d not defined", c.tq)
			}
			c.qt = d.quant[c.tq]
			c.latched = true
		}
		c.seen = true
		c.dcPred = 0
	}
	d.eobrun = 0
	d.bits.reset(d.in)
	if err := d.decodeScan(&s); err != nil {
		return err
	}
	if d.bits.padUse && d.bits.eof {
		return d.codedDataEnded()
	}
	return nil
}

// codedDataEnded is the error for input that stopped inside a scan's coded data.
func (d *decoder) codedDataEnded() error {
	return d.truncated(d.in.readErr(), fmt.Sprintf("inside the coded data of scan %d", d.scans))
}

// allocate makes the sample planes, and for progressive files the coefficient arrays,
// once the frame is known to be decodable.
func (d *decoder) allocate() error {
	for i := range d.comps {
		c := &d.comps[i]
		if d.hmax%c.h != 0 || d.vmax%c.v != 0 {
			return unsupported("sampling factors %dx%d with maximum %dx%d (not an integral ratio)", c.h, c.v, d.hmax, d.vmax)
		}
	}
	for i := range d.comps {
		c := &d.comps[i]
		blocks := c.bw * c.bh
		if d.progressive {
			c.coefs = make([]int16, blocks*64)
			c.hasAC = make([]bool, blocks)
		} else {
			c.plane = make([]byte, blocks*64)
		}
	}
	d.allocated = true
	return nil
}

// decodeScan walks the MCUs of one scan, handling restart markers.
func (d *decoder) decodeScan(s *scan) error {
	if d.progressive && s.ss > 0 {
		return d.decodeACScan(s)
	}
	// A single-component scan is not interleaved: its MCU is one block, and it covers
	// only the blocks holding image samples, not the MCU padding (T.81 A.2.2).
	var mcusX, mcusY int
	if len(s.comps) == 1 {
		c := s.comps[0]
		mcusX, mcusY = ceilDiv(c.dw, 8), ceilDiv(c.dh, 8)
	} else {
		mcusX, mcusY = d.mcusX, d.mcusY
	}
	var block [64]int16
	rstLeft := d.restart
	nextRST := 0
	total := mcusX * mcusY
	for m := 0; m < total; m++ {
		if d.restart > 0 && rstLeft == 0 {
			d.restartMarker(&nextRST)
			for _, c := range s.comps {
				c.dcPred = 0
			}
			d.eobrun = 0
			rstLeft = d.restart
		}
		rstLeft--
		// Once the coded data ran out (a marker or the end of the file met where bits were
		// needed), libjpeg leaves the following MCUs of the restart interval zero, that
		// is flat grey, rather than decoding padding as data.
		skip := d.bits.padUse
		if skip && d.progressive {
			// Skipped MCUs leave a progressive image's coefficients as they are, so jump
			// to the next restart marker, or the end of the scan: a hostile file of many
			// empty scans then costs no more than its bytes.
			if d.restart == 0 || !d.restartPending() {
				break
			}
			m += rstLeft
			rstLeft = 0
			continue
		}
		mx, my := m%mcusX, m/mcusX
		for _, c := range s.comps {
			bx0, by0, nh, nv := mx, my, 1, 1
			if len(s.comps) > 1 {
				bx0, by0, nh, nv = mx*c.h, my*c.v, c.h, c.v
			}
			for by := by0; by < by0+nv; by++ {
				for bx := bx0; bx < bx0+nh; bx++ {
					if d.progressive {
						i := by*c.bw + bx
						d.progressiveBlock(s, c, (*[64]int16)(c.coefs[i*64:]), &c.hasAC[i])
					} else {
						block = [64]int16{}
						if !skip {
							d.sequentialBlock(c, &block)
						}
						stride := c.bw * 8
						idct(&block, &c.qt, c.plane[by*8*stride+bx*8:], stride)
					}
				}
			}
		}
		if d.bits.eof && d.bits.padUse {
			return d.codedDataEnded()
		}
	}
	return nil
}

// restartMarker handles the RSTn expected after a restart interval: bits left in the
// byte are dropped, and a marker other than the expected one is resolved the way
// libjpeg's default resynchronisation does, so that a damaged file still decodes.
func (d *decoder) restartMarker(next *int) {
	b := &d.bits
	want := byte(mRST0 + *next)
	*next = (*next + 1) & 7
	// The bits left belong to the interval just ended: drop them.
	b.acc, b.n, b.pad = 0, 0, 0
	if b.marker == 0 && !b.eof {
		// The marker has not been read yet: it follows the remaining coded bytes.
		m, err := d.nextMarker()
		if err != nil {
			b.eof = true
			return
		}
		b.marker = m
	}
	for b.marker != 0 {
		m := b.marker
		if m == want {
			break
		}
		if m < mSOF0 { // not a valid marker: look for the next one
			if !d.skipToMarker() {
				return
			}
			continue
		}
		if m < mRST0 || m > mRST7 {
			return // a real marker: leave it, the rest of the scan decodes as zeros
		}
		k := int(m - mRST0)
		w := int(want - mRST0)
		if k == (w+1)&7 || k == (w+2)&7 {
			return // a restart or two ahead: this interval's data is missing
		}
		if k == (w+7)&7 || k == (w+6)&7 {
			if !d.skipToMarker() { // an earlier one: skip ahead
				return
			}
			continue
		}
		break // too far off to tell: take it as the one wanted
	}
	// Consumed: the next interval starts afresh. (A marker left pending instead makes the
	// next interval decode from zero bits, then flat grey, as in libjpeg.)
	b.marker = 0
	b.padUse = false
}

// skipToMarker drops the pending marker and reads up to the next one.
func (d *decoder) skipToMarker() bool {
	d.bits.marker = 0
	m, err := d.nextMarker()
	if err != nil {
		d.bits.eof = true
		return false
	}
	d.bits.marker = m
	return true
}

// sequentialBlock decodes one block of a baseline or extended sequential scan (T.81
// F.2.2) into natural order.
func (d *decoder) sequentialBlock(c *component, blk *[64]int16) {
	b := &d.bits
	s := b.decode(c.dcTab)
	c.dcPred += b.receiveExtend(uint(s & 15))
	blk[0] = int16(c.dcPred)
	for k := 1; k < 64; k++ {
		rs := b.decode(c.acTab)
		r, s := int(rs>>4), uint(rs&15)
		if s != 0 {
			k += r
			blk[zigzag[k]] = int16(b.receiveExtend(s))
		} else {
			if r != 15 {
				break
			}
			k += 15
		}
	}
}

// progressiveBlock applies one progressive scan's share of a block (T.81 G.1.2).
// hasAC records whether the block has a nonzero AC coefficient yet.
func (d *decoder) progressiveBlock(s *scan, c *component, blk *[64]int16, hasAC *bool) {
	b := &d.bits
	switch {
	case s.ss == 0 && s.ah == 0: // DC, first pass
		t := b.decode(c.dcTab)
		c.dcPred += b.receiveExtend(uint(t & 15))
		blk[0] = int16(c.dcPred << s.al)
	case s.ss == 0: // DC, refinement: one more bit
		if b.getBit() {
			blk[0] |= 1 << s.al
		}
	case s.ah == 0: // AC, first pass
		if d.eobrun > 0 {
			d.eobrun--
			return
		}
		for k := s.ss; k <= s.se; k++ {
			rs := b.decode(c.acTab)
			r, sz := int(rs>>4), uint(rs&15)
			if sz != 0 {
				k += r
				blk[zigzag[k]] = int16(b.receiveExtend(sz) << s.al)
				*hasAC = true
				continue
			}
			if r == 15 {
				k += 15
				continue
			}
			d.eobrun = 1<<r - 1 // this block ends the band, and so do eobrun more
			if r > 0 {
				d.eobrun += b.getBits(uint(r))
			}
			break
		}
	default: // AC, refinement
		d.refineAC(s, c, blk, hasAC)
	}
}

// refineAC adds one bit of precision to a block's AC band: new coefficients of magnitude
// 1<<al appear among the zero ones, and each nonzero one gets a correction bit.
func (d *decoder) refineAC(s *scan, c *component, blk *[64]int16, hasAC *bool) {
	b := &d.bits
	p1 := int16(1) << s.al
	m1 := int16(-1) << s.al
	refine := func(v *int16) {
		if b.getBit() && *v&p1 == 0 {
			if *v >= 0 {
				*v += p1
			} else {
				*v += m1
			}
		}
	}
	k := s.ss
	if d.eobrun == 0 {
		for ; k <= s.se; k++ {
			rs := b.decode(c.acTab)
			r, sz := int(rs>>4), rs&15
			var val int16
			if sz != 0 {
				// Only magnitude 1 is possible here; its sign is the next bit.
				if b.getBit() {
					val = p1
				} else {
					val = m1
				}
			} else if r != 15 {
				d.eobrun = 1 << r
				if r > 0 {
					d.eobrun += b.getBits(uint(r))
				}
				break
			}
			// Skip r zero coefficients (correcting the nonzero ones passed on the way)
			// and stop on the zero one that receives val.
			for k <= s.se {
				v := &blk[zigzag[k]]
				if *v != 0 {
					refine(v)
				} else {
					r--
					if r < 0 {
						break
					}
				}
				k++
			}
			if val != 0 {
				blk[zigzag[k]] = val
				*hasAC = true
			}
		}
	}
	if d.eobrun > 0 {
		// Inside an end-of-band run: only the corrections of nonzero coefficients, of
		// which a block with no AC coefficient yet has none to read (a shortcut that keeps
		// long runs over empty blocks cheap).
		if !*hasAC {
			d.eobrun--
			return
		}
		for ; k <= s.se; k++ {
			if v := &blk[zigzag[k]]; *v != 0 {
				refine(v)
			}
		}
		d.eobrun--
	}
}

// decodeACScan walks a progressive AC scan (always one component, one block per MCU).
// Blocks inside an end-of-band run are passed over in bulk: in a first pass they change
// nothing, and in a refinement pass only blocks that already have AC coefficients read
// correction bits. A few bytes of runs can cover every block of the image, so this keeps
// the cost of a scan proportional to its data rather than to the image.
func (d *decoder) decodeACScan(s *scan) error {
	c := s.comps[0]
	w := ceilDiv(c.dw, 8)
	total := w * ceilDiv(c.dh, 8)
	rstLeft, nextRST := d.restart, 0
	for m := 0; m < total; {
		if d.restart > 0 && rstLeft == 0 {
			d.restartMarker(&nextRST)
			d.eobrun = 0
			rstLeft = d.restart
		}
		n := total - m // blocks up to the next restart marker or the end
		if d.restart > 0 {
			n = min(n, rstLeft)
		}
		skip := 0
		switch {
		case d.bits.padUse:
			// The data ran out: nothing more changes before the next restart marker, and
			// if none is coming (the end of the file, or another marker in the way),
			// nothing more changes in this scan.
			if d.restart == 0 || !d.restartPending() {
				return nil
			}
			skip = n
		case d.eobrun > 0 && s.ah == 0:
			skip = min(d.eobrun, n)
			d.eobrun -= skip
		case d.eobrun > 0:
			limit := min(n, d.eobrun)
			bx, by := m%w, m/w
			row := c.hasAC[by*c.bw : by*c.bw+w]
			for skip < limit && !row[bx] {
				skip++
				if bx++; bx == w && skip < limit {
					bx, by = 0, by+1
					row = c.hasAC[by*c.bw : by*c.bw+w]
				}
			}
			d.eobrun -= skip
		}
		if skip > 0 {
			m += skip
			rstLeft -= skip
			continue
		}
		i := blockIndex(c, w, m)
		d.progressiveBlock(s, c, (*[64]int16)(c.coefs[i*64:]), &c.hasAC[i])
		m++
		rstLeft--
		if d.bits.eof && d.bits.padUse {
			return d.codedDataEnded()
		}
	}
	return nil
}

// blockIndex is the index in c's block arrays of the m-th block of a non-interleaved scan
// that is w blocks wide.
func blockIndex(c *component, w, m int) int {
	return (m/w)*c.bw + m%w
}

// restartPending reports whether the coded data may still go on after a restart marker:
// false once the file has ended or a valid marker other than RSTn stands in the way (the
// resynchronisation leaves those in place; it reads past only invalid ones).
func (d *decoder) restartPending() bool {
	m := d.bits.marker
	return !d.bits.eof && (m == 0 || m < mSOF0 || (m >= mRST0 && m <= mRST7))
}
