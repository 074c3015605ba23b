//go:build !js

package cpukernel

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The generated module runs under Node (the V8 of Chromium) on memory images written here,
// and its results are compared with the same arithmetic done in Go: bit for bit for the
// GEMM (same order of float32 multiplies and adds), within float32 rounding of a
// differently ordered sum for the matrix-vector products.

type kernelCase struct {
	Fn    string  `json:"fn"`
	Args  []int32 `json:"args"`
	Pages int     `json:"pages"`
	Image string  `json:"image"`
	Out   string  `json:"out"`

	image []byte
	check func(t *testing.T, mem []byte)
}

// arena lays out float32 and int8 arrays in a memory image.
type arena struct{ b []byte }

func (m *arena) f32s(v []float32) int32 {
	m.align()
	at := len(m.b)
	for _, x := range v {
		m.b = binary.LittleEndian.AppendUint32(m.b, math.Float32bits(x))
	}
	return int32(at)
}

func (m *arena) i8s(v []int8) int32 {
	m.align()
	at := len(m.b)
	for _, x := range v {
		m.b = append(m.b, byte(x))
	}
	return int32(at)
}

// align keeps arrays 4-byte aligned but deliberately not 16-byte aligned, as Go's heap
// may place them.
func (m *arena) align() {
	for len(m.b)%16 != 4 {
		m.b = append(m.b, 0)
	}
}

func readF32s(mem []byte, at int32, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(mem[int(at)+4*i:]))
	}
	return out
}

