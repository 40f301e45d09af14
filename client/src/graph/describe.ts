// What a person calls a prompt: the text feeding a sampler's positive input, else the first
// non-empty text in the workflow.
import type { Workflow } from "../../../nodes/schema.ts";
import { isLink } from "../../../nodes/format.ts";

export function promptTextOf(wf: Workflow): string {
  const byId = new Map(wf.nodes.map((n) => [n.id, n]));
  for (const n of wf.nodes) {
    const pos = n.inputs.positive;
    if (isLink(pos)) {
      const t = byId.get(pos.node)?.inputs.text;
      if (typeof t === "string" && t.trim()) return t;
    }
  }
  for (const n of wf.nodes) {
    const t = n.inputs.text;
    if (n.type !== "Note" && typeof t === "string" && t.trim()) return t;
  }
  return "";
}
