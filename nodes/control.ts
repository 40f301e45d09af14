// Nodes that shape the graph rather than compute pixels: notes for people, reroutes for links.
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

/**
 * A pass-through that tidies long links: any type in, the same type out (the editor types it by
 * its link). The engine removes it before validation, re-pointing its consumers at its source;
 * run directly, it hands its input on.
 */
export const Reroute: NodeDef = {
  type: "Reroute",
  displayName: "Reroute",
  category: "utility",
  description: "Passes its input on unchanged; takes the type of the link into it.",
  inputs: [{ name: "input", type: "*" }],
  outputs: [{ name: "output", type: "*" }],
  execute(inputs) {
    return { output: inputs.input };
  },
};

export const controlNodes: NodeDef[] = [Note, Reroute];
