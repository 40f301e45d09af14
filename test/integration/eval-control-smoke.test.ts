// The smoke form of `npm run eval`'s control lines: the real script on a few held-out scenes (two
// single-object, two two-object) prints the four lines with numbers, and the super-resolution line
// for a pack that has that ControlNet.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { it } from "node:test";

const ROOT = join(import.meta.dirname, "..", "..");

it("npm run eval prints the image prompt, canny, inpaint and super-resolution lines", { timeout: 300_000 }, () => {
  const all = JSON.parse(readFileSync(join(ROOT, "bench", "heldout-prompts.json"), "utf8")) as { objects: unknown[] }[];
  const few = [...all.filter((p) => p.objects.length === 1).slice(0, 2), ...all.filter((p) => p.objects.length === 2).slice(0, 2)];
  const dir = mkdtempSync(join(tmpdir(), "sluice-eval-smoke-"));
  try {
    const file = join(dir, "prompts.json");
    writeFileSync(file, JSON.stringify(few));
    const r = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "bench", "eval.ts"), "--prompts", file, "--control-only"], { cwd: ROOT, encoding: "utf8", timeout: 290_000 });
    assert.equal(r.status, 0, r.stderr);
    for (const line of [/^image prompt carried: \d+\.\d%$/m, /^canny edges followed: \d+\.\d%$/m, /^inpaint kept outside mask: \d+\.\d dB$/m, /^inpaint object in mask: \d+\.\d%$/m,
      /^super-resolution kept the small picture: \d+\.\d dB$/m]) {
      assert.match(r.stdout, line);
    }
    assert.match(r.stdout, /after the template's composite through the mask: exact/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
