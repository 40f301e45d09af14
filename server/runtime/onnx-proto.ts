// Just enough ONNX protobuf, with no dependency on the onnx package: a writer for the tiny probe
// graph device.ts uses to test an execution provider, and a reader of a model's declared inputs,
// outputs and external data files that never reads the weights (a pack can be inspected, and a
// truncated or garbage file recognised, without loading a 14 GB model into a session).
import fs from "node:fs";

function varint(n: number): number[] {
  const out: number[] = [];
  let v = n >>> 0;
  if (n > 0xffffffff) throw new Error("varint too large");
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return out;
}

function tag(field: number, wire: number): number[] {
  return varint((field << 3) | wire);
}

function intField(field: number, value: number): number[] {
  return [...tag(field, 0), ...varint(value)];
}

function bytesField(field: number, payload: number[] | Uint8Array): number[] {
  const arr = Array.from(payload);
  return [...tag(field, 2), ...varint(arr.length), ...arr];
}

function strField(field: number, s: string): number[] {
  return bytesField(field, new TextEncoder().encode(s));
}

/** ONNX TensorProto.DataType values used here. */
export const ONNX_FLOAT = 1;

/** ValueInfoProto { name, type: TypeProto { tensor_type { elem_type, shape { dim { dim_value } } } } } */
function valueInfo(name: string, elemType: number, dims: number[]): number[] {
  const shape = dims.flatMap((d) => bytesField(1, intField(1, d)));
  const tensorType = [...intField(1, elemType), ...bytesField(2, shape)];
  const typeProto = bytesField(1, tensorType);
  return [...strField(1, name), ...bytesField(2, typeProto)];
}

/**
 * Bytes of an ONNX model (opset 13) computing `y = Add(x, x)` on a float tensor of shape `dims`:
 * the smallest graph that makes a provider allocate, run a kernel and copy a result back.
 */
export function probeModelBytes(dims: number[] = [1, 4]): Uint8Array {
  const node = [...strField(1, "x"), ...strField(1, "x"), ...strField(2, "y"), ...strField(3, "add"), ...strField(4, "Add")];
  const graph = [
    ...bytesField(1, node),
    ...strField(2, "sluice_probe"),
    ...bytesField(11, valueInfo("x", ONNX_FLOAT, dims)),
    ...bytesField(12, valueInfo("y", ONNX_FLOAT, dims)),
  ];
  const opset = [...strField(1, ""), ...intField(2, 13)];
  const model = [
    ...intField(1, 7), // ir_version 7
    ...strField(2, "sluice"), // producer_name
    ...bytesField(7, graph),
    ...bytesField(8, opset),
  ];
  return Uint8Array.from(model);
}

// ---------------------------------------------------------------------------------------------
// Reader
// ---------------------------------------------------------------------------------------------

/** TensorProto.DataType numbers by name. */
export const ELEM_TYPE_NUMBERS = { float32: 1, float16: 10 } as const;

export type OnnxElemType = "float32" | "float16" | "bfloat16" | "float64" | "int64" | "int32" | "int8" | "uint8" | "bool" | "string" | "unknown";

export const ELEM_TYPES: Record<number, OnnxElemType> = {
  1: "float32", 2: "uint8", 3: "int8", 6: "int32", 7: "int64", 8: "string", 9: "bool", 10: "float16", 11: "float64", 16: "bfloat16",
};

export interface ValueSignature {
  name: string;
  type: OnnxElemType;
  /** Numbers for fixed dimensions, strings for symbolic ones, null for unknown ones. */
  shape: (number | string | null)[] | null;
}

export interface ModelSignature {
  inputs: ValueSignature[];
  outputs: ValueSignature[];
  /** Files named by initializers stored as external data (relative to the model's folder). */
  externalData: string[];
  opsetVersion?: number;
}

export class OnnxParseError extends Error {}

/** Positioned reads over a file with a small window cache. */
export class FileBytes {
  private window = Buffer.alloc(0);
  private windowStart = 0;
  constructor(private fd: number, readonly size: number) {}
  byte(pos: number): number {
    if (pos >= this.size) throw new OnnxParseError(`unexpected end of file at byte ${pos} (file has ${this.size} bytes)`);
    if (pos < this.windowStart || pos >= this.windowStart + this.window.length) {
      const len = Math.min(65536, this.size - pos);
      const buf = Buffer.alloc(len);
      fs.readSync(this.fd, buf, 0, len, pos);
      this.window = buf;
      this.windowStart = pos;
    }
    return this.window[pos - this.windowStart];
  }
  bytes(pos: number, len: number): Buffer {
    if (pos + len > this.size) throw new OnnxParseError(`unexpected end of file: a field at byte ${pos} needs ${len} bytes, the file ends at ${this.size}`);
    const buf = Buffer.alloc(len);
    fs.readSync(this.fd, buf, 0, len, pos);
    return buf;
  }
}

export interface Field { field: number; wire: number; value: number; start: number; end: number }

