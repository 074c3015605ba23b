// A reader of the AlexLens weight format written from weights/FORMAT.md alone, with the
// browser's own APIs (DataView, TextDecoder, atob, crypto.subtle), so the Go tests can check
// that the document is enough and that a browser decodes what Go writes.
//
//   node alxw-reader.mjs FILE           decode the whole file
//   node alxw-reader.mjs FILE LAYER     read the header, then only LAYER's byte range
//
// Prints a JSON summary (per tensor: float64 sum of its values in order, first values) or
// exits 1 with the reason on stderr.
import { open } from "node:fs/promises";

const MAX_HEADER = 4 << 20;

// readRange stands in for fetch() with a Range header: bytes [off, off+n) of the file.
async function readRange(fh, off, n) {
  const buf = new Uint8Array(n);
  const { bytesRead } = await fh.read(buf, 0, n, off);
  return buf.subarray(0, bytesRead);
}

function fail(msg) {
  throw new Error(msg);
}

const align16 = (n) => Math.ceil(n / 16) * 16;

function b64bytes(s) {
  return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
}

async function readHeader(fh) {
  let head = await readRange(fh, 0, 65536);
  if (head.length < 12) fail("file too short");
  if (new TextDecoder().decode(head.subarray(0, 4)) !== "ALXW") fail("bad magic");
  const dv = new DataView(head.buffer, head.byteOffset);
  const version = dv.getUint32(4, true);
  if (version !== 1) fail(`version ${version}`);
  const H = dv.getUint32(8, true);
  if (H < 1 || H > MAX_HEADER) fail(`header length ${H}`);
  if (12 + H > head.length) head = await readRange(fh, 0, 12 + H);
  if (12 + H > head.length) fail("header truncated");
  const h = JSON.parse(new TextDecoder().decode(head.subarray(12, 12 + H)));
  checkHeader(h, H);
  h.headerEnd = 12 + H;
  return h;
}

function checkHeader(h, H) {
  if (typeof h.arch !== "string" || !h.arch) fail("no arch");
  if (h.data_offset !== align16(12 + H)) fail("data_offset");
  if (!Array.isArray(h.tensors) || h.tensors.length === 0) fail("no tensors");
  let next = h.data_offset;
  let anyInt8 = false;
  const names = new Set();
  const layers = [];
  for (const t of h.tensors) {
    if (names.has(t.name)) fail(`tensor ${t.name} twice`);
    names.add(t.name);
    if (!Array.isArray(t.shape) || t.shape.length < 1 || t.shape.length > 8) fail(`${t.name}: shape`);
    let n = 1;
    for (const d of t.shape) {
      if (!Number.isInteger(d) || d < 1) fail(`${t.name}: shape`);
      n *= d;
    }
    if (n >= 2 ** 31) fail(`${t.name}: too many elements`);
    t.count = n;
    if (t.dtype === "f32") {
      if (t.scales) fail(`${t.name}: f32 with scales`);
      if (t.length !== 4 * n) fail(`${t.name}: length`);
    } else if (t.dtype === "int8") {
      anyInt8 = true;
      if (t.shape.length < 2) fail(`${t.name}: int8 bias`);
      t.scaleBytes = b64bytes(t.scales ?? "");
      if (t.scaleBytes.length !== 4 * t.shape[0]) fail(`${t.name}: scales`);
      if (t.length !== n) fail(`${t.name}: length`);
    } else fail(`${t.name}: dtype ${t.dtype}`);
    if (t.offset !== next) fail(`${t.name}: offset ${t.offset}, want ${next}`);
    if (!/^[0-9a-f]{64}$/.test(t.sha256)) fail(`${t.name}: sha256`);
    next = align16(t.offset + t.length);
    const last = layers[layers.length - 1];
    if (last && last.name === t.layer) last.length = t.offset + t.length - last.offset;
    else {
      if (layers.some((l) => l.name === t.layer)) fail(`layer ${t.layer} split`);
      layers.push({ name: t.layer, offset: t.offset, length: t.length });
    }
  }
  const end = h.tensors[h.tensors.length - 1];
  if (h.file_bytes !== end.offset + end.length) fail("file_bytes");
  if (anyInt8 !== (h.precision === "int8")) fail("precision");
  if (JSON.stringify(layers) !== JSON.stringify(h.layers)) fail("layers");
}

// decodeTensor checks the hash and returns the values as float32 numbers (int8 dequantized).
async function decodeTensor(t, bytes) {
  const hashed = new Uint8Array((t.scaleBytes?.length ?? 0) + bytes.length);
  if (t.scaleBytes) hashed.set(t.scaleBytes);
  hashed.set(bytes, t.scaleBytes?.length ?? 0);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", hashed));
  const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
  if (hex !== t.sha256) fail(`${t.name}: SHA-256 mismatch`);
  // Copy to a fresh buffer: offsets are 16-aligned in the file, but a Node Buffer slice
  // need not be aligned in memory.
  const own = bytes.slice().buffer;
  if (t.dtype === "f32") {
    const v = new Float32Array(own, 0, t.count);
    if (v.some((x) => !Number.isFinite(x))) fail(`${t.name}: NaN or infinite`);
    return v;
  }
  const q = new Int8Array(own, 0, t.count);
  const scales = new Float32Array(t.scaleBytes.slice().buffer);
  if (scales.some((s) => !(s >= 0) || !Number.isFinite(s))) fail(`${t.name}: scale`);
  const per = t.count / t.shape[0];
  const out = new Float32Array(t.count);
  for (let i = 0; i < t.count; i++) out[i] = q[i] * scales[Math.floor(i / per)];
  return out;
}

async function main() {
  const [file, layer] = process.argv.slice(2);
  const fh = await open(file);
  try {
    const h = await readHeader(fh);
    let off = 0;
    let bytes;
    if (layer) {
      const l = h.layers.find((l) => l.name === layer) ?? fail(`no layer ${layer}`);
      off = l.offset;
      bytes = await readRange(fh, l.offset, l.length);
    } else {
      const size = (await fh.stat()).size;
      if (size !== h.file_bytes) fail(`file is ${size} bytes, header says ${h.file_bytes}`);
      bytes = await readRange(fh, 0, size);
      let pos = h.headerEnd;
      for (const t of h.tensors) {
        if (bytes.subarray(pos, t.offset).some((b) => b !== 0)) fail("non-zero padding");
        pos = t.offset + t.length;
      }
    }
    const tensors = [];
    for (const t of h.tensors) {
      if (t.offset < off || t.offset + t.length > off + bytes.length) continue;
      const v = await decodeTensor(t, bytes.subarray(t.offset - off, t.offset - off + t.length));
      let sum = 0;
      for (const x of v) sum += x;
      tensors.push({ name: t.name, dtype: t.dtype, shape: t.shape, sum, first: Array.from(v.subarray(0, 4)) });
    }
    console.log(JSON.stringify({ arch: h.arch, precision: h.precision, partial: h.partial, fixture: h.fixture, tensors }));
  } finally {
    await fh.close();
  }
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
