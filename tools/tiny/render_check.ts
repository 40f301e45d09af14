// node --import tsx tools/tiny/render_check.ts /tmp/rc   (after python3 tools/tiny/render_check.py /tmp/rc)
import { readFileSync } from 'node:fs';
import { renderScene, scoreImage } from '../../bench/scorer.ts';

const base = process.argv[2];
const scenes = JSON.parse(readFileSync(base + '.json', 'utf8'));
const bin = readFileSync(base + '.bin');
let diffPixels = 0;
let ok = 0;
scenes.forEach((s: any, i: number) => {
  const py = bin.subarray(i * 64 * 64 * 3, (i + 1) * 64 * 64 * 3);
  const ts = renderScene(s, 64);
  for (let p = 0; p < 64 * 64; p++) {
    if (py[p * 3] !== ts[p * 3] || py[p * 3 + 1] !== ts[p * 3 + 1] || py[p * 3 + 2] !== ts[p * 3 + 2]) diffPixels++;
  }
  if (scoreImage({ data: py, width: 64, height: 64 }, s).shape) ok++;
});
console.log(`scenes ${scenes.length}, differing pixels ${diffPixels}, scorer on python renders ${((100 * ok) / scenes.length).toFixed(1)}%`);
