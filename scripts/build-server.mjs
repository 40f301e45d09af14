// Builds the server into dist/ as plain JavaScript for `npm start` (development and tests run the
// TypeScript through tsx). Three entry points, each bundled with our own code (packages stay in
// node_modules), side by side in one folder so that each finds the others beside itself:
//   dist/sluice.js        the `sluice` command (serve, run)
//   dist/executor.js      the executor child process
//   dist/noise-thread.js  the samplers' noise helper thread
import { build } from "esbuild";
import { readFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";

const root = join(import.meta.dirname, "..");
const dist = join(root, "dist");

/**
 * Sources find files (templates, the client, package.json) relative to their own folder through
 * import.meta.dirname. Bundled, a source's code lives in dist/, so each source's import.meta.dirname
 * is rewritten to its own folder, as a path from dist/.
 */
const sourceDirname = {
  name: "source-dirname",
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, async ({ path }) => {
      if (path.includes(`${"/"}node_modules${"/"}`)) return undefined;
      const text = await readFile(path, "utf8");
      const fromDist = relative(dist, dirname(path)).split("\\").join("/");
      return { contents: text.replaceAll("import.meta.dirname", `(import.meta.dirname + ${JSON.stringify(`/${fromDist}`)})`), loader: "ts" };
    });
  },
};

await build({
  entryPoints: {
    sluice: join(root, "server", "cli.ts"),
    executor: join(root, "server", "executor", "executor-process.ts"),
    "noise-thread": join(root, "server", "executor", "noise-thread.ts"),
  },
  outdir: dist,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  packages: "external",
  sourcemap: true,
  plugins: [sourceDirname],
  logLevel: "warning",
});
