// What an import says will not run: the importer's blockedOutputs (extra.importedFrom), as a banner
// over the canvas listing each output node and why, and a "will not run" badge on those nodes.
import { useReactFlow } from "@xyflow/react";
import { useCallback, useState } from "react";
import type { FlowEdge, FlowNode } from "../graph/types.ts";
import { useGraph } from "../store/graph.ts";

export interface BlockedOutput {
  node: string;
  reason: string;
}

/** The blocked outputs a workflow's extra carries (from the ComfyUI importer), or none. */
export function blockedOutputsOf(extra: unknown): BlockedOutput[] {
  const list = (extra as { importedFrom?: { blockedOutputs?: unknown } } | undefined)?.importedFrom?.blockedOutputs;
  if (!Array.isArray(list)) return [];
  return list.filter((b): b is BlockedOutput => !!b && typeof b === "object" && typeof (b as BlockedOutput).node === "string" && typeof (b as BlockedOutput).reason === "string");
}

/** Why node `id` will not run, when the import said so. */
export function useBlockedReason(id: string): string | undefined {
  return useGraph(useCallback((s) => blockedOutputsOf(s.meta.extra).find((b) => b.node === id)?.reason, [id]));
}

export function BlockedOutputsBanner() {
  const extra = useGraph((s) => s.meta.extra);
  const nodeIds = useGraph((s) => s.nodes.map((n) => n.id).join("\u0000"));
  const [dismissed, setDismissed] = useState<unknown>(undefined);
  const rf = useReactFlow<FlowNode, FlowEdge>();
  // Outputs deleted since the import are no longer the user's concern.
  const present = new Set(nodeIds.split("\u0000"));
  const blocked = blockedOutputsOf(extra).filter((b) => present.has(b.node));
  if (!blocked.length || dismissed === extra) return null;
  const n = blocked.length;
  return (
    <div className="banner blocked-outputs" data-testid="blocked-outputs" role="alert">
      <div className="blocked-head">
        <strong>{n === 1 ? "1 output" : `${n} outputs`} of the imported workflow will not run</strong>
        <button className="w-icon" data-testid="blocked-dismiss" onClick={() => setDismissed(extra)} title="Dismiss">✕</button>
      </div>
      <ul>
        {blocked.map((b) => (
          <li key={b.node} data-testid="blocked-output" data-node={b.node}>
            <button className="link" title="Show the node" onClick={() => void rf.fitView({ nodes: [{ id: b.node }], duration: 200, maxZoom: 1 })}>node {b.node}</button>: {b.reason}
          </li>
        ))}
      </ul>
    </div>
  );
}
