// The API and the CLI compile prompts with the same function: the same bad workflow gets the same
// problems from both.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { link, ROOT, startServer, workflow } from "./harness.ts";

describe("one prompt compiler", () => {
  it("POST /api/prompt and sluice run report the same problems for the same bad workflow", async () => {
    const bad = workflow([
      { id: "1", type: "EmptyImage", inputs: { width: -5 } },
      { id: "2", type: "Mystery", inputs: {} },
      { id: "3", type: "component/nowhere", inputs: {} },
      { id: "4", type: "SaveImage", inputs: { image: link("1", "image") } },
    ]);
    const fixed = { ...bad, nodes: bad.nodes.filter((n) => n.id !== "3") };
    const dir = mkdtempSync(join(tmpdir(), "sluice-compile-"));
    const s = await startServer();
    try {
      for (const wf of [bad, fixed]) {
        const api = await s.post("/api/prompt", { workflow: wf });
        assert.equal(api.status, 400);
        const file = join(dir, "wf.json");
        writeFileSync(file, JSON.stringify(wf));
        const cli = spawnSync(process.execPath, ["bin/sluice.js", "run", file, "--out", join(dir, "out"), "--home", join(dir, "home"), "--device", "cpu"], { cwd: ROOT, encoding: "utf8" });
        assert.equal(cli.status, 1);
        const lines = cli.stderr.split("\n").filter((l) => l.startsWith("  node "));
        const fromApi = Object.entries(api.body.nodeErrors as Record<string, { input?: string; message: string }[]>).flatMap(([id, list]) =>
          list.map((e) => `  node ${id} (${wf.nodes.find((n) => n.id === id)!.type})${e.input ? ` input "${e.input}"` : ""}: ${e.message}`));
        assert.ok(fromApi.length > 0);
        assert.deepEqual(lines.sort(), fromApi.sort());
      }
    } finally {
      await s.stop();
    }
  });
});
