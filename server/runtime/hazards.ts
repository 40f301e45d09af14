// Graph patterns known to crash or be refused by the ONNX Runtime that Sluice ships, found in the
// graph before any session is made: a crash inside session creation takes the whole process down,
// so such a model is refused with an error naming the node instead.
import type { GraphNode } from "./onnx-graph.ts";

export interface GraphHazard {
  /** A stable id of the pattern. */
  id: string;
  node: string;
  opType: string;
  /** What is wrong and what to do, in words (completes "node 'x' (Op) ..."). */
  problem: string;
}

interface HazardRule {
  id: string;
  matches(node: GraphNode): boolean;
  problem: string;
}

const isLayerNorm = (n: GraphNode) => n.opType === "LayerNormalization" && (n.domain === "" || n.domain === "ai.onnx");

/** The known hazards (ONNX Runtime 1.30, CPU provider). */
export const GRAPH_HAZARDS: readonly HazardRule[] = [
  {
    id: "layernorm-no-scale",
    matches: (n) => isLayerNorm(n) && !n.inputs[1],
    problem: "has no Scale input (how torch 1.13 exports a LayerNorm without affine parameters), which ONNX Runtime refuses; " +
      "export the LayerNorm with an explicit weight of ones and bias of zeros",
  },
  {
    id: "layernorm-scale-no-bias",
    matches: (n) => isLayerNorm(n) && !!n.inputs[1] && !n.inputs[2],
    problem: "has a Scale and no Bias, which crashes ONNX Runtime 1.30 (the whole process) while it creates the session; " +
      "export the LayerNorm with an explicit bias of zeros",
  },
];

/** Every hazardous node of a graph, in graph order. */
export function findGraphHazards(nodes: readonly GraphNode[]): GraphHazard[] {
  const found: GraphHazard[] = [];
  for (const node of nodes) {
    for (const rule of GRAPH_HAZARDS) {
      if (rule.matches(node)) found.push({ id: rule.id, node: node.name || `(unnamed, output '${node.outputs[0] ?? "?"}')`, opType: node.opType, problem: rule.problem });
    }
  }
  return found;
}
