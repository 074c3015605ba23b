package webgpu

import (
	"bytes"
	"fmt"
	"text/template"
)

// The WGSL kernels. They are plain text, generated from templates so that the float32 and
// int8 variants of a kernel share one body: an int8 variant differs only in how it loads a
// weight (a byte of a packed u32 word, sign-extended) and in multiplying the accumulator by
// the output channel's scale at the end, so activations stay float32 and the int8 result
// equals the CPU path's on the same int8 weights to float32 rounding.
//
// Every kernel reads its sizes from a uniform block of u32 (and f32) scalars; uniforms.go
// writes them in the same order.

// Tile sizes of the GEMM kernel: a workgroup of gemmThreads x gemmThreads invocations
// computes a gemmTile x gemmTile block of the output, each invocation a 4 x 4 register
// block, stepping through K gemmTK at a time through workgroup memory.
const (
	gemmTile    = 64
	gemmTK      = 16
	gemmThreads = 16
	// flatThreads is the workgroup size of the one-invocation-per-output kernels and of the
	// row reductions (matrix-vector, softmax): 256 is within every adapter's
	// maxComputeInvocationsPerWorkgroup (the spec's minimum is 256).
	flatThreads = 256
)

type shaderVariant struct {
	Int8   bool
	Linear bool // GEMM: B is the batch of flattened inputs instead of an im2col view
}

// gemmWGSL is the tiled, register-blocked GEMM shared by convolutions (implicit GEMM: B is
// the im2col of the input, gathered while loading the tile, never stored) and batched fully
// connected layers (B = X^T). C[m, n] = sum_k A[m, k] B[k, n], with A the weight rows.
//
// Conv: M = output channels per group, N = oh*ow, K = in channels per group * kh * kw,
// workgroup z = batch item * groups + group. The output is written at a channel offset of
// a wider buffer, so a fire module's two expand convolutions fill one concatenated tensor
// without a copy.
const gemmWGSL = `
struct P {
  cin: u32, h: u32, w: u32, oh: u32,
  ow: u32, kh: u32, kw: u32, sh: u32,
  sw: u32, pt: u32, pl: u32, dh: u32,
  dw: u32, groups: u32, mg: u32, cing: u32,
  k: u32, rowStride: u32, coutTotal: u32, coff: u32,
  relu: u32, n: u32, _p0: u32, _p1: u32,
}
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
{{if .Int8}}@group(0) @binding(2) var<storage, read> wt: array<u32>;
@group(0) @binding(4) var<storage, read> scale: array<f32>;
{{else}}@group(0) @binding(2) var<storage, read> wt: array<f32>;
{{end}}@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

var<workgroup> As: array<array<f32, 64>, 16>;
var<workgroup> Bs: array<array<f32, 64>, 16>;

fn loadW(row: u32, k: u32) -> f32 {
{{if .Int8}}  let word = bitcast<i32>(wt[row * p.rowStride + k / 4u]);
  let sh = 24u - 8u * (k % 4u);
  return f32((word << sh) >> 24u);
{{else}}  return wt[row * p.rowStride + k];
{{end}}}

fn loadB(b: u32, g: u32, k: u32, n: u32) -> f32 {
{{if .Linear}}  return x[n * p.k + k];
{{else}}  let khw = p.kh * p.kw;
  let ci = k / khw;
  let r = k % khw;
  let ky = r / p.kw;
  let kx = r % p.kw;
  let oy = n / p.ow;
  let ox = n % p.ow;
  let iy = i32(oy * p.sh + ky * p.dh) - i32(p.pt);
  let ix = i32(ox * p.sw + kx * p.dw) - i32(p.pl);
  if (iy < 0 || ix < 0 || iy >= i32(p.h) || ix >= i32(p.w)) {
    return 0.0;
  }
  return x[((b * p.cin + g * p.cing + ci) * p.h + u32(iy)) * p.w + u32(ix)];
{{end}}}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let n0 = wid.x * 64u;
  let m0 = wid.y * 64u;
  let g = wid.z % p.groups;
  let b = wid.z / p.groups;
  let tid = lid.y * 16u + lid.x;
  var acc: array<array<f32, 4>, 4>;
  for (var k0 = 0u; k0 < p.k; k0 = k0 + 16u) {
    for (var r = 0u; r < 4u; r = r + 1u) {
      let e = tid + r * 256u;
      let mm = e / 16u;
      let kk = e % 16u;
      var v = 0.0;
      if (m0 + mm < p.mg && k0 + kk < p.k) {
        v = loadW(g * p.mg + m0 + mm, k0 + kk);
      }
      As[kk][mm] = v;
    }
    for (var r = 0u; r < 4u; r = r + 1u) {
      let e = tid + r * 256u;
      let kk = e / 64u;
      let nn = e % 64u;
      var v = 0.0;
      if (n0 + nn < p.n && k0 + kk < p.k) {
        v = loadB(b, g, k0 + kk, n0 + nn);
      }
      Bs[kk][nn] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk = kk + 1u) {
      var a: array<f32, 4>;
      var bb: array<f32, 4>;
      for (var i = 0u; i < 4u; i = i + 1u) {
        a[i] = As[kk][lid.y + 16u * i];
        bb[i] = Bs[kk][lid.x + 16u * i];
      }
      for (var i = 0u; i < 4u; i = i + 1u) {
        for (var j = 0u; j < 4u; j = j + 1u) {
          acc[i][j] = fma(a[i], bb[j], acc[i][j]);
        }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i = i + 1u) {
    let m = m0 + lid.y + 16u * i;
    if (m >= p.mg) {
      continue;
    }
    let oc = g * p.mg + m;
    for (var j = 0u; j < 4u; j = j + 1u) {
      let n = n0 + lid.x + 16u * j;
      if (n >= p.n) {
        continue;
      }
{{if .Int8}}      var v = acc[i][j] * scale[oc] + bias[oc];
{{else}}      var v = acc[i][j] + bias[oc];
{{end}}      if (p.relu != 0u) {
        v = max(v, 0.0);
      }
{{if .Linear}}      y[n * p.coutTotal + oc] = v;
{{else}}      y[((b * p.coutTotal + p.coff + oc) * p.n) + n] = v;
{{end}}    }
  }
}
`

