// Scores generated images against their expectations with bench/scorer.ts.
// node --import tsx tools/tiny/score.ts <base> [size]   reads <base>.bin (N x size x size x 3 uint8) + <base>.json
import { readFileSync, writeFileSync } from 'node:fs';
import { aggregate, scoreImage, scorerCeiling, type Expectation } from '../../bench/scorer.ts';

const base = process.argv[2];
const size = Number(process.argv[3] ?? 64);
const items: Expectation[] = JSON.parse(readFileSync(base + '.json', 'utf8'));
const bin = readFileSync(base + '.bin');
const n = size * size * 3;
const scored = items.map((e, i) => ({
  expectation: e,
  score: scoreImage({ data: bin.subarray(i * n, (i + 1) * n), width: size, height: size, channels: 3 }, e),
}));
const a = aggregate(scored);
const pct = (x: number) => (100 * x).toFixed(1) + '%';
console.log(`scorer ceiling (real images): ${pct(scorerCeiling(items, size))}`);
console.log(`single-object colour+position: ${pct(a.singleColorPosition)}`);
console.log(`single-object shape: ${pct(a.singleShape)}`);
console.log(`two-object colour+position: ${pct(a.twoColorPosition)}`);
console.log(`two-object shape: ${pct(a.twoShape)}`);
writeFileSync(base + '.scores.json', JSON.stringify(scored.map((s) => s.score), null, 0));
