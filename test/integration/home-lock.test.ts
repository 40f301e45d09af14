// One server per data folder: a lock file in the folder, with the pid of the server holding it.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { LOCK_FILE } from "../../server/store/home-lock.ts";
import { deadPid, ROOT, startServer } from "./harness.ts";

describe("the data folder's lock", () => {
  it("a second sluice serve on the same data folder exits non-zero naming the first's pid", async () => {
    const first = await startServer();
    try {
      const second = spawnSync(process.execPath, ["bin/sluice.js", "serve", "--port", "0", "--home", first.home, "--device", "cpu"], { cwd: ROOT, encoding: "utf8", timeout: 60000 });
      assert.notEqual(second.status, 0);
      assert.match(second.stderr, new RegExp(`another Sluice server \\(pid ${process.pid}\\) is using the data folder`));
      assert.equal(readFileSync(join(first.home, LOCK_FILE), "utf8").trim(), String(process.pid), "the first server keeps its lock");
      // The first server's records were not touched: it still runs prompts.
      const { body } = await first.post("/api/prompt", { workflow: { format: "sluice.workflow", version: "1.0.0", nodes: [
        { id: "1", type: "EmptyImage", inputs: { width: 8, height: 8 } },
        { id: "2", type: "PreviewImage", inputs: { image: { node: "1", output: "image" } } },
      ] } });
      assert.equal((await first.waitSettled(body.promptId)).status, "done");
    } finally {
      await first.stop();
    }
  });

  it("a lock left by a server that died is taken over", async () => {
    const home = mkdtempSync(join(tmpdir(), "sluice-test-"));
    writeFileSync(join(home, LOCK_FILE), `${deadPid()}\n`);
    const s = await startServer({ home });
    try {
      assert.equal(readFileSync(join(home, LOCK_FILE), "utf8").trim(), String(process.pid));
    } finally {
      await s.stop({ keepHome: true });
    }
    assert.equal(existsSync(join(home, LOCK_FILE)), false, "removed when the server stopped");
  });

  it("sluice serve holds the lock with its pid and removes it when stopped with SIGTERM", async () => {
    const home = mkdtempSync(join(tmpdir(), "sluice-test-"));
    const server = spawn(process.execPath, ["bin/sluice.js", "serve", "--port", "0", "--home", home, "--device", "cpu"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    server.stdout.on("data", (d) => { output += d; });
    server.stderr.on("data", (d) => { output += d; });
    const exited = new Promise<number | null>((resolve) => server.once("exit", (code) => resolve(code)));
    while (!/Sluice is serving at/.test(output)) {
      if (server.exitCode !== null) assert.fail(`the server exited: ${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const holder = Number(readFileSync(join(home, LOCK_FILE), "utf8").trim());
    assert.ok(holder > 0 && holder !== process.pid, "the lock holds the server's pid");
    server.kill("SIGTERM");
    assert.equal(await exited, 0);
    assert.equal(existsSync(join(home, LOCK_FILE)), false);
  });
});
