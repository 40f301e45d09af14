#!/usr/bin/env node
// The `sluice` command. Runs the compiled server (dist/, made by `npm run build`) when it is newer
// than every source file; otherwise runs the TypeScript sources through tsx, in this same process
// (so signals reach the server itself), so a checkout works without a build and an edited source
// is never shadowed by an old build.
import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const compiled = join(root, "dist", "sluice.js");

/** The newest modification time of the files under `dir`. */
function newest(dir) {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
}

const sources = ["server", "nodes"].map((d) => join(root, d)).filter(existsSync);
if (existsSync(compiled) && statSync(compiled).mtimeMs >= Math.max(...sources.map(newest), statSync(join(root, "package.json")).mtimeMs)) {
  await import(pathToFileURL(compiled).href);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import(pathToFileURL(join(root, "server", "cli.ts")).href);
}
