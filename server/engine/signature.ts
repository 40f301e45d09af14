// Cache keys: a node's key hashes its type, its literal inputs (defaults filled in), an optional
// fingerprint of outside state it reads (a file's mtime), and the keys of its sources. Equal keys
// mean equal outputs, so an unchanged ancestor chain is never recomputed.
import { createHash } from "node:crypto";
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
  return createHash("sha256").update(JSON.stringify(parts, (_k, v) => (typeof v === "bigint" ? v.toString() : v))).digest("hex");
}
