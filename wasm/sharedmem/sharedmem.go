// Package sharedmem rewrites a Go-built WebAssembly program so that its linear memory is a
// shared memory imported from the page (alexlens.mem) instead of one the module defines.
// Go's runtime has no threads and never notices; what it gains is that Web Workers running
// wasm/cpukernel's kernel module on the same memory can work on Go's data in place, so
// that a convolution is split across cores without copying a byte or a weight.
//
// Shared memories need a maximum size; the rewritten module declares MaxPages (4 GiB, all
// that wasm32 addresses) and the page must create the memory with the same maximum, an
// initial size of at least the module's (InitialPages), and shared: true.
package sharedmem

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// MaxPages is the maximum the rewritten module declares: 65536 pages of 64 KiB.
const MaxPages = 65536

// ImportModule and ImportName name the memory import: importObject.alexlens.mem.
const (
	ImportModule = "alexlens"
	ImportName   = "mem"
)

const (
	sectionImport = 2
	sectionMemory = 5
)

// Share returns bin with its one defined memory replaced by an import of a shared memory
// of the same initial size and MaxPages maximum, and that initial size in pages. Everything
// else, the export of the memory as "mem" included, is unchanged: an imported memory keeps
// index 0.
func Share(bin []byte) (out []byte, initialPages uint32, err error) {
	if len(bin) < 8 || !bytes.Equal(bin[:8], []byte{0, 'a', 's', 'm', 1, 0, 0, 0}) {
		return nil, 0, errors.New("sharedmem: not a WebAssembly 1.0 module")
	}
	type section struct {
		id   byte
		body []byte
	}
	var sections []section
	for r := bin[8:]; len(r) > 0; {
		id := r[0]
		size, n := binary.Uvarint(r[1:])
		if n <= 0 || uint64(len(r)-1-n) < size {
			return nil, 0, fmt.Errorf("sharedmem: section %d runs past the end of the module", id)
		}
		sections = append(sections, section{id, r[1+n : 1+n+int(size)]})
		r = r[1+n+int(size):]
	}
	mem, imp := -1, -1
	for i, s := range sections {
		switch s.id {
		case sectionMemory:
			mem = i
		case sectionImport:
			imp = i
		}
	}
	if mem < 0 {
		return nil, 0, errors.New("sharedmem: the module defines no memory (already rewritten?)")
	}
	if imp < 0 {
		return nil, 0, errors.New("sharedmem: the module has no import section")
	}
	// The memory section: count 1, then limits (flag 0: min; flag 1: min, max).
	m := sections[mem].body
	count, n := binary.Uvarint(m)
	if n <= 0 || count != 1 || len(m) < n+2 || m[n] > 1 {
		return nil, 0, errors.New("sharedmem: expected one unshared memory")
	}
	minPages, k := binary.Uvarint(m[n+1:])
	if k <= 0 || minPages > MaxPages {
		return nil, 0, errors.New("sharedmem: bad memory limits")
	}

	// The import section gains one entry.
	body := sections[imp].body
	nImports, n := binary.Uvarint(body)
	if n <= 0 {
		return nil, 0, errors.New("sharedmem: bad import section")
	}
	var entry []byte
	for _, s := range []string{ImportModule, ImportName} {
		entry = binary.AppendUvarint(entry, uint64(len(s)))
		entry = append(entry, s...)
	}
	entry = append(entry, 0x02, 0x03) // memory; limits: shared, min and max
	entry = binary.AppendUvarint(entry, minPages)
	entry = binary.AppendUvarint(entry, MaxPages)
	newImports := binary.AppendUvarint(nil, nImports+1)
	newImports = append(newImports, body[n:]...)
	newImports = append(newImports, entry...)
	sections[imp].body = newImports

	out = append([]byte(nil), bin[:8]...)
	for i, s := range sections {
		if i == mem {
			continue
		}
		out = append(out, s.id)
		out = binary.AppendUvarint(out, uint64(len(s.body)))
		out = append(out, s.body...)
	}
	return out, uint32(minPages), nil
}
