// Colours of socket types (handles, edges, the connection being drawn) and node categories.
import type { SocketType } from "../../../nodes/schema.ts";

export const SOCKET_COLORS: Record<string, string> = {
  IMAGE: "#64b5f6",
  MASK: "#81c784",
  LATENT: "#f06292",
  CONDITIONING: "#ffb74d",
  STAGE_C: "#ba68c8",
  STAGE_B: "#9575cd",
  STAGE_A: "#7986cb",
  TEXT_ENCODER: "#ffd54f",
  EFFNET: "#4db6ac",
  CLIP_VISION: "#a1887f",
  PREVIEWER: "#90a4ae",
  CONTROL_NET: "#4db6ac",
  INT: "#aed581",
  FLOAT: "#dce775",
  STRING: "#e0e0e0",
  BOOLEAN: "#ff8a65",
  COMBO: "#b0bec5",
  "*": "#cfd8dc",
};

export function socketColor(t: SocketType | string | undefined): string {
  return (t && SOCKET_COLORS[t]) || "#9aa5b1";
}

const CATEGORY_COLORS: [RegExp, string][] = [
  [/^load|loader/i, "#2f4f6f"],
  [/condition|text|prompt/i, "#6b5a2a"],
  [/sampl/i, "#5a2d4a"],
  [/latent/i, "#5b3350"],
  [/stage|decode|encode/i, "#3e3566"],
  [/image/i, "#284d5e"],
  [/control|gate|flow/i, "#2e5a45"],
  [/util|note/i, "#444b55"],
];

/** A node's title colour: by what the node does (its type name), else by its category. */
export function nodeColor(type: string | undefined, category: string | undefined): string {
  if (type) for (const [re, c] of TYPE_COLORS) if (re.test(type)) return c;
  return categoryColor(category);
}

const TYPE_COLORS: [RegExp, string][] = [
  [/^component\//, "#3b4f3f"],
  [/^load|loader|pack/i, "#2f4f6f"],
  [/sampler/i, "#5a2d4a"],
  [/textencode|conditioning|prompt|variation/i, "#6b5a2a"],
  [/latent/i, "#4e3557"],
  [/decode|encode/i, "#3e3566"],
  [/gate/i, "#2e5a45"],
  [/^note$/i, "#5c5330"],
];

export function categoryColor(category: string | undefined): string {
  if (!category) return "#3a414b";
  for (const [re, c] of CATEGORY_COLORS) if (re.test(category)) return c;
  // Stable colour from the name for categories we do not know.
  let h = 0;
  for (const ch of category) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return `hsl(${h % 360} 28% 30%)`;
}