// matvecWGSL is a fully connected layer at batch 1: one workgroup per output row, its 256
// invocations striding through the row (consecutive invocations read consecutive words, so
// the weight stream is coalesced) and reducing in workgroup memory. The layer is bound by
// reading the weights once, so int8 reads a quarter of the bytes.
const matvecWGSL = `
struct P { in: u32, out: u32, rowStride: u32, relu: u32, rowsPerY: u32, _p0: u32, _p1: u32, _p2: u32, }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
{{if .Int8}}@group(0) @binding(2) var<storage, read> wt: array<u32>;
@group(0) @binding(4) var<storage, read> scale: array<f32>;
{{else}}@group(0) @binding(2) var<storage, read> wt: array<f32>;
{{end}}@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let o = wid.y * p.rowsPerY + wid.x;
  let row = min(o, p.out - 1u);
  let base = row * p.rowStride;
  var s = 0.0;
{{if .Int8}}  let full = p.in / 4u;
  for (var j = lid.x; j < full; j = j + 256u) {
    let word = bitcast<i32>(wt[base + j]);
    let i = 4u * j;
    s = fma(x[i], f32((word << 24u) >> 24u), s);
    s = fma(x[i + 1u], f32((word << 16u) >> 24u), s);
    s = fma(x[i + 2u], f32((word << 8u) >> 24u), s);
    s = fma(x[i + 3u], f32(word >> 24u), s);
  }
  if (lid.x == 0u) {
    for (var i = full * 4u; i < p.in; i = i + 1u) {
      let word = bitcast<i32>(wt[base + i / 4u]);
      let sh = 24u - 8u * (i % 4u);
      s = fma(x[i], f32((word << sh) >> 24u), s);
    }
  }
{{else}}  for (var i = lid.x; i < p.in; i = i + 256u) {
    s = fma(x[i], wt[base + i], s);
  }
{{end}}  red[lid.x] = s;
  workgroupBarrier();
  for (var st = 128u; st > 0u; st = st >> 1u) {
    if (lid.x < st) {
      red[lid.x] = red[lid.x] + red[lid.x + st];
    }
    workgroupBarrier();
  }
  if (lid.x == 0u && o < p.out) {
{{if .Int8}}    var v = red[0] * scale[row] + bias[row];
{{else}}    var v = red[0] + bias[row];
{{end}}    if (p.relu != 0u) {
      v = max(v, 0.0);
    }
    y[row] = v;
  }
}
`

