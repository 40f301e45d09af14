// `sluice worker` as a real process for tests: started with the tiny pack on the CPU, its output
// kept, stopped (or SIGKILLed) by the test.
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { ROOT, TEST_NODES } from "./harness.ts";

export interface WorkerProcess {
  name: string;
  child: ChildProcess;
  output(): string;
  /** Ends it with SIGTERM (a clean close) and waits. */
  stop(): Promise<void>;
  /** Ends it with SIGKILL, as the OOM killer would, and waits. */
  kill(): Promise<void>;
}

export async function startWorker(redisUrl: string, name: string, options: { models?: string; lockMs?: number; stalledMs?: number; maxStalled?: number; extra?: string[] } = {}): Promise<WorkerProcess> {
  const args = [
    "--import", "tsx", join(ROOT, "server", "cli.ts"), "worker", "--redis", redisUrl, "--name", name,
    "--models", options.models ?? join(ROOT, "models"), "--device", "cpu", "--nodes", TEST_NODES,
    "--lock-ms", String(options.lockMs ?? 4000), "--stalled-ms", String(options.stalledMs ?? 1000),
    ...(options.maxStalled !== undefined ? ["--max-stalled", String(options.maxStalled)] : []),
    ...(options.extra ?? []),
  ];
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const ended = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker ${name} did not start:\n${output}`)), 60000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("takes prompts from")) { clearTimeout(timer); resolve(); }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code, signal) => { clearTimeout(timer); reject(new Error(`worker ${name} exited (${signal ?? code}) before it was ready:\n${output}`)); });
  });
  const end = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await ended;
  };
  return { name, child, output: () => output, stop: () => end("SIGTERM"), kill: () => end("SIGKILL") };
}
