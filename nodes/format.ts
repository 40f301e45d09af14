// The workflow file's name and version, and how a link between nodes is told from a literal.
// Without zod, so the editor's first load can use them (the schemas in schema.ts load later).

export const WORKFLOW_FORMAT = "sluice.workflow";
export const WORKFLOW_VERSION = "1.1.0";

/** An input fed by another node's output. */
export interface LinkRef {
  node: string;
  output: string;
}

export function isLink(v: unknown): v is LinkRef {
  return typeof v === "object" && v !== null && typeof (v as LinkRef).node === "string" && typeof (v as LinkRef).output === "string";
}
