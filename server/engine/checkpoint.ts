// Resuming a prompt from its gates' checkpoints: an answered gate takes its value from the
// checkpoint, so the plan no longer feeds it, and nothing upstream runs for it.
import type { Workflow } from "../../nodes/schema.ts";

/** A copy of the workflow in which the named gates' `value` inputs are cut. */
export function cutAtGates(workflow: Workflow, gateIds: Iterable<string>): Workflow {
  const cut = new Set(gateIds);
  if (cut.size === 0) return workflow;
  return {
    ...workflow,
    nodes: workflow.nodes.map((node) => {
      if (!cut.has(node.id)) return node;
      const { value: _value, ...inputs } = node.inputs;
      return { ...node, inputs };
    }),
  };
}
