// The nodes and initializers of an ONNX graph, read with the protobuf reader of onnx-proto.ts and
// without reading any weights: what hazards.ts checks and float16.ts rewrites.
import { type ProtoCursor, readStringEntry, withModelFile } from "./onnx-proto.ts";

export interface GraphNode {
  name: string;
  opType: string;
  domain: string;
  /** Input names; an empty string is an omitted optional input. */
  inputs: string[];
  outputs: string[];
}

export interface InitializerInfo {
  name: string;
  /** TensorProto.DataType number (1 float32, 10 float16, ...). */
  dataType: number;
  dims: number[];
  /** Bytes of raw data stored in the file (0 for external or typed-field data). */
  inlineBytes: number;
  external?: { location: string; offset: number; length: number };
}

export interface OnnxGraph {
  nodes: GraphNode[];
  initializers: InitializerInfo[];
}

function readNode(c: ProtoCursor): GraphNode {
  const n: GraphNode = { name: "", opType: "", domain: "", inputs: [], outputs: [] };
  while (!c.done()) {
    const f = c.next();
    if (f.wire !== 2) continue;
    if (f.field === 1) n.inputs.push(c.str(f));
    else if (f.field === 2) n.outputs.push(c.str(f));
    else if (f.field === 3) n.name = c.str(f);
    else if (f.field === 4) n.opType = c.str(f);
    else if (f.field === 7) n.domain = c.str(f);
  }
  return n;
}

/** An initializer's metadata (TensorProto fields dims 1, data_type 2, name 8, raw_data 9, external_data 13). */
export function readTensorInfo(c: ProtoCursor): InitializerInfo {
  const t: InitializerInfo = { name: "", dataType: 0, dims: [], inlineBytes: 0 };
  const ext: Record<string, string> = {};
  while (!c.done()) {
    const f = c.next();
    if (f.field === 1 && f.wire === 0) t.dims.push(f.value);
    else if (f.field === 1 && f.wire === 2) {
      const p = c.sub(f); // packed dims
      while (!p.done()) t.dims.push(p.varint());
    } else if (f.field === 2 && f.wire === 0) t.dataType = f.value;
    else if (f.field === 8 && f.wire === 2) t.name = c.str(f);
    else if (f.field === 9 && f.wire === 2) t.inlineBytes = f.end - f.start;
    else if (f.field === 13 && f.wire === 2) {
      const { key, value } = readStringEntry(c, f);
      ext[key] = value;
    }
  }
  if (ext.location !== undefined) {
    t.external = { location: ext.location, offset: Number(ext.offset ?? 0), length: ext.length !== undefined ? Number(ext.length) : -1 };
  }
  return t;
}

/** The main graph's nodes and initializers of an .onnx file (weights are skipped, not read). */
export function readOnnxGraph(file: string): OnnxGraph {
  return withModelFile(file, (top) => {
    const graph: OnnxGraph = { nodes: [], initializers: [] };
    while (!top.done()) {
      const f = top.next();
      if (f.field !== 7 || f.wire !== 2) continue;
      const g = top.sub(f);
      while (!g.done()) {
        const gf = g.next();
        if (gf.wire !== 2) continue;
        if (gf.field === 1) graph.nodes.push(readNode(g.sub(gf)));
        else if (gf.field === 5) graph.initializers.push(readTensorInfo(g.sub(gf)));
      }
    }
    return graph;
  });
}

/** TensorProto.DataType of float16. */
export const FLOAT16 = 10;

/** How many initializers hold float16 weights, and their bytes. */
export function float16Weights(graph: OnnxGraph): { count: number; bytes: number } {
  let count = 0;
  let bytes = 0;
  for (const t of graph.initializers) {
    if (t.dataType !== FLOAT16) continue;
    count++;
    bytes += 2 * t.dims.reduce((a, b) => a * b, 1);
  }
  return { count, bytes };
}