// flatHeader is shared by the one-invocation-per-output kernels: the invocation's linear
// index over a 2-D dispatch (large tensors need more than 65535 workgroups in x).
const flatIndex = `
fn flatIndex(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.y * nwg.x * 256u + gid.x;
}
`

// poolWGSL is max and average pooling with PyTorch's ceil-mode and padding rules: windows
// clipped to the padded extent, only real pixels taken, average over real pixels unless
// count_include_pad.
const poolWGSL = `
struct P {
  total: u32, h: u32, w: u32, oh: u32,
  ow: u32, kh: u32, kw: u32, sh: u32,
  sw: u32, pt: u32, pl: u32, pb: u32,
  pr: u32, isMax: u32, includePad: u32, _p: u32,
}
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
` + flatIndex + `
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = flatIndex(gid, nwg);
  if (idx >= p.total) {
    return;
  }
  let ox = idx % p.ow;
  let oy = (idx / p.ow) % p.oh;
  let plane = idx / (p.ow * p.oh);
  let y0 = i32(oy * p.sh) - i32(p.pt);
  let x0 = i32(ox * p.sw) - i32(p.pl);
  let y1 = min(y0 + i32(p.kh), i32(p.h + p.pb));
  let x1 = min(x0 + i32(p.kw), i32(p.w + p.pr));
  let padded = f32((y1 - y0) * (x1 - x0));
  var best = bitcast<f32>(0xff7fffffu);
  var sum = 0.0;
  var cnt = 0.0;
  let base = plane * p.h * p.w;
  for (var iy = max(y0, 0); iy < min(y1, i32(p.h)); iy = iy + 1) {
    for (var ix = max(x0, 0); ix < min(x1, i32(p.w)); ix = ix + 1) {
      let v = x[base + u32(iy) * p.w + u32(ix)];
      if (v > best || v != v) {
        best = v;
      }
      sum = sum + v;
      cnt = cnt + 1.0;
    }
  }
  var out = best;
  if (p.isMax == 0u) {
    if (p.includePad != 0u) {
      out = sum / padded;
    } else if (cnt > 0.0) {
      out = sum / cnt;
    } else {
      out = 0.0;
    }
  }
  y[idx] = out;
}
`

// adaptiveAvgWGSL follows PyTorch: output cell i covers rows floor(i*H/oh) to
// ceil((i+1)*H/oh). With oh = ow = 1 it is the global average pool.
const adaptiveAvgWGSL = `
struct P { total: u32, h: u32, w: u32, oh: u32, ow: u32, _p0: u32, _p1: u32, _p2: u32, }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
` + flatIndex + `
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = flatIndex(gid, nwg);
  if (idx >= p.total) {
    return;
  }
  let ox = idx % p.ow;
  let oy = (idx / p.ow) % p.oh;
  let plane = idx / (p.ow * p.oh);
  let y0 = oy * p.h / p.oh;
  let y1 = ((oy + 1u) * p.h + p.oh - 1u) / p.oh;
  let x0 = ox * p.w / p.ow;
  let x1 = ((ox + 1u) * p.w + p.ow - 1u) / p.ow;
  var s = 0.0;
  let base = plane * p.h * p.w;
  for (var iy = y0; iy < y1; iy = iy + 1u) {
    for (var ix = x0; ix < x1; ix = ix + 1u) {
      s = s + x[base + iy * p.w + ix];
    }
  }
  y[idx] = s / f32((y1 - y0) * (x1 - x0));
}
`

