// Validation of a workflow against the node catalog. Reports every problem at once, each with the
// node id, the input name where there is one, and a plain message.
import {
  isLink, LITERAL_TYPES, socketCompatibility,
  type InputSpec, type NodeErrors, type NodeSpec, type Workflow,
} from "../../nodes/schema.ts";
import { parseSeed, type Seed } from "../../nodes/seed.ts";
import { findCycle, MAX_WORKFLOW_NODES } from "./graph.ts";

export interface ValidationReport {
  ok: boolean;
  /** Problems that belong to no single node (e.g. nothing to run). */
  errors: string[];
  nodeErrors: NodeErrors;
}

export type CatalogLookup = (type: string) => NodeSpec | undefined;

/** Node types kept only for people (notes): never run, never validated beyond their type. */
const UI_ONLY_TYPES = new Set(["Note"]);

export function validateWorkflow(workflow: Workflow, lookup: CatalogLookup, requestedOutputs?: string[]): ValidationReport {
  // Keyed by node id with no prototype: ids such as "constructor" or "__proto__" are plain keys.
  const nodeErrors: NodeErrors = Object.create(null) as NodeErrors;
  const errors: string[] = [];
  const add = (nodeId: string, message: string, input?: string) => {
    (nodeErrors[nodeId] ??= []).push(input === undefined ? { message } : { input, message });
  };
  if (workflow.nodes.length > MAX_WORKFLOW_NODES) {
    const last = workflow.nodes[MAX_WORKFLOW_NODES];
    add(last.id, `the workflow has ${workflow.nodes.length.toLocaleString("en")} nodes; at most ${MAX_WORKFLOW_NODES.toLocaleString("en")} can run (this is node ${MAX_WORKFLOW_NODES + 1})`);
    return { ok: false, errors, nodeErrors };
  }

  const byId = new Map<string, Workflow["nodes"][number]>();
  for (const node of workflow.nodes) {
    if (byId.has(node.id)) add(node.id, `duplicate node id "${node.id}"`);
    byId.set(node.id, node);
  }

  for (const node of workflow.nodes) {
    if (UI_ONLY_TYPES.has(node.type)) continue;
    if (node.placeholder) {
      add(node.id, `node type "${node.placeholder.originalType}" is not available (${node.placeholder.reason}); replace or remove this node`);
      continue;
    }
    const spec = lookup(node.type);
    if (!spec) {
      add(node.id, `unknown node type "${node.type}"`);
      continue;
    }
    const known = new Set(spec.inputs.map((i) => i.name));
    for (const name of Object.keys(node.inputs)) {
      if (!known.has(name)) add(node.id, `unknown input "${name}" (${spec.type} has: ${[...known].join(", ") || "no inputs"})`, name);
    }
    for (const input of spec.inputs) {
      const value = Object.hasOwn(node.inputs, input.name) ? node.inputs[input.name] : undefined;
      if (value === undefined || value === null) {
        if (input.default === undefined && !input.optional) {
          add(node.id, `required input "${input.name}" (${input.type}) is not connected`, input.name);
        }
        continue;
      }
      if (isLink(value)) {
        const source = byId.get(value.node);
        if (!source) { add(node.id, `linked to node "${value.node}", which does not exist`, input.name); continue; }
        if (UI_ONLY_TYPES.has(source.type)) { add(node.id, `linked to node "${value.node}" (${source.type}), which has no outputs`, input.name); continue; }
        const sourceSpec = lookup(source.type);
        if (!sourceSpec) continue; // reported on the source node
        const output = sourceSpec.outputs.find((o) => o.name === value.output);
        if (!output) {
          add(node.id, `linked to output "${value.output}" of node "${value.node}" (${source.type}), which has no such output (it has: ${sourceSpec.outputs.map((o) => o.name).join(", ") || "none"})`, input.name);
          continue;
        }
        const compat = socketCompatibility(output.type, input.type, input.accepts);
        if (!compat.ok) add(node.id, `${compat.reason} (from node "${value.node}" output "${value.output}")`, input.name);
        continue;
      }
      const problem = checkLiteral(input, value, spec);
      if (problem) add(node.id, problem, input.name);
    }
  }

  const cycle = findCycle(workflow.nodes);
  if (cycle) {
    const message = `cycle: ${[...cycle, cycle[0]].join(" → ")}`;
    for (const id of cycle) add(id, message);
  }

  const outputNodes = workflow.nodes.filter((n) => lookup(n.type)?.output);
  if (requestedOutputs && requestedOutputs.length > 0) {
    for (const id of requestedOutputs) {
      const node = byId.get(id);
      if (!node) errors.push(`requested output node "${id}" does not exist`);
      else if (!lookup(node.type)?.output) add(id, `requested as an output, but ${node.type} is not an output node`);
    }
  } else if (outputNodes.length === 0) {
    errors.push("the workflow has no output node (add SaveImage or PreviewImage)");
  }

  return { ok: errors.length === 0 && Object.keys(nodeErrors).length === 0, errors, nodeErrors };
}

function checkLiteral(input: InputSpec, value: unknown, spec: NodeSpec): string | undefined {
  if (!LITERAL_TYPES.includes(input.type)) {
    return `expects a link of type ${input.type}, got a literal ${JSON.stringify(value)}`;
  }
  const range = (n: number | bigint) => {
    if (input.min !== undefined && n < input.min) return `value ${n} is below the minimum ${input.min}`;
    if (input.max !== undefined && n > input.max) return `value ${n} is above the maximum ${input.max}`;
    return undefined;
  };
  switch (input.type) {
    case "INT": {
      if (input.seed) {
        try {
          parseSeed(value as Seed);
          return undefined;
        } catch (err) {
          return `expects a seed (a whole number from 0 to 2^64−1): ${(err as Error).message}`;
        }
      }
      if (typeof value !== "number" || !Number.isInteger(value)) return `expects a whole number, got ${JSON.stringify(value)}`;
      return range(value);
    }
    case "FLOAT":
      if (typeof value !== "number" || !Number.isFinite(value)) return `expects a number, got ${JSON.stringify(value)}`;
      return range(value);
    case "STRING":
      if (typeof value !== "string") return `expects text, got ${JSON.stringify(value)}`;
      return undefined;
    case "BOOLEAN":
      if (typeof value !== "boolean") return `expects true or false, got ${JSON.stringify(value)}`;
      return undefined;
    case "COMBO":
      if (typeof value !== "string") return `expects one of the options, got ${JSON.stringify(value)}`;
      if (input.options && !input.options.includes(value)) {
        return `"${value}" is not among the options of ${spec.type}.${input.name} (${input.options.join(", ") || "none available"})`;
      }
      return undefined;
    default:
      return undefined;
  }
}

