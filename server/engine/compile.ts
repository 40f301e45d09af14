// The prompt compiler: the one path from what a person sent (the editor's JSON, a file given to
// `sluice run`, a stored prompt) to a plan an executor can run. It migrates the workflow forward,
// sets parameters, expands components, resolves node modes and Reroutes, and checks the flat graph against the catalog. The API,
// the CLI and the executor's dispatcher all call it, so they accept and refuse the same workflows
// with the same messages. Pure: no I/O, no ONNX.
import type { Literal, NodeErrors, Workflow } from "../../nodes/schema.ts";
import { ComponentError, expandComponents, foldComponentErrors } from "./components.ts";
import { parseWorkflow, WorkflowFormatError } from "./migrate.ts";
import { checkBudget, estimatePlan, type DefLookup, type PackInfoLookup } from "./memory.ts";
import { applyNodeModes, type SkippedNode } from "./modes.ts";
import { applyValues, ParamError } from "./params.ts";
import { validateWorkflow, type CatalogLookup } from "./validate.ts";

export interface CompileOptions {
  /** The node catalog the plan is checked against. */
  lookup: CatalogLookup;
  /** Values to set before checking: parameter names, or NODE.INPUT (strings are coerced). */
  params?: Record<string, Literal>;
  /** Output node ids to compute; every output node when absent or empty. */
  outputs?: string[];
  /** The memory budget the plan's estimate must fit, with the node definitions and pack facts it needs. */
  memory?: { budgetBytes: number; defs: DefLookup; packInfo: PackInfoLookup };
}

/** A checked prompt, ready for an executor. */
export interface Plan {
  /** The workflow as the person built it (components intact, parameters set): what is stored and embedded in images. */
  workflow: Workflow;
  /**
   * The same graph flat, every component instance replaced by its inner nodes, muted, bypassed and
   * Reroute nodes resolved away: what the executor runs.
   */
  flat: Workflow;
  /** Output nodes that will not run because a node they need is muted, and why. */
  skipped: SkippedNode[];
  outputs?: string[];
}

export type CompileResult =
  | { ok: true; plan: Plan }
  | {
      ok: false;
      /** The HTTP status an API answers with. */
      status: 400;
      /** One line: how many problems, and the first. */
      message: string;
      /** Problems that belong to no single node. */
      errors: string[];
      /** Problems by the node the person sees (errors inside a component are reported on its instance). */
      nodeErrors: NodeErrors;
    };

export function compilePrompt(raw: unknown, options: CompileOptions): CompileResult {
  let workflow: Workflow;
  try {
    workflow = parseWorkflow(raw);
    if (options.params && Object.keys(options.params).length > 0) workflow = applyValues(workflow, options.params, options.lookup);
  } catch (err) {
    if (err instanceof WorkflowFormatError || err instanceof ParamError) return refused(err.message, [err.message], {});
    throw err;
  }

  let flat: Workflow;
  let skipped: SkippedNode[] = [];
  try {
    // Modes of the workflow's own nodes (component instances included), then of inner nodes.
    const outer = applyNodeModes(workflow, options.lookup);
    const inner = applyNodeModes(expandComponents(outer.workflow), options.lookup);
    flat = inner.workflow;
    skipped = [...outer.skipped, ...inner.skipped];
  } catch (err) {
    if (err instanceof ComponentError) return refused(`node ${err.nodeId}: ${err.message}`, [], { [err.nodeId]: [{ message: err.message }] });
    throw err;
  }

  const report = validateWorkflow(flat, options.lookup, options.outputs);
  const nodeErrors = foldComponentErrors(report.nodeErrors, workflow);
  if (!report.ok) {
    const count = Object.values(nodeErrors).reduce((n, list) => n + list.length, 0) + report.errors.length;
    const first = report.errors[0] ?? Object.entries(nodeErrors).map(([id, list]) => `node ${id}: ${list[0].input ? `${list[0].input}: ` : ""}${list[0].message}`)[0];
    return refused(`the workflow has ${count} problem${count === 1 ? "" : "s"}: ${first}`, report.errors, nodeErrors);
  }

  if (options.memory) {
    const verdict = checkBudget(estimatePlan(flat, options.memory.defs, options.memory.packInfo), options.memory.budgetBytes);
    if (!verdict.ok) return refused(verdict.message, [verdict.message], foldComponentErrors(verdict.nodeErrors, workflow));
  }

  return { ok: true, plan: { workflow, flat, skipped, ...(options.outputs && options.outputs.length > 0 ? { outputs: options.outputs } : {}) } };
}

function refused(message: string, errors: string[], nodeErrors: NodeErrors): CompileResult {
  return { ok: false, status: 400, message, errors, nodeErrors };
}
