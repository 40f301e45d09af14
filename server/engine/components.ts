// Components (subgraphs). An instance is a node of type "component/<key>" whose definition lives in
// the workflow's `components[key]`; editing the definition changes every instance. Before
// validation and execution instances are expanded into their inner nodes (ids "<instance>/<inner>"),
// so a component costs nothing per node and its nodes are cached like any others.
import { isLink, type ComponentDef, type InputValue, type NodeErrors, type Workflow, type WorkflowNode } from "../../nodes/schema.ts";
import { MAX_WORKFLOW_NODES } from "./graph.ts";

export const COMPONENT_PREFIX = "component/";

export class ComponentError extends Error {
  constructor(readonly nodeId: string, message: string) {
    super(message);
    this.name = "ComponentError";
  }
}

export function componentKey(type: string): string | undefined {
  return type.startsWith(COMPONENT_PREFIX) ? type.slice(COMPONENT_PREFIX.length) : undefined;
}

/** Components may contain components this many levels deep. */
export const MAX_COMPONENT_DEPTH = 32;

/**
 * The flat workflow: every instance replaced by its inner nodes, links re-pointed. Refused (a
 * ComponentError on the outermost instance) once the expansion passes `maxNodes` nodes: counted
 * as it goes, so a small workflow whose components fan out into millions of nodes stops early.
 */
export function expandComponents(workflow: Workflow, maxNodes = MAX_WORKFLOW_NODES): Workflow {
  if (!workflow.nodes.some((n) => componentKey(n.type) !== undefined)) return workflow;
  const budget = { left: maxNodes, max: maxNodes };
  return { ...workflow, nodes: expandNodes(workflow.nodes, workflow.components, [], budget).nodes };
}

interface Budget { left: number; max: number }

/** Sets an input as an own property, also for names such as "__proto__" that assignment would misread. */
function defineInput(inputs: Record<string, InputValue>, name: string, value: InputValue): void {
  Object.defineProperty(inputs, name, { value, writable: true, enumerable: true, configurable: true });
}

interface Expanded {
  nodes: WorkflowNode[];
  /** Where each instance output really comes from: "<instance>.<output>" → link into inner nodes. */
  outputs: Map<string, InputValue>;
}

function expandNodes(nodes: WorkflowNode[], defs: Record<string, ComponentDef>, stack: string[], budget: Budget): Expanded {
  const outputs = new Map<string, InputValue>();
  const expanded: WorkflowNode[] = [];
  for (const node of nodes) {
    // Instances count too: a definition of nothing but instances could otherwise multiply for free.
    if (--budget.left < 0) throw new ComponentError(node.id, `expanding the components makes more than ${budget.max.toLocaleString("en")} nodes (the most a workflow may run)`);
    const key = componentKey(node.type);
    if (key === undefined) { expanded.push(node); continue; }
    // Own keys only: a key such as "constructor" or "__proto__" names no definition.
    const def = Object.hasOwn(defs, key) ? defs[key] : undefined;
    if (!def) throw new ComponentError(node.id, `component "${key}" is not defined in this workflow`);
    if (stack.includes(key)) throw new ComponentError(node.id, `component "${key}" contains itself (${[...stack, key].join(" → ")})`);
    if (stack.length >= MAX_COMPONENT_DEPTH) throw new ComponentError(node.id, `components are nested more than ${MAX_COMPONENT_DEPTH} levels deep (${[...stack, key].join(" → ")})`);
    // The instance's own inputs (links or exposed widget values) go onto the inner targets first,
    // so that a target which is itself a component receives them before it is expanded.
    const innerNodes = def.nodes.map((n) => ({ ...n, inputs: { ...n.inputs } }));
    for (const port of def.inputs) {
      const value = Object.hasOwn(node.inputs, port.name) ? node.inputs[port.name] : undefined;
      if (value === undefined) continue;
      for (const target of port.targets) {
        const targetNode = innerNodes.find((n) => n.id === target.node);
        if (!targetNode) throw new ComponentError(node.id, `component "${key}" input "${port.name}" targets node "${target.node}", which is not in it`);
        // Links from outside stay outside: mark them so the prefixing below leaves them alone.
        defineInput(targetNode.inputs, target.input, isLink(value) ? { node: `\u0000${value.node}`, output: value.output } : value);
      }
    }
    let inner: Expanded;
    try {
      inner = expandNodes(innerNodes, defs, [...stack, key], budget);
    } catch (err) {
      // Reported on the outermost instance: the one the person can see and click.
      if (err instanceof ComponentError) throw new ComponentError(node.id, err.message);
      throw err;
    }
    const prefix = `${node.id}/`;
    const rename = (v: InputValue): InputValue => {
      if (!isLink(v)) return v;
      if (v.node.startsWith("\u0000")) return { node: v.node.slice(1), output: v.output };
      return { node: prefix + v.node, output: v.output };
    };
    for (const n of inner.nodes) {
      expanded.push({ ...n, id: prefix + n.id, inputs: Object.fromEntries(Object.entries(n.inputs).map(([name, v]) => [name, rename(v)])) });
    }
    for (const port of def.outputs) {
      const source = inner.outputs.get(`${port.source.node}.${port.source.output}`) ?? port.source;
      if (!isLink(source) || !inner.nodes.some((n) => n.id === source.node)) {
        throw new ComponentError(node.id, `component "${key}" output "${port.name}" comes from node "${port.source.node}", which is not in it`);
      }
      outputs.set(`${node.id}.${port.name}`, rename(source));
    }
  }
  const resolve = (v: InputValue, depth = 0): InputValue => {
    if (!isLink(v) || depth > 64) return v;
    const target = outputs.get(`${v.node}.${v.output}`);
    return target ? resolve(target, depth + 1) : v;
  };
  return {
    nodes: expanded.map((n) => ({ ...n, inputs: Object.fromEntries(Object.entries(n.inputs).map(([name, v]) => [name, resolve(v)])) })),
    outputs,
  };
}

/** Errors on inner nodes ("<instance>/<inner>") reported on the instance the user sees. */
export function foldComponentErrors(errors: NodeErrors, original: Workflow): NodeErrors {
  const visible = new Set(original.nodes.map((n) => n.id));
  const out: NodeErrors = Object.create(null) as NodeErrors;
  for (const [id, list] of Object.entries(errors)) {
    if (visible.has(id)) { (out[id] ??= []).push(...list); continue; }
    const slash = id.indexOf("/");
    const owner = slash > 0 ? id.slice(0, slash) : id;
    const inner = id.slice(slash + 1);
    (out[owner] ??= []).push(...list.map((e) => ({ ...e, message: `inside the component, node ${inner}${e.input ? ` input "${e.input}"` : ""}: ${e.message}`, input: undefined })));
  }
  return out;
}
