// Writing files so that a full or read-only disk leaves nothing half-written: the bytes go to a
// temporary name in the same folder and are renamed over the final name only once all of them are
// on disk. A failure removes the temporary file and is thrown as a StorageError that says what
// happened in words (the API answers 507 for a full disk).
import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { randomBytes } from "node:crypto";

const FULL = new Set(["ENOSPC", "EDQUOT"]);
const READ_ONLY = new Set(["EROFS", "EACCES", "EPERM"]);

/** A write that failed for a reason of the disk (full, read-only, no permission). */
export class StorageError extends Error {
  constructor(message: string, readonly code: string, readonly full: boolean) {
    super(message);
    this.name = "StorageError";
  }
}

/** The StorageError for a failed write of `path`, or the error itself when the disk is not the cause. */
export function storageError(err: unknown, path: string): unknown {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code && FULL.has(code)) return new StorageError(`no space left on the disk while writing ${basename(path)} (${code}); free some space in ${dirname(path)}`, code, true);
  if (code && READ_ONLY.has(code)) return new StorageError(`cannot write ${basename(path)}: ${dirname(path)} is not writable (${code})`, code, false);
  return err;
}

/** Writes `data` to `path` through a temporary file and a rename; creates the folder when missing. */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${randomBytes(4).toString("hex")}.part`);
  try {
    try {
      writeFileSync(temp, data, { flag: "wx" });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      mkdirSync(dir, { recursive: true });
      writeFileSync(temp, data, { flag: "wx" });
    }
    renameSync(temp, path);
  } catch (err) {
    try { rmSync(temp, { force: true }); } catch { /* the folder refuses even that: nothing was written */ }
    throw storageError(err, path);
  }
}
