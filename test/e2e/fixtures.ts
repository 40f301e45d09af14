// Small workflows of image nodes (available on every server) used by the browser tests.
import type { WorkflowLike } from "./harness.ts";

export const imageChain = (): WorkflowLike => ({
  format: "sluice.workflow",
  version: "1.0.0",
  nodes: [
    { id: "1", type: "EmptyImage", inputs: { width: 64, height: 64, batch: 1, color: "#3366aa" }, ui: { pos: [0, 0] } },
    { id: "2", type: "ImageScale", inputs: { image: { node: "1", output: "image" }, width: 96, height: 96, method: "bilinear" }, ui: { pos: [340, 0] } },
    { id: "3", type: "SaveImage", inputs: { image: { node: "2", output: "image" }, prefix: "e2e" }, ui: { pos: [680, 0] } },
    { id: "4", type: "LoadImage", inputs: { image: "" }, ui: { pos: [0, 280] } },
  ],
  groups: [{ title: "Make", bounds: [-20, -60, 640, 260] }],
});
