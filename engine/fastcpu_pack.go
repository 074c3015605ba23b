package engine

import (
	"runtime"
	"sync"
	"weak"
)

// packedConv is a convolution weight in the layout the micro-kernel reads: for each group,
// ceil(coutG/mr) panels of mr output channels, each k-major over k = cinG*KH*KW.
type packedConv struct {
	groups, coutG, k int
	mr, panels       int       // panels per group
	data             []float32 // groups * panels * k * mr values
	scale            []float32 // per output channel for int8 weights, nil for float32
}

func (p *packedConv) panel(g, i int) []float32 {
	off := ((g*p.panels + i) * p.k) * p.mr
	return p.data[off : off+p.k*p.mr]
}

// packCache maps weights to their packed form. It is keyed by weak pointers so that it
// never keeps a model alive: when a Weight is collected, its entry is deleted. A Weight's
// values must not change after its first use by FastCPU (models never change them).
var packCache sync.Map // weak.Pointer[Weight] -> *packedConv

func packedConvWeight(w *Weight, groups int) *packedConv {
	return packedConvWeightMR(w, groups, activeKernel.mr)
}

// packedConvWeightMR is packedConvWeight for panels of mr rows (a block GEMM's tile height).
func packedConvWeightMR(w *Weight, groups, mr int) *packedConv {
	return cachedPacking(&packCache, w,
		func(p *packedConv) bool { return p.groups == groups && p.mr == mr },
		func() *packedConv { return packConv(w, groups, mr) })
}

// cachedPacking is the one mechanism behind the packing caches (direct, transposed,
// Winograd): the entry for w if fits accepts it, else a new one from pack, replacing it.
// Entries are keyed by weak pointers and deleted when the Weight is collected, so a cache
// never keeps a model alive.
func cachedPacking[P any](cache *sync.Map, w *Weight, fits func(P) bool, pack func() P) P {
	key := weak.Make(w)
	if v, ok := cache.Load(key); ok {
		if p := v.(P); fits(p) {
			return p
		}
	}
	p := pack()
	if _, loaded := cache.Swap(key, p); !loaded {
		runtime.AddCleanup(w, func(k weak.Pointer[Weight]) { cache.Delete(k) }, key)
	}
	return p
}

func packConv(w *Weight, groups, mr int) *packedConv {
	cout, k := w.Rows(), w.RowLen()
	coutG := cout / groups
	panels := (coutG + mr - 1) / mr
	p := &packedConv{groups: groups, coutG: coutG, k: k, mr: mr, panels: panels,
		data: make([]float32, groups*panels*k*mr)}
	if w.Quantized() {
		p.scale = w.Scale
	}
	for g := 0; g < groups; g++ {
		for i := 0; i < panels; i++ {
			r0 := g*coutG + i*mr
			rows := min(mr, (g+1)*coutG-r0)
			if w.Quantized() {
				packA(p.panel(g, i), w.I8, r0, rows, k, mr)
			} else {
				packA(p.panel(g, i), w.F32, r0, rows, k, mr)
			}
		}
	}
	return p
}
