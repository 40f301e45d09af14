// What a host (the worker thread, or the CLI running in-process) provides to nodes: the
// registry, folders, the cascade runtime and the packs it found.
import type { GateAnswer, GatePreview, NodeDef, NodeServices } from "../../nodes/schema.ts";
import { ALL_NODES, createRegistry, loadNodeModules } from "../../nodes/index.ts";
import { CascadeRuntime } from "../runtime/index.ts";
import { NoisePrefetcher } from "./noise-prefetch.ts";

export interface NodeHostOptions {
  outputsDir: string;
  uploadsDir: string;
  tempDir: string;
  modelsDir: string;
  device: string;
  /** Extra node modules (plugins, test fixtures) that export `nodes`. */
  nodeModules?: string[];
  /**
   * Draw samplers' per-step noise on a helper thread while the model runs on a GPU (the executor
   * asks for it). On the CPU the helper would compete with ONNX Runtime for the cores: measured on
   * 2 cores, a tiny-pack run took about 2 ms longer with it, and 1.5 ms longer when it drew only
   * between model runs (waking it cost the sampler about 50 µs a step on this virtual machine).
   */
  noiseThread?: boolean;
}

export interface NodeHost {
  registry: Map<string, NodeDef>;
  device: string;
  deviceNote: string;
  servicesFor(promptId: string, extra?: { waitAtGate?: (nodeId: string, preview: GatePreview) => Promise<GateAnswer> }): NodeServices;
  dispose(): Promise<void>;
}

export type Log = (level: "info" | "warn" | "error", message: string) => void;

export async function createNodeHost(options: NodeHostOptions, log: Log): Promise<NodeHost> {
  const registry = createRegistry([...ALL_NODES, ...(await loadNodeModules(options.nodeModules ?? []))]);
  const runtime = await CascadeRuntime.create({ device: options.device, modelsDir: options.modelsDir, log: (line) => log("info", line) });
  const noise = options.noiseThread && runtime.device.device !== "cpu" ? NoisePrefetcher.start() : undefined;
  const base: NodeServices = {
    outputsDir: options.outputsDir,
    uploadsDir: options.uploadsDir,
    tempDir: options.tempDir,
    runtime,
    ...(noise ? { noise } : {}),
    listOptions: (key) => (key === "packs" ? runtime.listPacks().map((p) => p.name) : []),
  };
  return {
    registry,
    device: runtime.device.device,
    deviceNote: runtime.device.summary,
    servicesFor: (_promptId, extra) => ({ ...base, ...extra }),
    dispose: async () => {
      await noise?.close();
      await runtime.sessions.clear();
    },
  };
}
