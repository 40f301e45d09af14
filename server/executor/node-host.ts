// What a host (the worker thread, or the CLI running in-process) provides to nodes: the
// registry, folders, the cascade runtime and the packs it found.
import type { GateAnswer, GatePreview, NodeDef, NodeServices } from "../../nodes/schema.ts";
import { ALL_NODES, createRegistry, loadNodeModules } from "../../nodes/index.ts";

export interface NodeHostOptions {
  outputsDir: string;
  uploadsDir: string;
  tempDir: string;
  modelsDir: string;
  device: string;
  /** Extra node modules (plugins, test fixtures) that export `nodes`. */
  nodeModules?: string[];
}

export interface NodeHost {
  registry: Map<string, NodeDef>;
  device: string;
  deviceNote: string;
  servicesFor(promptId: string, extra?: { waitAtGate?: (nodeId: string, preview: GatePreview) => Promise<GateAnswer> }): NodeServices;
  dispose(): Promise<void>;
}

export type Log = (level: "info" | "warn" | "error", message: string) => void;

export async function createNodeHost(options: NodeHostOptions, _log: Log): Promise<NodeHost> {
  const registry = createRegistry([...ALL_NODES, ...(await loadNodeModules(options.nodeModules ?? []))]);
  const base: NodeServices = {
    outputsDir: options.outputsDir,
    uploadsDir: options.uploadsDir,
    tempDir: options.tempDir,
  };
  return {
    registry,
    device: "cpu",
    deviceNote: "cpu",
    servicesFor: (_promptId, extra) => ({ ...base, ...extra }),
    dispose: async () => {},
  };
}
