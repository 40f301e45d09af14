// A group: a titled, resizable frame drawn behind nodes. Dragging its title moves the nodes inside.
import { NodeResizer, type NodeProps } from "@xyflow/react";
import { memo, useState } from "react";
import type { FrameNode as FrameNodeT } from "../graph/types.ts";
import { useGraph } from "../store/graph.ts";

function FrameNodeImpl({ id, data, selected }: NodeProps<FrameNodeT>) {
  const [editing, setEditing] = useState(false);
  const color = data.color ?? "#3b4a5c";
  return (
    <div className={`frame${selected ? " selected" : ""}`} style={{ ["--frame" as string]: color }} data-group-title={data.title}>
      <NodeResizer
        isVisible={!!selected}
        minWidth={160}
        minHeight={80}
        lineClassName="resizer-line"
        handleClassName="resizer-handle"
        onResizeStart={() => useGraph.getState().record()}
      />
      <div className="frame-title" onDoubleClick={(e) => { e.stopPropagation(); setEditing(true); }}>
        {editing ? (
          <input
            className="nodrag"
            autoFocus
            defaultValue={data.title}
            onBlur={(e) => { setEditing(false); useGraph.getState().patchFrame(id, { title: e.target.value || "Group" }); }}
            onKeyDown={(e) => { e.stopPropagation(); if (e.key === "Enter" || e.key === "Escape") (e.target as HTMLInputElement).blur(); }}
          />
        ) : (
          <span>{data.title}</span>
        )}
      </div>
    </div>
  );
}
export const FrameNode = memo(FrameNodeImpl);
