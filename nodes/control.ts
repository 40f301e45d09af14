// Nodes that shape the graph rather than compute pixels: notes for people.
import type { NodeDef } from "./schema.ts";

export const Note: NodeDef = {
  type: "Note",
  displayName: "Note",
  category: "utility",
  description: "A note for people reading the workflow. Never runs.",
  inputs: [{ name: "text", type: "STRING", default: "", multiline: true }],
  outputs: [],
  execute() {
    return {};
  },
};

export const controlNodes: NodeDef[] = [Note];
