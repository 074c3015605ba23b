package webgpu

// The backward kernels: gradients with respect to a layer's input, for feature
// visualization and attribution (engine.Backward, recorded by planOps). Each computes one
// input-gradient value per invocation by gathering the output gradients that reach it, so
// no two invocations write the same value (no atomics) and every sum runs in the order the
// CPU path adds the same terms where that order is fixed (pooling), which keeps the two
// paths' results equal. Weights are the forward pass's buffers: int8 weights are read as
// int8, times their row's scale, as the CPU path dequantizes them.

// reluMaskWGSL zeroes the gradient g (binding 5, in place) where the forward output
// (binding 1) was not positive: PyTorch's threshold_backward. A multiplication, not a
// select, so a NaN gradient under an off unit stays NaN as on the CPU.
const reluMaskWGSL = `
struct P { total: u32, _p0: u32, _p1: u32, _p2: u32, }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> g: array<f32>;
` + flatIndex + `
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = flatIndex(gid, nwg);
  if (idx >= p.total) {
    return;
  }
  g[idx] = g[idx] * select(0.0, 1.0, y[idx] > 0.0);
}
`

// convDxWGSL is a convolution's input gradient: dx[b, ci, iy, ix] = sum over the output
// positions (oy, ox) whose window reaches (iy, ix) through tap (ky, kx), and over the
// group's output channels, of w[oc, ci, ky, kx] * dy[b, oc, oy, ox]. dy is channels
// [dyOff, dyOff + cout) of a tensor of dyC channels (a fire module's expand branches read
// their halves of the concatenated gradient); accumulate adds onto dx (the two branches
// meet at the squeeze output).
const convDxWGSL = `
struct P {
  total: u32, cin: u32, h: u32, w: u32,
  oh: u32, ow: u32, kh: u32, kw: u32,
  sh: u32, sw: u32, pt: u32, pl: u32,
  dh: u32, dw: u32, groups: u32, mg: u32,
  cing: u32, rowStride: u32, dyC: u32, dyOff: u32,
  accumulate: u32, _p0: u32, _p1: u32, _p2: u32,
}
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
{{if .Int8}}@group(0) @binding(2) var<storage, read> wt: array<u32>;
@group(0) @binding(4) var<storage, read> scale: array<f32>;
{{else}}@group(0) @binding(2) var<storage, read> wt: array<f32>;
{{end}}@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
` + flatIndex + `
fn loadW(row: u32, k: u32) -> f32 {
{{if .Int8}}  let word = bitcast<i32>(wt[row * p.rowStride + k / 4u]);
  let sh = 24u - 8u * (k % 4u);
  return f32((word << sh) >> 24u) * scale[row];
{{else}}  return wt[row * p.rowStride + k];
{{end}}}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = flatIndex(gid, nwg);
  if (idx >= p.total) {
    return;
  }
  let ix = idx % p.w;
  let iy = (idx / p.w) % p.h;
  let ci = (idx / (p.w * p.h)) % p.cin;
  let b = idx / (p.w * p.h * p.cin);
  let g = ci / p.cing;
  let cig = ci % p.cing;
  var s = 0.0;
  for (var ky = 0u; ky < p.kh; ky = ky + 1u) {
    let ty = i32(iy + p.pt) - i32(ky * p.dh);
    if (ty < 0 || ty % i32(p.sh) != 0) {
      continue;
    }
    let oy = u32(ty) / p.sh;
    if (oy >= p.oh) {
      continue;
    }
    for (var kx = 0u; kx < p.kw; kx = kx + 1u) {
      let tx = i32(ix + p.pl) - i32(kx * p.dw);
      if (tx < 0 || tx % i32(p.sw) != 0) {
        continue;
      }
      let ox = u32(tx) / p.sw;
      if (ox >= p.ow) {
        continue;
      }
      let k = (cig * p.kh + ky) * p.kw + kx;
      for (var m = 0u; m < p.mg; m = m + 1u) {
        let oc = g * p.mg + m;
        s = fma(loadW(oc, k), dy[((b * p.dyC + p.dyOff + oc) * p.oh + oy) * p.ow + ox], s);
      }
    }
  }
  if (p.accumulate != 0u) {
    s = s + dx[idx];
  }
  dx[idx] = s;
}
`

// maxPoolDxWGSL routes each window's gradient to the first element (row-major) equal to the
// window's maximum, as PyTorch and the CPU path do: for each input element, the windows
// that contain it (in output order) look up their maximum in the forward output (binding
// 7), search their window for its first occurrence (a NaN matching a NaN) and add their
// gradient if that is this element.
const maxPoolDxWGSL = `
struct P {
  total: u32, h: u32, w: u32, oh: u32,
  ow: u32, kh: u32, kw: u32, sh: u32,
  sw: u32, pt: u32, pl: u32, _p0: u32,
}
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(6) var<storage, read> x: array<f32>;
@group(0) @binding(7) var<storage, read> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
` + flatIndex + `
fn firstMax(base: u32, y0: i32, x0: i32, m: f32) -> u32 {
  let nan = m != m;
  for (var iy = max(y0, 0); iy < min(y0 + i32(p.kh), i32(p.h)); iy = iy + 1) {
    for (var ix = max(x0, 0); ix < min(x0 + i32(p.kw), i32(p.w)); ix = ix + 1) {
      let v = x[base + u32(iy) * p.w + u32(ix)];
      if (v == m || (nan && v != v)) {
        return u32(iy) * p.w + u32(ix);
      }
    }
  }
  return 0xffffffffu;
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = flatIndex(gid, nwg);
  if (idx >= p.total) {
    return;
  }
  let here = idx % (p.h * p.w);
  let plane = idx / (p.h * p.w);
  let iy = i32(here / p.w);
  let ix = i32(here % p.w);
  // Windows oy with oy*sh - pt <= iy < oy*sh - pt + kh.
  let oy0 = max((iy + i32(p.pt) - i32(p.kh) + i32(p.sh)) / i32(p.sh), 0);
  let oy1 = min((iy + i32(p.pt)) / i32(p.sh), i32(p.oh) - 1);
  let ox0 = max((ix + i32(p.pl) - i32(p.kw) + i32(p.sw)) / i32(p.sw), 0);
  let ox1 = min((ix + i32(p.pl)) / i32(p.sw), i32(p.ow) - 1);
  var s = 0.0;
  for (var oy = oy0; oy <= oy1; oy = oy + 1) {
    for (var ox = ox0; ox <= ox1; ox = ox + 1) {
      let o = (plane * p.oh + u32(oy)) * p.ow + u32(ox);
      if (firstMax(plane * p.h * p.w, oy * i32(p.sh) - i32(p.pt), ox * i32(p.sw) - i32(p.pl), y[o]) == here) {
        s = s + dy[o];
      }
    }
  }
  dx[idx] = s;
}
`

