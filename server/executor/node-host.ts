// What a host (the worker thread, or the CLI running in-process) provides to nodes: the
// registry, folders, the cascade runtime and the packs it found.
import { availableParallelism } from "node:os";
import { join } from "node:path";
import type { GateAnswer, GatePreview, NodeDef, NodeServices } from "../../nodes/schema.ts";
import { ALL_NODES, createRegistry, loadNodeModules } from "../../nodes/index.ts";
import { CascadeRuntime, type ModelSessions } from "../runtime/index.ts";
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
   * Memory budget of loaded model sessions in bytes: the server's memory budget (--memory-budget,
   * decideMemoryBudget), the same the prompt check uses. Default: the runtime's, 60% of RAM.
   */
  modelMemoryBudgetBytes?: number;
  /**
   * Draw samplers' per-step noise on a helper thread beside the model runs (the executor asks for
   * it): on a GPU the CPU is idle then; on the CPU ONNX Runtime leaves the second core idle about
   * 40% of a tiny-pack run. Measured on 2 cores, 22 prompts each way, three rounds: 1.2 ms less
   * outside ONNX Runtime per tiny-pack run. Not on a single core.
   */
  noiseThread?: boolean;
}

export interface NodeHost {
  registry: Map<string, NodeDef>;
  device: string;
  deviceNote: string;
  /** The model sessions every node shares (load progress, what is loaded). */
  sessions: ModelSessions;
  servicesFor(promptId: string, extra?: Pick<NodeServices, "waitAtGate" | "pauseAtGate" | "resumedGate">): NodeServices;
  dispose(): Promise<void>;
}

export type Log = (level: "info" | "warn" | "error", message: string) => void;

export async function createNodeHost(options: NodeHostOptions, log: Log): Promise<NodeHost> {
  const registry = createRegistry([...ALL_NODES, ...(await loadNodeModules(options.nodeModules ?? []))]);
  const runtime = await CascadeRuntime.create({
    device: options.device, modelsDir: options.modelsDir, budgetBytes: options.modelMemoryBudgetBytes, convertedDir: join(options.tempDir, "float32"),
    log: (line) => log("info", line),
  });
  const noise = options.noiseThread && (runtime.device.device !== "cpu" || availableParallelism() > 1) ? NoisePrefetcher.start() : undefined;
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
    sessions: runtime.sessions,
    servicesFor: (_promptId, extra) => ({ ...base, ...extra }),
    dispose: async () => {
      await noise?.close();
      await runtime.sessions.clear();
    },
  };
}
