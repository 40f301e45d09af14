// A model with float16 weights made float32 once, on disk: the CPU provider keeps float16 weights
// as they are and runs a Cast before and after every node it has no float16 kernel for (hundreds
// per step in a real-size Stage C), is slower than float32 and holds both copies in memory. The
// converted copy (every float16 initializer, Constant and Cast target made float32, all weights in
// one external data file) is written beside nothing of the pack, in a cache folder keyed by the
// source files' paths, sizes and times, and reused by later loads.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { readTensorInfo } from "./onnx-graph.ts";
import { FileBytes, OnnxParseError, ProtoCursor } from "./onnx-proto.ts";
import { fromHalfBits } from "./tensors.ts";

const FLOAT = 1;
const FLOAT16 = 10;
/** Tensors smaller than this stay inside the .onnx file (Constants, shapes). */
const INLINE_LIMIT = 1024;
/** Part of the cache key: a change to the conversion makes old copies unused. */
const CONVERTER_VERSION = 1;

let halfTable: Float32Array | undefined;

/** float16 bits → float32 by table: a real-size Stage C has a billion weights to convert. */
function halvesToFloat32(src: Uint16Array): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfTable[h] = fromHalfBits(h);
  }
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = halfTable[src[i]];
  return out;
}

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return Buffer.from(out);
}
const tag = (field: number, wire: number) => varint(field * 8 + wire);
const lenField = (field: number, payload: Buffer) => Buffer.concat([tag(field, 2), varint(payload.length), payload]);
const varintField = (field: number, value: number) => Buffer.concat([tag(field, 0), varint(value)]);
const strField = (field: number, s: string) => lenField(field, Buffer.from(s, "utf8"));

export interface Float16Conversion {
  /** The float32 model to load. */
  file: string;
  /** Whether this call wrote it (false: an earlier conversion was reused). */
  converted: boolean;
  tensors: number;
  /** Bytes of float32 weights in the converted copy's data file. */
  bytes: number;
  ms: number;
}

interface Rewrite {
  r: FileBytes;
  srcDir: string;
  out: { fd: number; offset: number; location: string };
  sources: Map<string, number>;
  tensors: number;
  doneBytes: number;
  totalBytes: number;
  onProgress?: (fraction: number) => void;
}

/** The bytes of the field just read, tag included, copied unchanged. */
function raw(c: ProtoCursor, r: FileBytes, tagStart: number): Buffer {
  return r.bytes(tagStart, c.pos - tagStart);
}

function readExternal(w: Rewrite, location: string, offset: number, length: number, tensor: string): Buffer {
  const file = path.join(w.srcDir, location);
  let fd = w.sources.get(file);
  if (fd === undefined) {
    if (!fs.existsSync(file)) throw new OnnxParseError(`initializer '${tensor}': its external data file '${location}' is missing`);
    fd = fs.openSync(file, "r");
    w.sources.set(file, fd);
  }
  const buf = Buffer.alloc(length);
  const got = fs.readSync(fd, buf, 0, length, offset);
  if (got !== length) throw new OnnxParseError(`initializer '${tensor}': ${location} ends before byte ${offset + length}`);
  return buf;
}

