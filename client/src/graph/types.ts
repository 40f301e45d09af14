// Editor-side shapes of the graph. The canvas holds React Flow nodes and edges; these are converted
// to and from the shared workflow format (nodes/schema.ts) at the boundaries (load, save, queue).
import type { Edge, Node } from "@xyflow/react";
import type { Literal, SeedControl, SocketType } from "../../../nodes/schema.ts";

export interface SluiceNodeData extends Record<string, unknown> {
  /** The catalog type (e.g. "CascadeSampler"); "Note" for sticky notes. */
  type: string;
  /** Widget values by input name. Kept while an input is linked, so unlinking restores it. */
  values: Record<string, Literal>;
  title?: string;
  collapsed?: boolean;
  /** Width set by the user (ui.size[0]); nodes are NODE_WIDTH wide otherwise. Height follows content. */
  width?: number;
  color?: string;
  seedControl?: Record<string, SeedControl>;
  /** Anything else the workflow's node ui carried, preserved on save. */
  uiExtra?: Record<string, unknown>;
  placeholder?: { originalType: string; reason: string };
  /** ComfyUI's node mode: 2 muted (never runs), 4 bypassed (inputs pass through); absent = runs. */
  mode?: NodeMode;
}

export type NodeMode = 2 | 4;
export const MODE_MUTE: NodeMode = 2;
export const MODE_BYPASS: NodeMode = 4;
/** The pass-through node typed by its link. */
export const REROUTE_TYPE = "Reroute";

export interface FrameData extends Record<string, unknown> {
  title: string;
  color?: string;
  groupId?: string;
}

export type SluiceNode = Node<SluiceNodeData, "sluice">;
export type NoteNode = Node<SluiceNodeData, "note">;
export type FrameNode = Node<FrameData, "frame">;
export type FlowNode = SluiceNode | NoteNode | FrameNode;

export interface EdgeData extends Record<string, unknown> {
  socket: SocketType;
}
export type FlowEdge = Edge<EdgeData>;

export const NODE_WIDTH = 270;
export const NOTE_TYPE = "Note";
