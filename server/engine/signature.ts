// Cache keys: a node's key hashes its type, its literal inputs (defaults filled in), an optional
// fingerprint of outside state it reads (a file's mtime), and the keys of its sources. Equal keys
// mean equal outputs, so an unchanged ancestor chain is never recomputed.
import { hash } from "node:crypto";
import { isLink, type WorkflowNode } from "../../nodes/schema.ts";

export function nodeSignature(
  node: WorkflowNode,
  literals: Record<string, unknown>,
  sourceKeys: Map<string, string>,
  fingerprint = "",
): string {
  const parts: unknown[] = [node.type, fingerprint];
  for (const name of Object.keys(literals).sort()) parts.push([name, literals[name]]);
  for (const name of Object.keys(node.inputs).sort()) {
    const value = node.inputs[name];
    if (isLink(value)) parts.push([name, sourceKeys.get(value.node), value.output]);
  }
  return hash("sha256", canonicalJson(parts), "hex");
}

/** JSON of the parts, bigints as decimal strings (rare: the replacer is only used when needed, it is slow). */
function canonicalJson(parts: unknown[]): string {
  try {
    return JSON.stringify(parts);
  } catch {
    return JSON.stringify(parts, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
  }
}