/** A TensorProto with float16 data made float32, and any sizeable data moved to the new data file. */
function rewriteTensor(w: Rewrite, c: ProtoCursor, externalize: boolean): Buffer {
  const start = c.pos;
  const info = readTensorInfo(new ProtoCursor(w.r, start, c.end));
  const keep: Buffer[] = [];
  let rawData: { start: number; end: number } | undefined;
  const int32Data: number[] = [];
  while (!c.done()) {
    const at = c.pos;
    const f = c.next();
    if (f.field === 9 && f.wire === 2) rawData = { start: f.start, end: f.end };
    else if (f.field === 5 && f.wire === 0) int32Data.push(f.value);
    else if (f.field === 5 && f.wire === 2) {
      const p = c.sub(f);
      while (!p.done()) int32Data.push(p.varint());
    } else if (f.field === 2 || f.field === 13 || f.field === 14) {
      // data_type, external_data, data_location: written anew below
    } else keep.push(raw(c, w.r, at));
  }
  let data: Buffer | undefined;
  let type = info.dataType;
  if (info.external) {
    const length = info.external.length >= 0 ? info.external.length : fs.statSync(path.join(w.srcDir, info.external.location)).size - info.external.offset;
    data = readExternal(w, info.external.location, info.external.offset, length, info.name);
  } else if (rawData) data = w.r.bytes(rawData.start, rawData.end - rawData.start);
  if (type === FLOAT16) {
    const halves = data
      ? new Uint16Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length))
      : Uint16Array.from(int32Data);
    const f32 = halvesToFloat32(halves);
    data = Buffer.from(f32.buffer, f32.byteOffset, f32.byteLength);
    type = FLOAT;
    w.tensors++;
    w.doneBytes += halves.length * 2;
    w.onProgress?.(w.totalBytes ? Math.min(1, w.doneBytes / w.totalBytes) : 1);
  } else if (!data && !info.external) {
    // Typed fields of another type (int64_data, float_data, ...): unchanged.
    return w.r.bytes(start, c.pos - start);
  }
  const parts = [...keep, varintField(2, type)];
  if (!data) data = Buffer.alloc(0);
  if (externalize && data.length >= INLINE_LIMIT) {
    const pad = (64 - (w.out.offset % 64)) % 64;
    if (pad) fs.writeSync(w.out.fd, Buffer.alloc(pad));
    w.out.offset += pad;
    fs.writeSync(w.out.fd, data);
    parts.push(
      lenField(13, Buffer.concat([strField(1, "location"), strField(2, w.out.location)])),
      lenField(13, Buffer.concat([strField(1, "offset"), strField(2, String(w.out.offset))])),
      lenField(13, Buffer.concat([strField(1, "length"), strField(2, String(data.length))])),
      varintField(14, 1),
    );
    w.out.offset += data.length;
  } else {
    parts.push(lenField(9, data));
  }
  return Buffer.concat(parts);
}

function rewriteTensorType(w: Rewrite, c: ProtoCursor): Buffer {
  const parts: Buffer[] = [];
  while (!c.done()) {
    const at = c.pos;
    const f = c.next();
    parts.push(f.field === 1 && f.wire === 0 && f.value === FLOAT16 ? varintField(1, FLOAT) : raw(c, w.r, at));
  }
  return Buffer.concat(parts);
}

/** ValueInfoProto → TypeProto → tensor_type.elem_type float16 becomes float32. */
function rewriteValueInfo(w: Rewrite, c: ProtoCursor): Buffer {
  const parts: Buffer[] = [];
  while (!c.done()) {
    const at = c.pos;
    const f = c.next();
    if (f.field === 2 && f.wire === 2) {
      const t = c.sub(f);
      const typeParts: Buffer[] = [];
      while (!t.done()) {
        const tat = t.pos;
        const tf = t.next();
        typeParts.push(tf.field === 1 && tf.wire === 2 ? lenField(1, rewriteTensorType(w, t.sub(tf))) : raw(t, w.r, tat));
      }
      parts.push(lenField(2, Buffer.concat(typeParts)));
    } else parts.push(raw(c, w.r, at));
  }
  return Buffer.concat(parts);
}

/** Attributes: a Cast's `to` and any `dtype` of float16 become float32; tensors and subgraphs are rewritten. */
function rewriteAttribute(w: Rewrite, c: ProtoCursor, opType: string): Buffer {
  const fields: { at: number; f: ReturnType<ProtoCursor["next"]>; rawBytes: Buffer }[] = [];
  let name = "";
  while (!c.done()) {
    const at = c.pos;
    const f = c.next();
    if (f.field === 1 && f.wire === 2) name = c.str(f);
    fields.push({ at, f, rawBytes: raw(c, w.r, at) });
  }
  const typeAttr = (opType === "Cast" && name === "to") || name === "dtype";
  const parts: Buffer[] = [];
  for (const { f, rawBytes } of fields) {
    if (f.field === 3 && f.wire === 0 && typeAttr && f.value === FLOAT16) parts.push(varintField(3, FLOAT));
    else if ((f.field === 5 || f.field === 10) && f.wire === 2) parts.push(lenField(f.field, rewriteTensor(w, new ProtoCursor(w.r, f.start, f.end), false)));
    else if ((f.field === 6 || f.field === 11) && f.wire === 2) parts.push(lenField(f.field, rewriteGraph(w, new ProtoCursor(w.r, f.start, f.end))));
    else parts.push(rawBytes);
  }
  return Buffer.concat(parts);
}

