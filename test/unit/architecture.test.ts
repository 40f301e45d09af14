// The rooms and arrows of docs/architecture.md, checked on the real tree and on fixtures that
// break them.
import assert from "node:assert/strict";
import path from "node:path";
import { describe, it } from "node:test";
import ts from "typescript";
import {
  checkArrows, importsOf, readSourceTree, roomOf, serverFilesReachedByClient,
} from "../architecture/rooms.ts";

const root = path.join(import.meta.dirname, "..", "..");
const tree = readSourceTree(root);

describe("the real tree", () => {
  it("has no import that runs the wrong way, and every known exception still matches one", () => {
    const report = checkArrows(tree);
    assert.deepEqual(report.wrongWay, []);
    assert.deepEqual(report.staleExceptions, [], "these moves are done: delete them from KNOWN_EXCEPTIONS");
  });

  it("has no two rooms that import each other", () => {
    assert.deepEqual(checkArrows(tree).cycles, []);
  });

  it("the vocabulary the editor loads first imports nothing (no zod)", () => {
    for (const file of ["nodes/sockets.ts", "nodes/format.ts", "nodes/seed.ts"]) {
      assert.deepEqual(ts.preProcessFile(tree.get(file)!, true, true).importedFiles.map((f) => f.fileName), [], file);
    }
  });

  it("the client bundle reaches no server file", () => {
    assert.ok(tree.has("client/src/main.tsx"));
    assert.deepEqual(serverFilesReachedByClient(tree), []);
  });
});

describe("the check", () => {
  const fixture = (extra: Record<string, string>) => new Map(Object.entries({
    "server/diffusion/noise.ts": "export const x = 1;\n",
    "server/runtime/pack.ts": "export const y = 2;\n",
    "server/engine/plan.ts": 'import { z } from "../../nodes/schema.ts";\n',
    "nodes/schema.ts": 'import { z } from "zod";\nexport { z };\n',
    "client/src/main.tsx": 'import { z } from "../../nodes/schema.ts";\n',
    ...extra,
  }));

  it("passes a tree whose arrows are all allowed", () => {
    const report = checkArrows(fixture({}), []);
    assert.deepEqual(report, { wrongWay: [], cycles: [], staleExceptions: [] });
  });

  it("catches diffusion importing the runtime", () => {
    const report = checkArrows(fixture({ "server/diffusion/noise.ts": 'import { y } from "../runtime/pack.ts";\n' }), []);
    assert.deepEqual(report.wrongWay, ["server/diffusion/noise.ts → server/runtime/pack.ts (diffusion → runtime)"]);
  });

  it("catches a dynamic import and a type-only import", () => {
    const report = checkArrows(fixture({
      "server/engine/plan.ts": 'const m = await import("../runtime/pack.ts");\n',
      "nodes/schema.ts": 'import type { X } from "../server/diffusion/noise.ts";\n',
    }), []);
    assert.deepEqual(report.wrongWay, [
      "nodes/schema.ts → server/diffusion/noise.ts (vocabulary → diffusion)",
      "server/engine/plan.ts → server/runtime/pack.ts (engine → runtime)",
    ]);
  });

  it("catches two rooms that import each other", () => {
    const report = checkArrows(fixture({
      "server/store/store.ts": 'import { a } from "../api/app.ts";\n',
      "server/api/app.ts": 'import { s } from "../store/store.ts";\n',
    }), []);
    assert.deepEqual(report.cycles, ["store → api → store"]);
  });

  it("catches the client bundle reaching a server file through the vocabulary", () => {
    const files = fixture({ "nodes/schema.ts": 'export { x } from "../server/diffusion/noise.ts";\n' });
    assert.deepEqual(serverFilesReachedByClient(files), ["server/diffusion/noise.ts"]);
  });

  it("reports a known exception whose import is gone", () => {
    const report = checkArrows(fixture({}), ["server/api/files.ts → nodes/image.ts"]);
    assert.deepEqual(report.staleExceptions, ["server/api/files.ts → nodes/image.ts"]);
  });

  it("maps files to rooms: the vocabulary apart from the node families", () => {
    assert.equal(roomOf("nodes/schema.ts"), "vocabulary");
    assert.equal(roomOf("nodes/cascade.ts"), "node families");
    assert.equal(roomOf("server/cli.ts"), "cli");
    assert.equal(roomOf("server/media/png.ts"), "media");
    assert.equal(roomOf("client/src/socket.ts"), "client");
    assert.equal(roomOf("test/unit/engine.test.ts"), undefined);
  });

  it("reads re-exports and leaves packages and styles out", () => {
    const files = new Map([["client/src/a.ts", 'export * from "./b.ts";\nimport "./styles.css";\nimport React from "react";\n'], ["client/src/b.ts", ""]]);
    assert.deepEqual(importsOf("client/src/a.ts", files.get("client/src/a.ts")!, files), ["client/src/b.ts"]);
  });
});