// adaptiveAvgDxWGSL spreads each output cell's gradient evenly over its window (PyTorch's
// windows, which overlap when the sizes do not divide).
const adaptiveAvgDxWGSL = `
struct P { total: u32, h: u32, w: u32, oh: u32, ow: u32, _p0: u32, _p1: u32, _p2: u32, }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
` + flatIndex + `
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = flatIndex(gid, nwg);
  if (idx >= p.total) {
    return;
  }
  let ix = idx % p.w;
  let iy = (idx / p.w) % p.h;
  let plane = idx / (p.w * p.h);
  var s = 0.0;
  for (var oy = 0u; oy < p.oh; oy = oy + 1u) {
    let y0 = oy * p.h / p.oh;
    let y1 = ((oy + 1u) * p.h + p.oh - 1u) / p.oh;
    if (iy < y0 || iy >= y1) {
      continue;
    }
    for (var ox = 0u; ox < p.ow; ox = ox + 1u) {
      let x0 = ox * p.w / p.ow;
      let x1 = ((ox + 1u) * p.w + p.ow - 1u) / p.ow;
      if (ix < x0 || ix >= x1) {
        continue;
      }
      s = s + dy[(plane * p.oh + oy) * p.ow + ox] / f32((y1 - y0) * (x1 - x0));
    }
  }
  dx[idx] = s;
}
`

// lrnDxWGSL is the exact derivative of y_c = x_c s_c^-beta, s_c = k + alpha/size * sum over
// the window W(c) = [c-lo, c+hi] of x^2 (engine.FastCPU.LRNBackward's formula):
// dx_j = g_j s_j^-beta - 2 alpha/size beta x_j sum over c with j in W(c) of g_c x_c s_c^(-beta-1).
const lrnDxWGSL = `
struct P { total: u32, c: u32, hw: u32, lo: u32, hi: u32, _p0: u32, _p1: u32, _p2: u32, alphaOverSize: f32, beta: f32, k: f32, _p3: f32, }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(6) var<storage, read> x: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
` + flatIndex + `
fn scaleAt(base: u32, i: u32, c: u32) -> f32 {
  var sq = 0.0;
  for (var k = u32(max(i32(c) - i32(p.lo), 0)); k <= min(c + p.hi, p.c - 1u); k = k + 1u) {
    let v = x[base + k * p.hw + i];
    sq = fma(v, v, sq);
  }
  return p.k + p.alphaOverSize * sq;
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = flatIndex(gid, nwg);
  if (idx >= p.total) {
    return;
  }
  let i = idx % p.hw;
  let j = (idx / p.hw) % p.c;
  let base = (idx / (p.hw * p.c)) * p.c * p.hw;
  var acc = 0.0;
  for (var c = u32(max(i32(j) - i32(p.hi), 0)); c <= min(j + p.lo, p.c - 1u); c = c + 1u) {
    let s = scaleAt(base, i, c);
    acc = acc + dy[base + c * p.hw + i] * x[base + c * p.hw + i] * pow(s, -p.beta) / s;
  }
  let sj = scaleAt(base, i, j);
  dx[idx] = dy[idx] * pow(sj, -p.beta) - 2.0 * p.alphaOverSize * p.beta * x[idx] * acc;
}
`

// linearDxWGSL is dx = dy · W for a fully connected layer: one invocation per input
// feature of one batch item, summing down its column of W; consecutive invocations read
// consecutive columns, so each row's stream is coalesced.
const linearDxWGSL = `
struct P { total: u32, in: u32, out: u32, rowStride: u32, }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
{{if .Int8}}@group(0) @binding(2) var<storage, read> wt: array<u32>;
@group(0) @binding(4) var<storage, read> scale: array<f32>;
{{else}}@group(0) @binding(2) var<storage, read> wt: array<f32>;
{{end}}@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
` + flatIndex + `
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = flatIndex(gid, nwg);
  if (idx >= p.total) {
    return;
  }
  let i = idx % p.in;
  let b = idx / p.in;
  var s = 0.0;
  for (var o = 0u; o < p.out; o = o + 1u) {
{{if .Int8}}    let word = bitcast<i32>(wt[o * p.rowStride + i / 4u]);
    let w = f32((word << (24u - 8u * (i % 4u))) >> 24u) * scale[o];
{{else}}    let w = wt[o * p.rowStride + i];
{{end}}    s = fma(w, dy[b * p.out + o], s);
  }
  dx[idx] = s;
}
`