function rewriteNode(w: Rewrite, c: ProtoCursor): Buffer {
  const start = c.pos;
  let opType = "";
  const scan = new ProtoCursor(w.r, start, c.end);
  while (!scan.done()) {
    const f = scan.next();
    if (f.field === 4 && f.wire === 2) opType = scan.str(f);
  }
  const parts: Buffer[] = [];
  while (!c.done()) {
    const at = c.pos;
    const f = c.next();
    parts.push(f.field === 5 && f.wire === 2 ? lenField(5, rewriteAttribute(w, c.sub(f), opType)) : raw(c, w.r, at));
  }
  return Buffer.concat(parts);
}

function rewriteGraph(w: Rewrite, c: ProtoCursor): Buffer {
  const parts: Buffer[] = [];
  while (!c.done()) {
    const at = c.pos;
    const f = c.next();
    if (f.wire !== 2) parts.push(raw(c, w.r, at));
    else if (f.field === 1) parts.push(lenField(1, rewriteNode(w, c.sub(f))));
    else if (f.field === 5) parts.push(lenField(5, rewriteTensor(w, c.sub(f), true)));
    else if (f.field === 11 || f.field === 12 || f.field === 13) parts.push(lenField(f.field, rewriteValueInfo(w, c.sub(f))));
    else parts.push(raw(c, w.r, at));
  }
  return Buffer.concat(parts);
}

function cacheKey(file: string, externalFiles: readonly string[]): string {
  const h = crypto.createHash("sha256");
  h.update(`v${CONVERTER_VERSION}\0${path.resolve(file)}`);
  for (const f of [file, ...externalFiles]) {
    const st = fs.statSync(f);
    h.update(`\0${f}\0${st.size}\0${st.mtimeMs}`);
  }
  return h.digest("hex").slice(0, 20);
}

/**
 * The float32 copy of a model with float16 weights, written into `cacheDir` (or reused from an
 * earlier call). `externalFiles` are the model's external data files (absolute), part of the key.
 */
export function convertFloat16Model(
  file: string, cacheDir: string,
  options: { externalFiles?: readonly string[]; float16Bytes?: number; onProgress?: (fraction: number) => void } = {},
): Float16Conversion {
  const started = performance.now();
  const dir = path.join(cacheDir, cacheKey(file, options.externalFiles ?? []));
  const target = path.join(dir, "model.onnx");
  if (fs.existsSync(target)) {
    const bytes = fs.existsSync(path.join(dir, "model.onnx.data")) ? fs.statSync(path.join(dir, "model.onnx.data")).size : 0;
    return { file: target, converted: false, tensors: 0, bytes, ms: performance.now() - started };
  }
  const tmp = `${dir}.partial-${process.pid}-${Date.now()}`;
  fs.mkdirSync(tmp, { recursive: true });
  const fd = fs.openSync(file, "r");
  const outFd = fs.openSync(path.join(tmp, "model.onnx.data"), "w");
  const w: Rewrite = {
    r: new FileBytes(fd, fs.fstatSync(fd).size), srcDir: path.dirname(file),
    out: { fd: outFd, offset: 0, location: "model.onnx.data" }, sources: new Map(),
    tensors: 0, doneBytes: 0, totalBytes: options.float16Bytes ?? 0, onProgress: options.onProgress,
  };
  try {
    const top = new ProtoCursor(w.r, 0, w.r.size);
    const parts: Buffer[] = [];
    while (!top.done()) {
      const at = top.pos;
      const f = top.next();
      parts.push(f.field === 7 && f.wire === 2 ? lenField(7, rewriteGraph(w, top.sub(f))) : raw(top, w.r, at));
    }
    fs.closeSync(outFd);
    fs.writeFileSync(path.join(tmp, "model.onnx"), Buffer.concat(parts));
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(tmp, dir);
  } catch (e) {
    try { fs.closeSync(outFd); } catch { /* already closed */ }
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  } finally {
    fs.closeSync(fd);
    for (const s of w.sources.values()) fs.closeSync(s);
  }
  return { file: target, converted: true, tensors: w.tensors, bytes: w.out.offset, ms: performance.now() - started };
}
