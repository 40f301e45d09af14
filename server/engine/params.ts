// Setting values from outside the editor: named workflow parameters (`--set prompt=...`,
// POST /api/prompt {params}) and direct node inputs (`--set 3.seed=7`).
import { LITERAL_TYPES, type Literal, type NodeSpec, type Workflow } from "../../nodes/schema.ts";
import type { CatalogLookup } from "./validate.ts";

export class ParamError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ParamError";
  }
}

/** Turns a command-line string into the literal an input expects. */
export function coerceLiteral(spec: NodeSpec | undefined, input: string, raw: string): Literal {
  const inputSpec = spec?.inputs.find((i) => i.name === input);
  if (!inputSpec) return raw;
  switch (inputSpec.type) {
    case "INT": {
      if (!/^-?\d+$/.test(raw)) throw new ParamError(`${spec!.type}.${input} expects a whole number, got "${raw}"`);
      const n = Number(raw);
      return Number.isSafeInteger(n) ? n : raw; // seeds beyond 2^53 stay exact as strings
    }
    case "FLOAT": {
      const n = Number(raw);
      if (raw.trim() === "" || !Number.isFinite(n)) throw new ParamError(`${spec!.type}.${input} expects a number, got "${raw}"`);
      return n;
    }
    case "BOOLEAN":
      if (raw !== "true" && raw !== "false") throw new ParamError(`${spec!.type}.${input} expects true or false, got "${raw}"`);
      return raw === "true";
    default:
      return raw;
  }
}

/**
 * Returns a copy of the workflow with values set. Keys are parameter names, or NODE.INPUT for a
 * node input directly. String values are coerced to the input's type.
 */
export function applyValues(workflow: Workflow, values: Record<string, Literal>, lookup: CatalogLookup): Workflow {
  const copy: Workflow = structuredClone(workflow);
  for (const [key, value] of Object.entries(values)) {
    const param = copy.params.find((p) => p.name === key);
    let nodeId: string, input: string;
    if (param) {
      ({ node: nodeId, input } = param);
    } else {
      const dot = key.indexOf(".");
      if (dot <= 0) {
        const known = copy.params.map((p) => p.name).join(", ") || "none";
        throw new ParamError(`unknown parameter "${key}" (this workflow's parameters: ${known}; or use NODE.INPUT)`);
      }
      nodeId = key.slice(0, dot);
      input = key.slice(dot + 1);
    }
    const node = copy.nodes.find((n) => n.id === nodeId);
    if (!node) throw new ParamError(`"${key}": node "${nodeId}" does not exist`);
    const spec = lookup(node.type);
    const inputSpec = spec?.inputs.find((i) => i.name === input);
    if (spec && !inputSpec) throw new ParamError(`"${key}": ${node.type} has no input "${input}"`);
    if (inputSpec && !LITERAL_TYPES.includes(inputSpec.type)) throw new ParamError(`"${key}": ${node.type}.${input} takes a link (${inputSpec.type}), not a value`);
    node.inputs[input] = typeof value === "string" ? coerceLiteral(spec, input, value) : value;
  }
  return copy;
}
