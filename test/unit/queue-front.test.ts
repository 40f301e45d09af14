// Queue to front: a prompt queued with `front` runs before the prompts already pending.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { Workflow } from "../../nodes/schema.ts";
import { Store } from "../../server/store/store.ts";

const home = mkdtempSync(join(tmpdir(), "sluice-front-"));
const store = new Store(home);
after(() => { store.close(); rmSync(home, { recursive: true, force: true }); });
const wf = (name: string): Workflow => ({ format: "sluice.workflow", version: "1.1.0", name, nodes: [], groups: [], components: {}, params: [] });

describe("queue order", () => {
  it("a prompt queued to the front is the next to run; the others keep their order behind it", () => {
    const a = store.enqueue({ workflow: wf("a") });
    const b = store.enqueue({ workflow: wf("b") });
    const c = store.enqueue({ workflow: wf("c"), front: true });
    const d = store.enqueue({ workflow: wf("d") });
    assert.deepEqual(store.queue().pending.map((p) => p.promptId), [c, a, b, d]);
    assert.equal(store.nextPending()?.promptId, c);
  });
});
