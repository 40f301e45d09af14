// One executor child process as the server sees it: started with an IPC channel, its messages
// handed on one by one, and its end described (who ended it, the signal or exit code, the error it
// reported). The dispatcher decides what a death means for the prompts and starts the next one.
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { ExecutorOptions, FromExecutor, ToExecutor } from "./protocol.ts";

export interface ExecutorExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the server ended the process itself. */
  endedBy?: "cancel" | "shutdown";
  /** The error the process reported just before it exited. */
  fatal?: string;
  /** Whether it had said it was ready. */
  wasReady: boolean;
}

export interface ExecutorHandlers {
  ready(info: { device: string; deviceNote: string }): void;
  message(msg: Exclude<FromExecutor, { type: "batch" | "ready" | "fatal" }>): void;
  exit(exit: ExecutorExit): void;
}

/**
 * Where the executor's code is. Compiled, every entry point lies in one folder (dist/), this
 * module's code included; from source, the TypeScript file runs through tsx.
 */
export function executorEntry(): { file: string; execArgv: string[] } {
  if (!import.meta.url.endsWith(".ts")) return { file: fileURLToPath(new URL("./executor.js", import.meta.url)), execArgv: process.execArgv };
  return { file: fileURLToPath(new URL("./executor-process.ts", import.meta.url)), execArgv: ["--import", import.meta.resolve("tsx")] };
}

/**
 * glibc's malloc serves a freed block of up to 32 MB from its heap afterwards and keeps the memory:
 * a released multi-GB session stayed in the executor's RSS, and the next stage's load came on top
 * (two prompts of the lite pack at 1024² under a 6.3 GB budget peaked at 8.4 GB; with this, 6.9 GB,
 * and the process fell from 5.8 to 2.4 GB once Stage B was released). A fixed threshold puts every
 * block of 1 MB or more in its own mapping, returned when freed. A value set by the user is kept.
 */
const MALLOC_ENV = { MALLOC_MMAP_THRESHOLD_: process.env.MALLOC_MMAP_THRESHOLD_ ?? String(1024 * 1024) };

export class ExecutorChild {
  private readonly child: ChildProcess;
  private endedBy?: ExecutorExit["endedBy"];
  private fatal?: string;
  private isReady = false;
  private exited = false;
  private readonly exitPromise: Promise<void>;

  constructor(options: ExecutorOptions, private readonly handlers: ExecutorHandlers) {
    const entry = executorEntry();
    this.child = fork(entry.file, [], {
      execArgv: entry.execArgv,
      // Typed arrays (previews, gate pictures) travel as binary rather than as JSON.
      serialization: "advanced",
      env: { ...process.env, ...MALLOC_ENV, SLUICE_EXECUTOR_OPTIONS: JSON.stringify(options) },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    this.child.on("message", (msg: FromExecutor) => this.receive(msg));
    // A failed send (the channel closed as the process died) is answered by the exit below.
    this.child.on("error", () => {});
    this.exitPromise = new Promise((resolve) => {
      this.child.once("exit", (code, signal) => {
        this.exited = true;
        resolve();
        handlers.exit({ code, signal, endedBy: this.endedBy, fatal: this.fatal, wasReady: this.isReady });
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get ready(): boolean {
    return this.isReady;
  }

  send(msg: ToExecutor): void {
    if (this.exited || !this.child.connected) return;
    this.child.send(msg);
  }

  /** Ends the process at once (SIGKILL): a native call that does not return cannot be asked to stop. */
  kill(by: "cancel" | "shutdown"): void {
    if (this.exited) return;
    this.endedBy ??= by;
    this.child.kill("SIGKILL");
  }

  /** Asks the process to release its sessions and exit; kills it when it has not within `graceMs`. */
  async shutdown(graceMs = 3000): Promise<void> {
    if (this.exited) return;
    this.endedBy ??= "shutdown";
    this.send({ type: "shutdown" });
    const timer = setTimeout(() => this.kill("shutdown"), graceMs);
    await this.exitPromise;
    clearTimeout(timer);
  }

  private receive(msg: FromExecutor): void {
    switch (msg.type) {
      case "batch":
        for (const m of msg.messages) this.receive(m);
        break;
      case "ready":
        this.isReady = true;
        this.handlers.ready(msg);
        break;
      case "fatal":
        this.fatal = msg.message;
        break;
      default:
        this.handlers.message(msg);
    }
  }
}

/** The cause of an executor's end, as a person reads it ("the executor was killed (SIGKILL, likely out of memory)"). */
export function describeExit(exit: ExecutorExit): string {
  if (exit.endedBy === "cancel") return "the executor did not stop when cancelled, so it was ended and restarted";
  if (exit.fatal) return `the executor stopped on an error (${exit.fatal})`;
  if (exit.signal === "SIGKILL") return "the executor was killed (SIGKILL, likely out of memory)";
  if (exit.signal) return `the executor crashed (${exit.signal})`;
  return `the executor exited unexpectedly (exit code ${exit.code})`;
}