// lrnWGSL is local response normalization across channels: window [c-lo, c+hi].
const lrnWGSL = `
struct P { total: u32, c: u32, hw: u32, lo: u32, hi: u32, _p0: u32, _p1: u32, _p2: u32, alphaOverSize: f32, beta: f32, k: f32, _p3: f32, }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
` + flatIndex + `
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = flatIndex(gid, nwg);
  if (idx >= p.total) {
    return;
  }
  let i = idx % p.hw;
  let ch = (idx / p.hw) % p.c;
  let base = (idx / (p.hw * p.c)) * p.c * p.hw;
  var sq = 0.0;
  let k0 = u32(max(i32(ch) - i32(p.lo), 0));
  let k1 = min(ch + p.hi, p.c - 1u);
  for (var k = k0; k <= k1; k = k + 1u) {
    let v = x[base + k * p.hw + i];
    sq = fma(v, v, sq);
  }
  y[idx] = x[idx] / pow(p.k + p.alphaOverSize * sq, p.beta);
}
`

// reluWGSL is the standalone ReLU (the networks fuse it into convolution and linear).
const reluWGSL = `
struct P { total: u32, _p0: u32, _p1: u32, _p2: u32, }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
` + flatIndex + `
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = flatIndex(gid, nwg);
  if (idx >= p.total) {
    return;
  }
  y[idx] = max(x[idx], 0.0);
}
`

// concatWGSL copies one N x C x HW tensor into channels [coff, coff+C) of an N x Ctot x HW
// one. The networks never need it (fire modules write their halves in place); it serves
// the operator API.
const concatWGSL = `
struct P { total: u32, c: u32, hw: u32, ctot: u32, coff: u32, _p0: u32, _p1: u32, _p2: u32, }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
` + flatIndex + `
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = flatIndex(gid, nwg);
  if (idx >= p.total) {
    return;
  }
  let i = idx % p.hw;
  let ch = (idx / p.hw) % p.c;
  let b = idx / (p.hw * p.c);
  y[(b * p.ctot + p.coff + ch) * p.hw + i] = x[idx];
}
`

// softmaxWGSL is a softmax along rows of length d: one workgroup per row, max and sum
// reduced in workgroup memory.
const softmaxWGSL = `
struct P { rows: u32, d: u32, _p0: u32, _p1: u32, }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let base = wid.x * p.d;
  var m = bitcast<f32>(0xff7fffffu);
  for (var i = lid.x; i < p.d; i = i + 256u) {
    m = max(m, x[base + i]);
  }
  red[lid.x] = m;
  workgroupBarrier();
  for (var st = 128u; st > 0u; st = st >> 1u) {
    if (lid.x < st) {
      red[lid.x] = max(red[lid.x], red[lid.x + st]);
    }
    workgroupBarrier();
  }
  let mx = red[0];
  workgroupBarrier();
  var s = 0.0;
  for (var i = lid.x; i < p.d; i = i + 256u) {
    s = s + exp(x[base + i] - mx);
  }
  red[lid.x] = s;
  workgroupBarrier();
  for (var st = 128u; st > 0u; st = st >> 1u) {
    if (lid.x < st) {
      red[lid.x] = red[lid.x] + red[lid.x + st];
    }
    workgroupBarrier();
  }
  let total = red[0];
  for (var i = lid.x; i < p.d; i = i + 256u) {
    y[base + i] = exp(x[base + i] - mx) / total;
  }
}
`

