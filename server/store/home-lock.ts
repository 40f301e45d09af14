// One server per data folder. Two servers on one folder would each take the other's running
// prompts for leftovers of a crash and run each other's queue, so a server holds a lock file in
// the folder while it runs: created atomically (O_EXCL) with its pid inside, removed when it stops.
// A lock whose pid is no longer alive was left by a server that died; the next one takes it over.
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";

export const LOCK_FILE = "sluice.lock";

export class HomeLockedError extends Error {
  constructor(readonly home: string, readonly pid: number) {
    super(`another Sluice server (pid ${pid}) is using the data folder ${home}; stop it first, or give this one another --home`);
    this.name = "HomeLockedError";
  }
}

export interface HomeLock {
  readonly path: string;
  /** Removes the lock (only while it still holds this process's pid). */
  release(): void;
}

/** Takes the data folder's lock, or throws HomeLockedError naming the server that holds it. */
export function lockHome(home: string): HomeLock {
  mkdirSync(home, { recursive: true });
  const path = join(home, LOCK_FILE);
  // Two tries: the second after removing a stale lock (another starter may win that race; then it holds the lock).
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, "wx");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const holder = readPid(path);
      if (holder !== undefined && alive(holder)) throw new HomeLockedError(home, holder);
      rmSync(path, { force: true });
      continue;
    }
    try {
      writeSync(fd, `${process.pid}\n`);
    } finally {
      closeSync(fd);
    }
    return {
      path,
      release() {
        if (readPid(path) === process.pid) rmSync(path, { force: true });
      },
    };
  }
  const holder = readPid(path);
  throw new HomeLockedError(home, holder ?? -1);
}

/** The pid in a lock file; undefined when the file is gone or holds no pid (a stale, half-written lock). */
function readPid(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
