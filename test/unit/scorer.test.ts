import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  BACKGROUND_NAMES,
  COLOR_NAMES,
  POSITION_NAMES,
  SHAPES,
  aggregate,
  caption,
  classifyShape,
  jitterScene,
  mulberry32,
  nearestPosition,
  renderScene,
  scoreImage,
  scorerCeiling,
  type Expectation,
} from '../../bench/scorer.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const heldout: (Expectation & { prompt: string })[] = JSON.parse(
  readFileSync(join(ROOT, 'bench', 'heldout-prompts.json'), 'utf8'),
);

function randomScene(rand: () => number): Expectation {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
  const background = pick(BACKGROUND_NAMES);
  const n = rand() < 0.5 ? 1 : 2;
  const colors = COLOR_NAMES.filter((c) => c !== background);
  const objects = [];
  const usedC = new Set<string>();
  const usedP = new Set<string>();
  while (objects.length < n) {
    const color = pick(colors);
    const position = pick(POSITION_NAMES);
    if (usedC.has(color) || usedP.has(position)) continue;
    usedC.add(color);
    usedP.add(position);
    objects.push({ color, shape: pick(SHAPES), position });
  }
  return { background, objects };
}

test('held-out prompt list: at least 100 prompts, single and two-object, captions match', () => {
  assert.ok(heldout.length >= 100);
  assert.ok(heldout.some((h) => h.objects.length === 1));
  assert.ok(heldout.some((h) => h.objects.length === 2));
  for (const h of heldout) {
    assert.equal(h.prompt, caption(h));
    for (const o of h.objects) {
      assert.ok(COLOR_NAMES.includes(o.color as never), o.color);
      assert.ok(SHAPES.includes(o.shape as never), o.shape);
      assert.ok(POSITION_NAMES.includes(o.position as never), o.position);
      assert.notEqual(o.color, h.background);
    }
  }
});

test('scorer ceiling on rendered scenes is at least 95% (64 and 128 px)', () => {
  assert.ok(scorerCeiling(heldout, 64, 7, 3) >= 0.95);
  assert.ok(scorerCeiling(heldout, 128, 8, 1) >= 0.95);
  const rand = mulberry32(11);
  const scenes = Array.from({ length: 300 }, () => randomScene(rand));
  assert.ok(scorerCeiling(scenes, 64, 12, 1) >= 0.95);
});

test('every shape is recognised at every position', () => {
  const rand = mulberry32(5);
  for (const shape of SHAPES) {
    for (const position of POSITION_NAMES) {
      const e: Expectation = { background: 'gray', objects: [{ color: 'red', shape, position }] };
      for (let k = 0; k < 4; k++) {
        const s = scoreImage({ data: renderScene(jitterScene(e, rand), 64), width: 64, height: 64 }, e);
        assert.ok(s.colorPosition, `${shape} ${position}`);
        assert.equal(s.perObject[0].detectedShape, shape, `${shape} ${position}`);
      }
    }
  }
});

test('wrong colour, wrong place and wrong shape are rejected', () => {
  const truth: Expectation = {
    background: 'gray',
    objects: [
      { color: 'red', shape: 'circle', position: 'left' },
      { color: 'blue', shape: 'square', position: 'right' },
    ],
  };
  const img = { data: renderScene(truth, 64), width: 64, height: 64 };
  const ok = scoreImage(img, truth);
  assert.ok(ok.colorPosition && ok.shape);
  const swapped = scoreImage(img, {
    background: 'gray',
    objects: [
      { color: 'red', shape: 'circle', position: 'right' },
      { color: 'blue', shape: 'square', position: 'left' },
    ],
  });
  assert.equal(swapped.colorPosition, false);
  const otherColor = scoreImage(img, { background: 'gray', objects: [{ color: 'green', shape: 'circle', position: 'left' }] });
  assert.equal(otherColor.colorPosition, false);
  const otherShape = scoreImage(img, { background: 'gray', objects: [{ color: 'red', shape: 'triangle', position: 'left' }] });
  assert.equal(otherShape.colorPosition, true);
  assert.equal(otherShape.shape, false);
  const blank = scoreImage({ data: renderScene({ background: 'gray', objects: [] }, 64), width: 64, height: 64 }, truth);
  assert.equal(blank.colorPosition, false);
});

test('RGBA input and a blurred image still score', () => {
  const e: Expectation = { background: 'white', objects: [{ color: 'purple', shape: 'triangle', position: 'bottom' }] };
  const rgb = renderScene(e, 64);
  const rgba = new Uint8ClampedArray(64 * 64 * 4);
  for (let i = 0; i < 64 * 64; i++) {
    rgba[i * 4] = rgb[i * 3];
    rgba[i * 4 + 1] = rgb[i * 3 + 1];
    rgba[i * 4 + 2] = rgb[i * 3 + 2];
    rgba[i * 4 + 3] = 255;
  }
  assert.ok(scoreImage({ data: rgba, width: 64, height: 64, channels: 4 }, e).shape);
  // 3x3 box blur, as a soft generated image would look
  const blurred = new Uint8Array(rgb.length);
  for (let y = 0; y < 64; y++) {
    for (let x = 0; x < 64; x++) {
      for (let c = 0; c < 3; c++) {
        let s = 0;
        let n = 0;
        for (let dy = -1; dy <= 1; dy++) {
          for (let dx = -1; dx <= 1; dx++) {
            const yy = y + dy;
            const xx = x + dx;
            if (yy < 0 || yy >= 64 || xx < 0 || xx >= 64) continue;
            s += rgb[(yy * 64 + xx) * 3 + c];
            n++;
          }
        }
        blurred[(y * 64 + x) * 3 + c] = Math.round(s / n);
      }
    }
  }
  assert.ok(scoreImage({ data: blurred, width: 64, height: 64 }, e).shape);
});

test('helpers: positions, shape classes, aggregation', () => {
  assert.equal(nearestPosition(13, 32), 'left');
  assert.equal(nearestPosition(32, 32), 'center');
  assert.equal(nearestPosition(2, 2), null);
  assert.equal(classifyShape(1.0, 0.5), 'square');
  assert.equal(classifyShape(0.78, 0.5), 'circle');
  assert.equal(classifyShape(0.5, 0.25), 'triangle');
  const e1: Expectation = { background: 'gray', objects: [{ color: 'red', shape: 'circle', position: 'left' }] };
  const img = { data: renderScene(e1, 64), width: 64, height: 64 };
  const a = aggregate([{ expectation: e1, score: scoreImage(img, e1) }]);
  assert.equal(a.singleColorPosition, 1);
  assert.equal(a.singleShape, 1);
  assert.equal(a.twoColorPosition, 0);
});