export class ProtoCursor {
  constructor(private r: FileBytes, public pos: number, readonly end: number) {}
  done(): boolean { return this.pos >= this.end; }
  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new OnnxParseError(`unexpected end of data in a varint at byte ${this.pos}`);
      const b = this.r.byte(this.pos++);
      result += (b & 0x7f) * mul;
      if (!(b & 0x80)) return result;
      mul *= 128;
    }
    throw new OnnxParseError(`bad varint at byte ${this.pos}`);
  }
  next(): Field {
    const start = this.pos;
    const key = this.varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (field === 0) throw new OnnxParseError(`invalid field number 0 at byte ${start}`);
    switch (wire) {
      case 0: return { field, wire, value: this.varint(), start: this.pos, end: this.pos };
      case 1: this.skip(8, start); return { field, wire, value: 0, start: this.pos - 8, end: this.pos };
      case 5: this.skip(4, start); return { field, wire, value: 0, start: this.pos - 4, end: this.pos };
      case 2: {
        const len = this.varint();
        const s = this.pos;
        this.skip(len, start);
        return { field, wire, value: len, start: s, end: this.pos };
      }
      default:
        throw new OnnxParseError(`invalid wire type ${wire} at byte ${start}`);
    }
  }
  private skip(n: number, fieldStart: number): void {
    if (this.pos + n > this.end) throw new OnnxParseError(`a field at byte ${fieldStart} runs past the end of its message (byte ${this.end}): truncated`);
    this.pos += n;
  }
  sub(f: Field): ProtoCursor { return new ProtoCursor(this.r, f.start, f.end); }
  str(f: Field): string { return this.r.bytes(f.start, f.end - f.start).toString("utf8"); }
}

function readValueInfo(c: ProtoCursor): ValueSignature {
  const v: ValueSignature = { name: "", type: "unknown", shape: null };
  while (!c.done()) {
    const f = c.next();
    if (f.field === 1 && f.wire === 2) v.name = c.str(f);
    else if (f.field === 2 && f.wire === 2) {
      const t = c.sub(f);
      while (!t.done()) {
        const tf = t.next();
        if (tf.field !== 1 || tf.wire !== 2) continue; // tensor_type only
        const tt = t.sub(tf);
        while (!tt.done()) {
          const g = tt.next();
          if (g.field === 1 && g.wire === 0) v.type = ELEM_TYPES[g.value] ?? "unknown";
          else if (g.field === 2 && g.wire === 2) {
            v.shape = [];
            const sh = tt.sub(g);
            while (!sh.done()) {
              const d = sh.next();
              if (d.field !== 1 || d.wire !== 2) continue;
              const dc = sh.sub(d);
              let dim: number | string | null = null;
              while (!dc.done()) {
                const df = dc.next();
                if (df.field === 1 && df.wire === 0) dim = df.value;
                else if (df.field === 2 && df.wire === 2) dim = dc.str(df);
              }
              v.shape.push(dim);
            }
          }
        }
      }
    }
  }
  return v;
}

/** Name and external-data location of an initializer, skipping its (possibly huge) raw data. */
function readInitializer(c: ProtoCursor): { name: string; location?: string } {
  let name = "";
  let location: string | undefined;
  while (!c.done()) {
    const f = c.next();
    if (f.field === 8 && f.wire === 2) name = c.str(f);
    else if (f.field === 13 && f.wire === 2) {
      const { key, value } = readStringEntry(c, f);
      if (key === "location") location = value;
    }
  }
  return { name, location };
}

/** A StringStringEntryProto (a tensor's external_data entry, a model's metadata): key and value. */
export function readStringEntry(c: ProtoCursor, f: Field): { key: string; value: string } {
  const e = c.sub(f);
  let key = "";
  let value = "";
  while (!e.done()) {
    const ef = e.next();
    if (ef.field === 1 && ef.wire === 2) key = e.str(ef);
    else if (ef.field === 2 && ef.wire === 2) value = e.str(ef);
  }
  return { key, value };
}

/**
 * The declared inputs (minus initializers listed as inputs), outputs and external data files of an
 * .onnx file. Throws OnnxParseError for a file that is not a well-formed ONNX ModelProto.
 */
export function readModelSignature(file: string): ModelSignature {
  return withModelFile(file, (top) => {
    let graph: Field | undefined;
    let opsetVersion: number | undefined;
    let irVersion: number | undefined;
    while (!top.done()) {
      const f = top.next();
      if (f.field === 7 && f.wire === 2) graph = f;
      else if (f.field === 1 && f.wire === 0) irVersion = f.value;
      else if (f.field === 8 && f.wire === 2) {
        const o = top.sub(f);
        let domain = "";
        let version: number | undefined;
        while (!o.done()) {
          const of = o.next();
          if (of.field === 1 && of.wire === 2) domain = o.str(of);
          else if (of.field === 2 && of.wire === 0) version = of.value;
        }
        if ((domain === "" || domain === "ai.onnx") && version !== undefined) opsetVersion = version;
      }
    }
    if (irVersion === undefined) throw new OnnxParseError("no ir_version: not an ONNX model");
    if (!graph) throw new OnnxParseError("the model has no graph");
    const g = top.sub(graph);
    const inputs: ValueSignature[] = [];
    const outputs: ValueSignature[] = [];
    const initNames = new Set<string>();
    const external = new Set<string>();
    while (!g.done()) {
      const f = g.next();
      if (f.wire !== 2) continue;
      if (f.field === 11) inputs.push(readValueInfo(g.sub(f)));
      else if (f.field === 12) outputs.push(readValueInfo(g.sub(f)));
      else if (f.field === 5) {
        const init = readInitializer(g.sub(f));
        initNames.add(init.name);
        if (init.location) external.add(init.location);
      }
    }
    return { inputs: inputs.filter((i) => !initNames.has(i.name)), outputs, externalData: [...external], opsetVersion };
  });
}

/** Opens an .onnx file and hands its top-level ModelProto cursor to `read`; the file is closed after. */
export function withModelFile<T>(file: string, read: (top: ProtoCursor) => T): T {
  const fd = fs.openSync(file, "r");
  try {
    const size = fs.fstatSync(fd).size;
    if (size === 0) throw new OnnxParseError("the file is empty");
    return read(new ProtoCursor(new FileBytes(fd, size), 0, size));
  } finally {
    fs.closeSync(fd);
  }
}
