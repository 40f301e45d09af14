import { test } from "node:test";
import assert from "node:assert/strict";
import { float16ToFloat32, float32ToFloat16, fromHalfBits, fromOrt, int64Tensor, toHalfBits, toOrt } from "../../server/runtime/tensors.ts";

test("fp16 conversion round trip keeps values representable in half precision exactly", () => {
  const values = new Float32Array([0, -0, 1, -1, 0.5, 2, 65504, -65504, 6.103515625e-5, 5.960464477539063e-8, 0.0999755859375, 1000.5, 3.140625]);
  const back = float16ToFloat32(float32ToFloat16(values));
  assert.deepEqual(Array.from(back), Array.from(values));
});

test("fp16 conversion rounds other values to the nearest half within half an ulp", () => {
  // Float32 inputs (what tensors hold), from a fixed sequence so the test is repeatable.
  for (let i = 0; i < 2000; i++) {
    const v = Math.fround((((i * 2654435761) % 1000003) / 1000003 - 0.5) * 2 ** ((i % 30) - 15));
    const h = fromHalfBits(toHalfBits(v));
    const exp = Math.max(Math.floor(Math.log2(Math.abs(v) || 2 ** -24)), -14);
    const ulp = 2 ** (exp - 10);
    assert.ok(Math.abs(h - v) <= ulp / 2 + 1e-12, `${v} -> ${h}`);
  }
});

test("fp16 conversion maps overflow to infinity and keeps NaN", () => {
  const h = float32ToFloat16(new Float32Array([1e6, -1e6, Infinity, NaN, 1e-9]));
  const back = float16ToFloat32(h);
  assert.equal(back[0], Infinity);
  assert.equal(back[1], -Infinity);
  assert.equal(back[2], Infinity);
  assert.ok(Number.isNaN(back[3]));
  assert.equal(back[4], 0);
  assert.equal(toHalfBits(1), 0x3c00);
  assert.equal(toHalfBits(65520), 0x7c00); // rounds up past the largest half
  assert.equal(toHalfBits(1 + 2 ** -11), 0x3c00); // tie rounds to even
});

test("float tensors convert to ort float16 tensors and back", () => {
  const t = toOrt({ data: new Float32Array([1, 2.5, -3, 0.25]), shape: [2, 2] }, "float16");
  assert.equal(t.type, "float16");
  const back = fromOrt(t);
  assert.deepEqual(back.shape, [2, 2]);
  assert.deepEqual(Array.from(back.data), [1, 2.5, -3, 0.25]);
});

test("int64 tensors are built from numbers as BigInt64Array", () => {
  const t = int64Tensor([49406, 1, 49407], [1, 3]);
  assert.equal(t.type, "int64");
  assert.ok(t.data instanceof BigInt64Array);
  assert.deepEqual(Array.from(t.data as BigInt64Array), [49406n, 1n, 49407n]);
  assert.throws(() => int64Tensor([1, 2], [1, 3]), /does not match/);
});

test("a float tensor whose shape does not match its data is refused", () => {
  assert.throws(() => toOrt({ data: new Float32Array(3), shape: [2, 2] }), /holds 4 values but data has 3/);
});
