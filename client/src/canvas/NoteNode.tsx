// A sticky note (node type "Note"): free text, resizable, ignored by the server when running.
import { NodeResizer, type NodeProps } from "@xyflow/react";
import { memo, useEffect, useState } from "react";
import type { NoteNode as NoteNodeT } from "../graph/types.ts";
import { useGraph } from "../store/graph.ts";

function NoteNodeImpl({ id, data, selected }: NodeProps<NoteNodeT>) {
  const value = String(data.values.text ?? "");
  const [text, setText] = useState(value);
  useEffect(() => setText(value), [value]);
  return (
    <div className={`note${selected ? " selected" : ""}`} data-node-id={id} data-node-type="Note">
      <NodeResizer isVisible={!!selected} minWidth={140} minHeight={80} lineClassName="resizer-line" handleClassName="resizer-handle" />
      <div className="note-head">{data.title ?? "Note"}</div>
      <textarea
        className="nodrag nowheel"
        value={text}
        placeholder="Write a note…"
        onChange={(e) => { setText(e.target.value); useGraph.getState().setValue(id, "text", e.target.value); }}
        onKeyDown={(e) => e.stopPropagation()}
      />
    </div>
  );
}
export const NoteNode = memo(NoteNodeImpl);
