// Tensors: plain {data: Float32Array, shape} values (the shape nodes use) to and from onnxruntime
// tensors, int64 tensors for token ids, and a float32 <-> float16 converter for models whose inputs
// or outputs are float16 (models with float16 weights but float32 I/O need nothing).
import * as ort from "onnxruntime-node";

/** A dense float32 tensor (structurally the same as nodes/schema.ts `Tensor`). */
export interface FloatTensor {
  data: Float32Array;
  shape: number[];
}

export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function checkTensor(t: FloatTensor, what = "tensor"): void {
  const n = shapeSize(t.shape);
  if (t.shape.some((d) => !Number.isInteger(d) || d < 0)) throw new Error(`${what}: bad shape [${t.shape.join(", ")}]`);
  if (n !== t.data.length) throw new Error(`${what}: shape [${t.shape.join(", ")}] holds ${n} values but data has ${t.data.length}`);
}

// ---------------------------------------------------------------------------------------------
// float16
// ---------------------------------------------------------------------------------------------

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** One float32 to IEEE half bits, rounding to nearest even; overflow → ±Inf, NaN stays NaN. */
export function toHalfBits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0); // Inf / NaN (quiet)
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow
  if (e <= 0) {
    if (e < -10) return sign; // underflow to ±0
    mant |= 0x800000; // implicit leading 1
    const shift = 14 - e;
    const half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    const rounded = rem > mid || (rem === mid && (half & 1)) ? half + 1 : half;
    return sign | rounded;
  }
  const half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  const rounded = rem > 0x1000 || (rem === 0x1000 && (half & 1)) ? half + 1 : half; // may carry into exp: fine
  return sign | rounded;
}

/** IEEE half bits to a number. */
export function fromHalfBits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

export function float32ToFloat16(src: Float32Array): Uint16Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = toHalfBits(src[i]);
  return out;
}

export function float16ToFloat32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = fromHalfBits(src[i]);
  return out;
}

// ---------------------------------------------------------------------------------------------
// ort conversions
// ---------------------------------------------------------------------------------------------

/** An ort tensor from a float tensor; `type` "float16" converts the values. No copy for float32. */
export function toOrt(t: FloatTensor, type: "float32" | "float16" = "float32"): ort.Tensor {
  checkTensor(t);
  if (type === "float16") return new ort.Tensor("float16", float32ToFloat16(t.data), t.shape);
  return new ort.Tensor("float32", t.data, t.shape);
}

/** A float tensor from an ort tensor of float32, float16 (converted) or another numeric type. */
export function fromOrt(t: ort.Tensor): FloatTensor {
  const shape = t.dims.map(Number);
  const data = t.data as unknown;
  if (t.type === "float32") return { data: data as Float32Array, shape };
  if (t.type === "float16") {
    if (data instanceof Uint16Array) return { data: float16ToFloat32(data), shape };
    return { data: Float32Array.from(data as ArrayLike<number>), shape }; // Float16Array where the runtime has it
  }
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return { data: Float32Array.from(data, (v) => Number(v)), shape };
  return { data: Float32Array.from(data as ArrayLike<number>), shape };
}

/** An int64 ort tensor (token ids, masks) from numbers. */
export function int64Tensor(values: ArrayLike<number>, shape: number[]): ort.Tensor {
  if (shapeSize(shape) !== values.length) throw new Error(`int64 tensor: shape [${shape.join(", ")}] does not match ${values.length} values`);
  const data = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) data[i] = BigInt(values[i]);
  return new ort.Tensor("int64", data, shape);
}

export function floatTensor(shape: number[], fill = 0): FloatTensor {
  const data = new Float32Array(shapeSize(shape));
  if (fill !== 0) data.fill(fill);
  return { data, shape: [...shape] };
}