// kernel names, also the keys of the compiled pipeline cache.
const (
	kConv     = "conv"
	kConvI8   = "conv_i8"
	kLinear   = "linear"
	kLinearI8 = "linear_i8"
	kMatvec   = "matvec"
	kMatvecI8 = "matvec_i8"
	kPool     = "pool"
	kAdaptive = "adaptive_avg"
	kLRN      = "lrn"
	kReLU     = "relu"
	kConcat   = "concat"
	kSoftmax  = "softmax"

	// The backward kernels (shaders_backward.go), compiled on a model's first gradient.
	kReLUMask   = "relu_mask"
	kConvDx     = "conv_dx"
	kConvDxI8   = "conv_dx_i8"
	kMaxPoolDx  = "maxpool_dx"
	kAdaptiveDx = "adaptive_avg_dx"
	kLRNDx      = "lrn_dx"
	kLinearDx   = "linear_dx"
	kLinearDxI8 = "linear_dx_i8"
)

// KernelNames lists the forward kernels, which Load compiles.
func KernelNames() []string {
	return []string{kConv, kConvI8, kLinear, kLinearI8, kMatvec, kMatvecI8, kPool, kAdaptive, kLRN, kReLU, kConcat, kSoftmax}
}

// BackwardKernelNames lists the kernels of gradient passes.
func BackwardKernelNames() []string {
	return []string{kReLUMask, kConvDx, kConvDxI8, kMaxPoolDx, kAdaptiveDx, kLRNDx, kLinearDx, kLinearDxI8}
}

// Shader returns the WGSL source of a kernel.
func Shader(name string) (string, error) {
	var tmpl string
	var v shaderVariant
	switch name {
	case kConv:
		tmpl = gemmWGSL
	case kConvI8:
		tmpl, v = gemmWGSL, shaderVariant{Int8: true}
	case kLinear:
		tmpl, v = gemmWGSL, shaderVariant{Linear: true}
	case kLinearI8:
		tmpl, v = gemmWGSL, shaderVariant{Int8: true, Linear: true}
	case kMatvec:
		tmpl = matvecWGSL
	case kMatvecI8:
		tmpl, v = matvecWGSL, shaderVariant{Int8: true}
	case kPool:
		return poolWGSL, nil
	case kAdaptive:
		return adaptiveAvgWGSL, nil
	case kLRN:
		return lrnWGSL, nil
	case kReLU:
		return reluWGSL, nil
	case kConcat:
		return concatWGSL, nil
	case kSoftmax:
		return softmaxWGSL, nil
	case kReLUMask:
		return reluMaskWGSL, nil
	case kConvDx:
		tmpl = convDxWGSL
	case kConvDxI8:
		tmpl, v = convDxWGSL, shaderVariant{Int8: true}
	case kMaxPoolDx:
		return maxPoolDxWGSL, nil
	case kAdaptiveDx:
		return adaptiveAvgDxWGSL, nil
	case kLRNDx:
		return lrnDxWGSL, nil
	case kLinearDx:
		tmpl = linearDxWGSL
	case kLinearDxI8:
		tmpl, v = linearDxWGSL, shaderVariant{Int8: true}
	default:
		return "", fmt.Errorf("webgpu: no kernel %q", name)
	}
	t, err := template.New(name).Parse(tmpl)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, v); err != nil {
		return "", err
	}
	return b.String(), nil
}

// kernelBindings says what a kernel binds besides its uniforms (binding 0), its input
// (1) and its output (5): a layout "auto" pipeline has exactly the bindings its shader
// uses, and a bind group must name exactly those.
type kernelBindings struct {
	weights, bias, scale bool // bindings 2, 3 and 4: the op's parameter
	aux                  int  // further input tensors, at bindings 6, 7, ...
}

func bindingsOf(kernel string) kernelBindings {
	switch kernel {
	case kConv, kLinear, kMatvec:
		return kernelBindings{weights: true, bias: true}
	case kConvI8, kLinearI8, kMatvecI8:
		return kernelBindings{weights: true, bias: true, scale: true}
	case kConvDx, kLinearDx:
		return kernelBindings{weights: true}
	case kConvDxI8, kLinearDxI8:
		return kernelBindings{weights: true, scale: true}
	case kMaxPoolDx:
		return kernelBindings{aux: 2}
	case kLRNDx:
		return kernelBindings{aux: 1}
	}
	return kernelBindings{}
}
