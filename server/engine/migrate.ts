// Workflow files carry a semver version; older files are migrated forward step by step before
// they are checked against the current schema.
import { WORKFLOW_FORMAT, WORKFLOW_VERSION, Workflow } from "../../nodes/schema.ts";

export class WorkflowFormatError extends Error {
  constructor(message: string, readonly issues: string[] = []) {
    super(issues.length ? `${message}: ${issues.join("; ")}` : message);
    this.name = "WorkflowFormatError";
  }
}

type Raw = Record<string, unknown>;
interface Migration { from: string; to: string; migrate(raw: Raw): Raw }

/**
 * 0.1.0 kept nodes as an object keyed by id, with literals under `widgets`, links under `links`
 * as [nodeId, outputName] pairs, and the position as `pos`.
 */
const MIGRATIONS: Migration[] = [
  {
    from: "0.1.0",
    to: "1.0.0",
    migrate(raw) {
      const oldNodes = (raw.nodes ?? {}) as Record<string, Raw>;
      const isObject = (v: unknown): v is Raw => typeof v === "object" && v !== null && !Array.isArray(v);
      const nodes = Object.entries(oldNodes).map(([id, n]) => {
        if (!isObject(n)) throw new WorkflowFormatError(`invalid workflow: node "${id}" is not an object`);
        const inputs: Raw = isObject(n.widgets) ? { ...n.widgets } : {};
        for (const [name, link] of Object.entries(isObject(n.links) ? n.links : {})) {
          if (!Array.isArray(link) || link.length !== 2) throw new WorkflowFormatError(`invalid workflow: node "${id}" input "${name}": a link is [nodeId, outputName]`);
          // Defined, not assigned: an input named "__proto__" stays an input.
          Object.defineProperty(inputs, name, { value: { node: String(link[0]), output: String(link[1]) }, enumerable: true, writable: true, configurable: true });
        }
        const ui = Array.isArray(n.pos) ? { pos: n.pos } : undefined;
        return { id, type: n.type, inputs, ...(ui ? { ui } : {}) };
      });
      return { ...raw, version: "1.0.0", nodes, groups: raw.groups ?? [], components: raw.components ?? {}, params: raw.params ?? [] };
    },
  },
  // 1.1.0 adds an optional node `mode` (mute, bypass): a 1.0.0 file is a valid 1.1.0 file. The
  // version moved so that an older Sluice refuses a file with modes rather than run muted nodes.
  { from: "1.0.0", to: "1.1.0", migrate: (raw) => ({ ...raw, version: "1.1.0" }) },
];

function compareSemver(a: string, b: string): number {
  const pa = a.split(".").map(Number), pb = b.split(".").map(Number);
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

/** Moves a raw workflow object forward to the current version; leaves the current one alone. */
export function migrateWorkflow(raw: unknown): { workflow: Raw; migratedFrom?: string } {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new WorkflowFormatError("a workflow must be a JSON object");
  let current = raw as Raw;
  if (current.format !== WORKFLOW_FORMAT) throw new WorkflowFormatError(`not a Sluice workflow: "format" must be "${WORKFLOW_FORMAT}"`);
  const original = String(current.version ?? "");
  if (!/^\d+\.\d+\.\d+$/.test(original)) throw new WorkflowFormatError(`"version" must be semver (e.g. ${WORKFLOW_VERSION}), got ${JSON.stringify(current.version)}`);
  if (compareSemver(original, WORKFLOW_VERSION) > 0) {
    throw new WorkflowFormatError(`workflow version ${original} is newer than this Sluice understands (${WORKFLOW_VERSION}); update Sluice`);
  }
  while (compareSemver(String(current.version), WORKFLOW_VERSION) < 0) {
    const version = String(current.version);
    const step = MIGRATIONS.find((m) => compareSemver(version, m.from) >= 0 && compareSemver(version, m.to) < 0);
    if (!step) { current = { ...current, version: WORKFLOW_VERSION }; break; }
    current = step.migrate(current);
  }
  return { workflow: current, migratedFrom: original !== WORKFLOW_VERSION ? original : undefined };
}

/** Migrates and checks a workflow; errors name the field that was wrong. */
export function parseWorkflow(raw: unknown): Workflow {
  const { workflow } = migrateWorkflow(raw);
  const parsed = Workflow.safeParse(workflow);
  if (!parsed.success) {
    throw new WorkflowFormatError("invalid workflow", parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`));
  }
  return parsed.data;
}