func randF32s(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

func gemmCase(r *rand.Rand, k, mp, np, extraLd int, relu bool) kernelCase {
	rows, ldc := mp*MR, np*NR+extraLd
	a, b := randF32s(r, mp*k*MR), randF32s(r, np*k*NR)
	scale, bias := randF32s(r, rows), randF32s(r, rows)
	var m arena
	pa, pb := m.f32s(a), m.f32s(b)
	pc := m.f32s(make([]float32, rows*ldc))
	ps, pbias := m.f32s(scale), m.f32s(bias)
	// Poison C: the kernel must overwrite every tile, not add to what was there.
	for i := range rows * ldc {
		binary.LittleEndian.PutUint32(m.b[int(pc)+4*i:], math.Float32bits(1e30))
	}
	reluArg := int32(0)
	if relu {
		reluArg = 1
	}
	c := kernelCase{Fn: "gemm", Args: []int32{int32(k), pa, int32(mp), pb, int32(np), pc, int32(ldc), ps, pbias, reluArg}, image: m.b}
	c.check = func(t *testing.T, mem []byte) {
		got := readF32s(mem, pc, rows*ldc)
		bad := 0
		for ip := range mp {
			for i := range MR {
				row := ip*MR + i
				for jp := range np {
					for j := range NR {
						var acc float32
						for p := range k {
							prod := a[(ip*k+p)*MR+i] * b[(jp*k+p)*NR+j]
							acc = float32(acc + prod)
						}
						want := float32(acc*scale[row]) + bias[row]
						if relu && want < 0 {
							want = 0
						}
						col := jp*NR + j
						if g := got[row*ldc+col]; math.Float32bits(g) != math.Float32bits(want) && bad < 5 {
							bad++
							t.Errorf("gemm k=%d %dx%d panels relu=%v: C[%d][%d] = %v, want %v (bit-exact)", k, mp, np, relu, row, col, g, want)
						}
					}
				}
				for col := np * NR; col < ldc; col++ {
					if g := got[row*ldc+col]; g != 1e30 {
						t.Errorf("gemm wrote C[%d][%d] = %v beyond its %d columns", row, col, g, np*NR)
					}
				}
			}
		}
	}
	return c
}

func matVecCase(r *rand.Rand, int8W bool, rows, n int, relu bool) kernelCase {
	x := randF32s(r, n)
	scale, bias := randF32s(r, rows), randF32s(r, rows)
	w := make([]float64, rows*n)
	var m arena
	var pw int32
	fnName := "matvec_f32"
	if int8W {
		fnName = "matvec_i8"
		w8 := make([]int8, rows*n)
		for i := range w8 {
			w8[i] = int8(r.IntN(256) - 128)
			w[i] = float64(w8[i])
		}
		pw = m.i8s(w8)
	} else {
		wf := randF32s(r, rows*n)
		for i := range wf {
			w[i] = float64(wf[i])
		}
		pw = m.f32s(wf)
	}
	px := m.f32s(x)
	py := m.f32s(make([]float32, rows+1))
	ps, pbias := m.f32s(scale), m.f32s(bias)
	reluArg := int32(0)
	if relu {
		reluArg = 1
	}
	c := kernelCase{Fn: fnName, Args: []int32{pw, px, int32(n), py, int32(rows), ps, pbias, reluArg}, image: m.b}
	c.check = func(t *testing.T, mem []byte) {
		got := readF32s(mem, py, rows+1)
		for o := range rows {
			var dot, mag float64
			for i := range n {
				dot += w[o*n+i] * float64(x[i])
				mag += math.Abs(w[o*n+i] * float64(x[i]))
			}
			want := dot*float64(scale[o]) + float64(bias[o])
			if relu {
				want = max(want, 0)
			}
			tol := 1e-5*(mag*math.Abs(float64(scale[o]))+math.Abs(float64(bias[o]))) + 1e-30
			if math.Abs(float64(got[o])-want) > tol {
				t.Errorf("%s %dx%d relu=%v: y[%d] = %v, want %v (tolerance %.2g)", fnName, rows, n, relu, o, got[o], want, tol)
			}
		}
		if got[rows] != 0 {
			t.Errorf("%s %dx%d wrote y[%d] beyond its rows", fnName, rows, n, rows)
		}
	}
	return c
}

func TestModuleMatchesGo(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the generated module is tested under Node's V8")
	}
	r := rand.New(rand.NewPCG(5, 8))
	var cases []kernelCase
	// k below, at and across KC; one and several panels; C wider than the panels.
	for _, k := range []int{1, 27, KC, KC + 1, 2*KC + 37} {
		cases = append(cases, gemmCase(r, k, 3, 2, 0, false), gemmCase(r, k, 1, 1, 3, true))
	}
	cases = append(cases, gemmCase(r, KC+5, MC+2, 2, 0, true), gemmCase(r, 9, 2*MC, 3, 1, false)) // A beyond one MC block
	for _, int8W := range []bool{false, true} {
		for _, rc := range [][2]int{{1, 1}, {3, 7}, {4, 16}, {9, 33}, {13, 300}, {8, 1024}} {
			cases = append(cases, matVecCase(r, int8W, rc[0], rc[1], false), matVecCase(r, int8W, rc[0], rc[1], true))
		}
	}
	// Winograd transforms: one and several panels, odd planes (13, 27, 55), a part's range
	// of channels and of output rows.
	for _, sh := range [][2]int{{7, 4}, {1, 4}, {14, 16}, {28, 28}, {3, 8}} {
		cases = append(cases, winoInCase(r, 3, 3, 0, sh[0], sh[1]), winoInCase(r, 2, 5, 2, sh[0], sh[1]))
	}
	for _, sh := range [][2]int{{13, 13}, {27, 27}, {55, 55}, {1, 2}, {8, 17}, {2, 9}} {
		cases = append(cases, winoOutCase(r, 3, 5, sh[0], sh[1], false), winoOutCase(r, 2, 2, sh[0], sh[1], true))
	}
	cases = append(cases, winoGemmCase(r, 16, 7, 2, 3, 0), winoGemmCase(r, 3, KC+3, 1, 2, 11))
	dir := t.TempDir()
	mod := filepath.Join(dir, "kernels.wasm")
	if err := os.WriteFile(mod, Module(false), 0o644); err != nil {
		t.Fatal(err)
	}
	for i := range cases {
		c := &cases[i]
		c.Image, c.Out = filepath.Join(dir, fmt.Sprintf("in%d", i)), filepath.Join(dir, fmt.Sprintf("out%d", i))
		c.Pages = len(c.image)/65536 + 1
		if err := os.WriteFile(c.Image, c.image, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	spec, _ := json.Marshal(cases)
	if err := os.WriteFile(filepath.Join(dir, "cases.json"), spec, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(node, "testdata/harness.js", mod, filepath.Join(dir, "cases.json")).CombinedOutput(); err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	for _, c := range cases {
		mem, err := os.ReadFile(c.Out)
		if err != nil {
			t.Fatal(err)
		}
		c.check(t, mem)
	}
}

// winoInCase: wino_in on cin of cinTotal channels (a part's range), checked bit for bit
// against the same additions in Go (d·B per row, then B^T·), and for leaving the padding
// columns of the last panel alone.
func winoInCase(r *rand.Rand, cin, cinTotal, lo, th, twp int) kernelCase {
	hp, wp := 2*th+2, 2*twp+4
	tiles := th * twp
	bPanels := (tiles + NR - 1) / NR
	src := randF32s(r, cinTotal*hp*wp)
	n := 16 * bPanels * cinTotal * NR
	var m arena
	ps := m.f32s(src)
	pd := m.f32s(make([]float32, n))
	for i := range n {
		binary.LittleEndian.PutUint32(m.b[int(pd)+4*i:], math.Float32bits(1e30))
	}
	args := []int32{pd + int32(lo*NR*4), ps + int32(lo*hp*wp*4), int32(cin), int32(cinTotal), int32(th), int32(twp), int32(bPanels)}
	c := kernelCase{Fn: "wino_in", Args: args, image: m.b}
	c.check = func(t *testing.T, mem []byte) {
		got := readF32s(mem, pd, n)
		bad := 0
		for ci := range cinTotal {
			for tt := range bPanels * NR {
				ty, tx := tt/twp, tt%twp
				var want [16]float32
				written := ci >= lo && ci < lo+cin && tt < tiles
				if written {
					var e [4][4]float32
					for row := range 4 {
						d := src[(ci*hp+2*ty+row)*wp+2*tx:]
						e[row] = [4]float32{d[0] - d[2], d[1] + d[2], d[2] - d[1], d[1] - d[3]}
					}
					for col := range 4 {
						want[col], want[4+col], want[8+col], want[12+col] = e[0][col]-e[2][col], e[1][col]+e[2][col], e[2][col]-e[1][col], e[1][col]-e[3][col]
					}
				}
				for xi := range 16 {
					w := want[xi]
					if !written {
						w = 1e30
					}
					if g := got[((xi*bPanels+tt/NR)*cinTotal+ci)*NR+tt%NR]; math.Float32bits(g) != math.Float32bits(w) && bad < 5 {
						bad++
						t.Errorf("wino_in cin %d/%d th %d twp %d: channel %d tile %d xi %d = %v, want %v", cin, cinTotal, th, twp, ci, tt, xi, g, w)
					}
				}
			}
		}
	}
	return c
}

// winoOutCase: wino_out on rows of mRows channels, checked bit for bit against the same
// additions in Go, and for writing nothing past the rows' planes.
func winoOutCase(r *rand.Rand, rows, mRows, oh, ow int, relu bool) kernelCase {
	th, tw := (oh+1)/2, (ow+1)/2
	twp := (tw + 3) / 4 * 4
	ldc := (th*twp+NR-1)/NR*NR + 3
	mv := randF32s(r, 16*mRows*ldc)
	scale, bias := randF32s(r, rows), randF32s(r, rows)
	n := rows*oh*ow + 1
	var m arena
	pm, ps, pb := m.f32s(mv), m.f32s(scale), m.f32s(bias)
	py := m.f32s(make([]float32, n))
	for i := range n {
		binary.LittleEndian.PutUint32(m.b[int(py)+4*i:], math.Float32bits(1e30))
	}
	reluArg := int32(0)
	if relu {
		reluArg = 1
	}
	c := kernelCase{Fn: "wino_out", Args: []int32{py, pm, int32(mRows * ldc), int32(ldc), int32(rows), ps, pb, reluArg, int32(oh), int32(ow)}, image: m.b}
	c.check = func(t *testing.T, mem []byte) {
		got := readF32s(mem, py, n)
		want := make([]float32, n)
		want[n-1] = 1e30
		for o := range rows {
			for ty := range th {
				for tx := range tw {
					var s [2][4]float32
					for col := range 4 {
						at := func(row int) float32 { return mv[((4*row+col)*mRows+o)*ldc+ty*twp+tx] }
						s[0][col] = at(0) + at(1) + at(2)
						s[1][col] = at(1) - at(2) - at(3)
					}
					for a := range 2 {
						yv := [2]float32{s[a][0] + s[a][1] + s[a][2], s[a][1] - s[a][2] - s[a][3]}
						for b := range 2 {
							if 2*ty+a < oh && 2*tx+b < ow {
								v := float32(yv[b]*scale[o]) + bias[o]
								if relu {
									v = max(v, 0)
								}
								want[o*oh*ow+(2*ty+a)*ow+2*tx+b] = v
							}
						}
					}
				}
			}
		}
		bad := 0
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) && bad < 5 {
				bad++
				t.Errorf("wino_out %d rows of %d, %dx%d relu=%v: y[%d] = %v, want %v", rows, mRows, oh, ow, relu, i, got[i], want[i])
			}
		}
	}
	return c
}

// winoGemmCase: wino_gemm's n products, bit for bit as gemm computes them (scale 1 and
// bias 0 change nothing), with A matrices aStride floats apart.
func winoGemmCase(r *rand.Rand, n, k, mp, np, aGap int) kernelCase {
	rows, ldc := mp*MR, np*NR+1
	aStride := mp*k*MR + aGap
	a, b := randF32s(r, n*aStride), randF32s(r, n*np*k*NR)
	ones := make([]float32, 2*rows)
	for i := range rows {
		ones[i] = 1
	}
	var m arena
	pa, pb, po := m.f32s(a), m.f32s(b), m.f32s(ones)
	pc := m.f32s(make([]float32, n*rows*ldc+1))
	c := kernelCase{Fn: "wino_gemm", Args: []int32{int32(n), int32(k), pa, int32(aStride), int32(mp), pb, int32(np), pc, int32(ldc), po}, image: m.b}
	c.check = func(t *testing.T, mem []byte) {
		got := readF32s(mem, pc, n*rows*ldc+1)
		bad := 0
		for xi := range n {
			for row := range rows {
				for col := range np * NR {
					var acc float32
					for p := range k {
						prod := a[xi*aStride+((row/MR)*k+p)*MR+row%MR] * b[((xi*np+col/NR)*k+p)*NR+col%NR]
						acc = float32(acc + prod)
					}
					if g := got[(xi*rows+row)*ldc+col]; math.Float32bits(g) != math.Float32bits(acc) && bad < 5 {
						bad++
						t.Errorf("wino_gemm %d products k=%d %dx%d panels: C_%d[%d][%d] = %v, want %v", n, k, mp, np, xi, row, col, g, acc)
					}
				}
			}
		}
		if got[n*rows*ldc] != 0 {
			t.Errorf("wino_gemm wrote past its %d products", n)
		}
	}
	return c
}
