// Paths kept inside their folder: a name from a request or a workflow resolves inside one root,
// and the file it names is read only when neither it nor a folder on the way is a symbolic link
// leading elsewhere (a link placed in outputs/ or uploads/ must not expose the rest of the disk).
import { constants, fstatSync, lstatSync, openSync, closeSync, realpathSync } from "node:fs";
import { resolve, sep } from "node:path";

/** A name that leaves its folder, or a file reached through a symbolic link. */
export class PathRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PathRefused";
  }
}

/** Resolves a name inside a folder, refusing anything that would escape it (pure: no disk access). */
export function resolveInside(root: string, name: string): string {
  const base = resolve(root);
  if (name.includes("\0")) throw new PathRefused(`"${name.replace(/\0/g, "\\0")}" contains a NUL character`);
  const full = resolve(base, name);
  if (full !== base && !full.startsWith(base + sep)) throw new PathRefused(`"${name}" is outside the allowed folder`);
  return full;
}

/**
 * The path of an existing regular file named `name` inside `root`, or undefined when there is none.
 * Throws PathRefused when the name escapes the folder or the file (or a folder on the way) is a
 * symbolic link whose target lies outside the root.
 */
export function existingFileInside(root: string, name: string): string | undefined {
  const path = resolveInside(root, name);
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return undefined;
  }
  if (st.isSymbolicLink()) throw new PathRefused(`"${name}" is a symbolic link; links are not followed`);
  if (!st.isFile()) return undefined;
  const realRoot = realpathSync(root);
  const real = realpathSync(path);
  if (!real.startsWith(realRoot + sep)) throw new PathRefused(`"${name}" lies in a linked folder outside the allowed folder`);
  return path;
}

/**
 * Opens a file found by existingFileInside for reading without following a link at its last
 * component (O_NOFOLLOW), so a link swapped in after the check is refused too. Returns the fd.
 */
export function openNoFollow(path: string): number {
  const fd = openSync(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
  try {
    if (!fstatSync(fd).isFile()) throw new PathRefused(`"${path}" is not a regular file`);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return fd;
}
