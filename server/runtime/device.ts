// Device choice: --device auto|cpu|cuda|webgpu → onnxruntime execution providers and session
// options. auto tries CUDA, then WebGPU, then CPU, each by starting a tiny probe session, and says
// which it got and why the others failed. An explicit device that cannot start is an error that
// says what is missing.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import * as ort from "onnxruntime-node";
import { RuntimeError, cleanOrtMessage } from "./errors.ts";
import { probeModelBytes } from "./onnx-proto.ts";

export const DEVICES = ["auto", "cpu", "cuda", "webgpu"] as const;
export type DeviceRequest = (typeof DEVICES)[number];
export type Device = Exclude<DeviceRequest, "auto">;

export const CUDA_SETUP_HINT = "run `npm run setup:cuda` (needs network and CUDA 12)";

export interface DeviceAttempt {
  device: Device;
  ok: boolean;
  /** Why it could not start (absent when ok). */
  reason?: string;
}

export interface DeviceChoice {
  /** What was asked for. */
  requested: DeviceRequest;
  /** What was got. */
  device: Device;
  executionProviders: ort.InferenceSession.ExecutionProviderConfig[];
  /** Every device tried, in order, with why it failed. */
  attempts: DeviceAttempt[];
  /** One line saying what was chosen and why (also logged). */
  summary: string;
}

export interface ResolveDeviceOptions {
  /** Where to say what was chosen (default console.log; pass () => {} to be quiet). */
  log?: (line: string) => void;
  /** Replace the probe (tests): resolve if the device starts, throw with the reason if not. */
  probe?: (device: Device) => Promise<void>;
  /** Use a cached answer from an earlier call with the same request (default true). */
  cache?: boolean;
}

export function parseDevice(value: string | undefined): DeviceRequest {
  const v = (value ?? "auto").toLowerCase();
  if ((DEVICES as readonly string[]).includes(v)) return v as DeviceRequest;
  throw new RuntimeError("device-unavailable", `unknown device '${value}': use one of ${DEVICES.join(", ")}`);
}

export function executionProvidersFor(device: Device): ort.InferenceSession.ExecutionProviderConfig[] {
  switch (device) {
    case "cuda": return [{ name: "cuda", deviceId: 0 } as ort.InferenceSession.ExecutionProviderConfig, "cpu"];
    case "webgpu": return ["webgpu", "cpu"];
    default: return ["cpu"];
  }
}

/** The session options Sluice uses: tuned for speed on this machine. */
export function sessionOptionsFor(device: Device, extra: Partial<ort.InferenceSession.SessionOptions> = {}): ort.InferenceSession.SessionOptions {
  const threads = typeof os.availableParallelism === "function" ? os.availableParallelism() : os.cpus().length;
  return {
    executionProviders: executionProvidersFor(device),
    graphOptimizationLevel: "all",
    intraOpNumThreads: Math.max(1, threads),
    interOpNumThreads: 1,
    executionMode: "sequential",
    enableMemPattern: true,
    enableCpuMemArena: true,
    logSeverityLevel: 3,
    // Intra-op threads that spin after a run steal the cores the sampler's own JS (and the
    // preview encoder) needs between model calls; sleeping costs less than it takes.
    extra: { session: { intra_op: { allow_spinning: "0" } } },
    ...extra,
  };
}

/** Folder of onnxruntime-node's native binding (where the CUDA provider libraries must be). */
export function ortBinaryDir(): string {
  const require = createRequire(import.meta.url);
  const main = require.resolve("onnxruntime-node");
  return path.join(path.dirname(main), "..", "bin", "napi-v6", process.platform, process.arch);
}

/** The CUDA provider libraries onnxruntime-node needs, and which of them are missing. */
export function cudaProviderFiles(): { dir: string; missing: string[] } {
  const dir = ortBinaryDir();
  const names = process.platform === "win32"
    ? ["onnxruntime_providers_shared.dll", "onnxruntime_providers_cuda.dll"]
    : ["libonnxruntime_providers_shared.so", "libonnxruntime_providers_cuda.so"];
  return { dir, missing: names.filter((n) => !fs.existsSync(path.join(dir, n))) };
}


/**
 * Where the Vulkan loader (libvulkan.so.1) is on Linux, or undefined where it is not installed.
 * Checked before WebGPU is tried: without it Dawn only prints a native warning and finds no adapter.
 */
export function vulkanLoader(): string | undefined {
  const arch = process.arch === "arm64" ? "aarch64-linux-gnu" : "x86_64-linux-gnu";
  const conf = "/etc/ld.so.conf.d";
  const configured = fs.existsSync(conf)
    ? fs.readdirSync(conf).filter((f) => f.endsWith(".conf")).flatMap((f) => fs.readFileSync(path.join(conf, f), "utf8").split("\n"))
      .map((l) => l.trim()).filter((l) => l.startsWith("/"))
    : [];
  const dirs = [...(process.env.LD_LIBRARY_PATH ?? "").split(":").filter(Boolean), ...configured,
    `/usr/lib/${arch}`, `/lib/${arch}`, "/usr/lib", "/lib", "/usr/lib64", "/lib64", "/usr/local/lib"];
  return dirs.map((d) => path.join(d, "libvulkan.so.1")).find((f) => fs.existsSync(f));
}

