// Validation of workflow files with the shared zod schema (loaded lazily: only needed on import).
import { Workflow, WORKFLOW_FORMAT } from "../../../nodes/schema.ts";

export function parseWorkflow(raw: unknown): { ok: true; workflow: Workflow } | { ok: false; error: string } {
  if (raw && typeof raw === "object" && "workflow" in raw && !("nodes" in raw)) raw = (raw as { workflow: unknown }).workflow;
  if (!raw || typeof raw !== "object" || (raw as { format?: unknown }).format !== WORKFLOW_FORMAT) {
    return { ok: false, error: `not a Sluice workflow (format must be "${WORKFLOW_FORMAT}")` };
  }
  const r = Workflow.safeParse(raw);
  if (!r.success) return { ok: false, error: r.error.issues.slice(0, 3).map((i) => `${i.path.join(".")}: ${i.message}`).join("; ") };
  return { ok: true, workflow: r.data };
}
