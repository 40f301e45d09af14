// Runs the *.test.ts files under the given test/ folders with Node's test runner through tsx.
// (Node 20's --test does not expand globs itself.)
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = join(import.meta.dirname, "..");
const folders = process.argv.slice(2);
if (folders.length === 0) {
  console.error("usage: node test/run-tests.mjs <folder under test/> ...");
  process.exit(2);
}

function collect(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...collect(path));
    else if (name.endsWith(".test.ts")) out.push(relative(root, path));
  }
  return out;
}

const files = folders.flatMap((f) => collect(join(root, "test", f)));
const result = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=1", ...files], { stdio: "inherit", cwd: root });
process.exit(result.status ?? 1);
