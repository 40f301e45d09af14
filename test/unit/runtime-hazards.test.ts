// Graph hazards: nodes that crash or are refused by ONNX Runtime are found in the graph itself,
// without a session, and the exports of tools/real have none.
import assert from "node:assert/strict";
import path from "node:path";
import { describe, it } from "node:test";
import { findGraphHazards } from "../../server/runtime/hazards.ts";
import { float16Weights, readOnnxGraph } from "../../server/runtime/onnx-graph.ts";

const PACKS = path.join(import.meta.dirname, "..", "fixtures", "real-packs");
const BROKEN = path.join(import.meta.dirname, "..", "fixtures", "packs", "broken-models");

describe("graph hazards", () => {
  it("finds a LayerNormalization with a Scale and no Bias, by node name", () => {
    const hazards = findGraphHazards(readOnnxGraph(path.join(BROKEN, "layernorm_scale_no_bias.onnx")).nodes);
    assert.deepEqual(hazards.map((h) => [h.id, h.node, h.opType]), [["layernorm-scale-no-bias", "blocks.0.norm/LayerNormalization", "LayerNormalization"]]);
  });

  it("finds a LayerNormalization with empty Scale and Bias inputs", () => {
    const hazards = findGraphHazards(readOnnxGraph(path.join(BROKEN, "layernorm_empty_inputs.onnx")).nodes);
    assert.deepEqual(hazards.map((h) => h.id), ["layernorm-no-scale"]);
  });

  it("finds nothing in the real-architecture exports, whose LayerNorms all have a Scale and a Bias", () => {
    for (const pack of ["real-small", "real-small-fp16"]) {
      for (const model of ["prior", "decoder", "vae_decoder", "effnet", "previewer", "text_encoder"]) {
        const graph = readOnnxGraph(path.join(PACKS, pack, model, "model.onnx"));
        assert.deepEqual(findGraphHazards(graph.nodes), [], `${pack}/${model}`);
        if (model === "prior") assert.ok(graph.nodes.some((n) => n.opType === "LayerNormalization"), "the prior has LayerNormalization nodes");
      }
    }
  });
});

describe("graph reader", () => {
  it("reads initializer types and external data locations without reading the weights", () => {
    const fp16 = readOnnxGraph(path.join(PACKS, "real-small-fp16", "prior", "model.onnx"));
    const big = fp16.initializers.filter((t) => t.external);
    assert.ok(big.length > 10);
    assert.ok(big.every((t) => t.external!.location === "model.onnx.data" && t.external!.length > 0));
    assert.ok(float16Weights(fp16).count > 10);
    const fp32 = readOnnxGraph(path.join(PACKS, "real-small", "prior", "model.onnx"));
    assert.equal(float16Weights(fp32).count, 0);
    assert.ok(fp32.initializers.every((t) => !t.external));
  });
});
