// A model load in words, as the node, the Queue panel and the title show it.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadingText } from "../../client/src/store/loading-text.ts";
import { residentBytes } from "../../server/runtime/sessions.ts";

const base = { promptId: "p", nodeId: "5", label: "prior/model.onnx", fraction: 0, bytes: 4.1e9, since: 1_000_000 };

describe("loadingText", () => {
  it("while ONNX Runtime loads: the model, its size and the whole seconds since the load began", () => {
    assert.equal(loadingText({ ...base, phase: "loading" }, 1_000_000 + 12_400), "loading prior/model.onnx · 4.1 GB · 12 s");
  });
  it("with the time the server expects: the share of it gone by, never 100% before the load ends", () => {
    assert.equal(loadingText({ ...base, phase: "loading", expectedMs: 27_000 }, 1_000_000 + 12_150), "loading prior/model.onnx · 4.1 GB · about 45% · 12 s");
    assert.equal(loadingText({ ...base, phase: "loading", expectedMs: 1_000 }, 1_000_000 + 5_000), "loading prior/model.onnx · 4.1 GB · about 99% · 5 s");
  });
  it("while converting: the conversion's exact percentage", () => {
    assert.equal(loadingText({ ...base, phase: "converting", fraction: 0.456, bytes: 3.1e9 }, 1_000_000), "converting prior/model.onnx to float32 · 3.1 GB · 46%");
  });
  it("small models in MB, never negative seconds", () => {
    assert.equal(loadingText({ ...base, phase: "loading", bytes: 1.3e6 }, 999_000), "loading prior/model.onnx · 1.3 MB · 0 s");
    assert.equal(loadingText({ ...base, phase: "loading", bytes: 69e6 }, 1_000_000), "loading prior/model.onnx · 69 MB · 0 s");
  });
});

describe("residentBytes", () => {
  it("counts a model as the prompt check does: files × weightFactor + sessionBytes", () => {
    assert.equal(residentBytes(1000, { weightFactor: 1.25, sessionBytes: 64 }), 1314);
  });
  it("without a profile, the files", () => {
    assert.equal(residentBytes(1000, undefined), 1000);
  });
});