/** Start a probe session on `device` and run it once; throws with the reason in words if it cannot. */
export async function probeDevice(device: Device): Promise<void> {
  if (device === "cuda") {
    const { missing } = cudaProviderFiles();
    if (missing.length) throw new Error(`the CUDA provider files are not installed: ${CUDA_SETUP_HINT}; missing ${missing.join(", ")} in ${cudaProviderFiles().dir}`);
  }
  if (device === "webgpu" && process.platform === "linux" && !vulkanLoader()) {
    throw new Error("WebGPU needs the Vulkan loader (libvulkan.so.1), which is not installed; on Debian: apt-get install libvulkan1 plus the GPU's Vulkan driver");
  }
  let session: ort.InferenceSession | undefined;
  try {
    // Only the device's own provider, so a silent fall-back to CPU cannot pass for success.
    const providers: ort.InferenceSession.ExecutionProviderConfig[] = device === "cuda" ? [{ name: "cuda", deviceId: 0 } as ort.InferenceSession.ExecutionProviderConfig] : [device];
    session = await ort.InferenceSession.create(probeModelBytes(), { executionProviders: providers, logSeverityLevel: 4 });
    const x = new ort.Tensor("float32", Float32Array.from([1, 2, 3, 4]), [1, 4]);
    const out = await session.run({ x });
    const y = out.y.data as Float32Array;
    if (y[3] !== 8) throw new Error(`probe computed ${Array.from(y).join(",")} instead of 2,4,6,8`);
  } catch (e) {
    const msg = cleanOrtMessage(e);
    if (device === "cuda") {
      throw new Error(`the CUDA provider could not start: ${msg} (needs an NVIDIA GPU and driver, CUDA 12 and cuDNN 9 libraries on the library path; ${CUDA_SETUP_HINT} if the provider files are missing)`);
    }
    if (device === "webgpu") {
      throw new Error(/adapter/i.test(msg)
        ? `WebGPU found no GPU adapter (${msg}); it needs a GPU with Vulkan drivers (libvulkan.so.1)`
        : `WebGPU could not start: ${msg}`);
    }
    throw new Error(`the CPU provider could not start: ${msg}`);
  } finally {
    await session?.release().catch(() => {});
  }
}

const resolved = new Map<DeviceRequest, Promise<DeviceChoice>>();

/**
 * Resolve a --device value into execution providers. auto tries cuda, webgpu, cpu in that order and
 * logs what it got and why the others failed; an explicit device that cannot start throws a
 * RuntimeError ("device-unavailable") saying what is missing.
 */
export function resolveDevice(request: DeviceRequest | string = "auto", options: ResolveDeviceOptions = {}): Promise<DeviceChoice> {
  let req: DeviceRequest;
  try {
    req = parseDevice(request);
  } catch (e) {
    return Promise.reject(e);
  }
  const useCache = options.cache !== false && !options.probe;
  if (useCache) {
    const hit = resolved.get(req);
    if (hit) return hit;
  }
  const p = doResolve(req, options);
  if (useCache) {
    resolved.set(req, p);
    p.catch(() => resolved.delete(req));
  }
  return p;
}

async function doResolve(req: DeviceRequest, options: ResolveDeviceOptions): Promise<DeviceChoice> {
  const log = options.log ?? ((line: string) => console.log(line));
  const probe = options.probe ?? probeDevice;
  const order: Device[] = req === "auto" ? ["cuda", "webgpu", "cpu"] : [req];
  const attempts: DeviceAttempt[] = [];
  for (const device of order) {
    try {
      await probe(device);
      attempts.push({ device, ok: true });
      const failed = attempts.filter((a) => !a.ok);
      const summary = req === "auto"
        ? `device: ${device}` + (failed.length ? ` (auto; ${failed.map((a) => `${a.device}: ${a.reason}`).join("; ")})` : " (auto)")
        : `device: ${device}`;
      log(summary);
      return { requested: req, device, executionProviders: executionProvidersFor(device), attempts, summary };
    } catch (e) {
      attempts.push({ device, ok: false, reason: e instanceof Error ? e.message : String(e) });
    }
  }
  const detail = attempts.map((a) => `${a.device}: ${a.reason}`).join("; ");
  throw new RuntimeError("device-unavailable", req === "auto" ? `no device could start: ${detail}` : `--device ${req} cannot start: ${attempts[0].reason}`);
}
