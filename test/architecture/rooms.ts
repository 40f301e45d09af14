// The rooms of the code and the arrows allowed between them (docs/architecture.md), and the check
// that every import keeps to them. Pure: it takes the sources as a map of repository-relative path
// → text, so a test can hand it a fixture; readSourceTree reads the real one.
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import ts from "typescript";

export type Room =
  | "vocabulary" | "node families"
  | "engine" | "diffusion" | "runtime" | "media" | "executor" | "store" | "import" | "api" | "cli"
  | "client";

/**
 * The vocabulary: what server and client both compile against. Every other file of nodes/ is a
 * node family. These files import nothing but each other (and zod).
 */
export const VOCABULARY_FILES: readonly string[] = [
  "nodes/schema.ts", "nodes/sockets.ts", "nodes/format.ts", "nodes/seed.ts", "nodes/events.ts", "nodes/memory.ts",
];

/**
 * The arrows: which rooms a room's files may import, besides its own. This is the one list the
 * check holds the code to; docs/architecture.md explains each arrow.
 */
export const ALLOWED_ARROWS: Readonly<Record<Room, readonly Room[]>> = {
  "vocabulary": [],
  "node families": ["vocabulary", "diffusion", "runtime", "media"],
  "engine": ["vocabulary"],
  "diffusion": [],
  "runtime": ["vocabulary"],
  "media": ["vocabulary"],
  "executor": ["vocabulary", "node families", "engine", "runtime", "diffusion", "media", "store"],
  "store": ["vocabulary"],
  "import": ["vocabulary", "engine", "media"],
  "api": ["vocabulary", "node families", "engine", "store", "executor", "import", "media", "runtime"],
  "cli": ["vocabulary", "node families", "engine", "executor", "runtime", "store", "import", "media", "api"],
  "client": ["vocabulary"],
};

/**
 * Imports that run the wrong way today and are being moved: the image-file helpers (PNG chunks,
 * paths kept inside a folder) leave the image node family for server/media, and HttpError leaves
 * app.ts for its own module. Each entry is "from → to"; an entry that no longer matches an import
 * fails the check, so the list only shrinks.
 */
export const KNOWN_EXCEPTIONS: readonly string[] = [];

const SERVER_ROOMS: readonly Room[] = ["engine", "diffusion", "runtime", "media", "executor", "store", "import", "api"];

/** The room of a repository-relative path, or undefined for files outside the rooms (tests, benches, tools). */
export function roomOf(file: string): Room | undefined {
  if (VOCABULARY_FILES.includes(file)) return "vocabulary";
  if (file.startsWith("nodes/")) return "node families";
  if (file === "server/cli.ts") return "cli";
  for (const room of SERVER_ROOMS) if (file.startsWith(`server/${room}/`)) return room;
  if (file.startsWith("client/")) return "client";
  return undefined;
}

const CODE = /\.(ts|tsx|mts|mjs|js)$/;

/**
 * The repository files a file imports: static imports and re-exports (type-only ones too, the
 * arrows are about what a file knows), dynamic import(...) and require(...). Package imports and
 * files not in `files` (styles, assets) are left out.
 */
export function importsOf(file: string, source: string, files: ReadonlyMap<string, string>): string[] {
  const info = ts.preProcessFile(source, true, true);
  const out: string[] = [];
  for (const { fileName } of info.importedFiles) {
    if (!fileName.startsWith(".")) continue;
    const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), fileName));
    for (const candidate of [target, `${target}.ts`, `${target}.tsx`, `${target}/index.ts`]) {
      if (files.has(candidate)) { out.push(candidate); break; }
    }
  }
  return out;
}

export interface ArchitectureReport {
  /** Imports whose arrow is not allowed: "from → to (room → room)". */
  wrongWay: string[];
  /** Cycles between rooms, each as "room → room → … → room". */
  cycles: string[];
  /** Known exceptions that no longer match an import (the move is done: delete the entry). */
  staleExceptions: string[];
}

/** Checks every import of every code file in `files` against ALLOWED_ARROWS; the rooms' graph must have no cycle. */
export function checkArrows(files: ReadonlyMap<string, string>, exceptions: readonly string[] = KNOWN_EXCEPTIONS): ArchitectureReport {
  const wrongWay: string[] = [];
  const used = new Set<string>();
  const roomGraph = new Map<Room, Set<Room>>();
  for (const [file, source] of files) {
    const from = roomOf(file);
    if (!from || !CODE.test(file)) continue;
    for (const target of importsOf(file, source, files)) {
      const to = roomOf(target);
      if (!to || to === from) continue;
      const edge = `${file} → ${target}`;
      if (exceptions.includes(edge)) { used.add(edge); continue; }
      if (!roomGraph.has(from)) roomGraph.set(from, new Set());
      roomGraph.get(from)!.add(to);
      if (!ALLOWED_ARROWS[from].includes(to)) wrongWay.push(`${edge} (${from} → ${to})`);
    }
  }
  return {
    wrongWay: wrongWay.sort(),
    cycles: roomCycles(roomGraph),
    staleExceptions: exceptions.filter((e) => !used.has(e)),
  };
}

/** One cycle per strongly connected group of rooms that import each other, written as a path. */
function roomCycles(graph: ReadonlyMap<Room, ReadonlySet<Room>>): string[] {
  const cycles: string[] = [];
  const done = new Set<Room>();
  for (const start of graph.keys()) {
    // Depth-first search for a path from start back to start through rooms not yet reported.
    const stack: Room[] = [start];
    const seen = new Set<Room>();
    const walk = (room: Room): boolean => {
      for (const next of graph.get(room) ?? []) {
        if (next === start) { cycles.push([...stack, start].join(" → ")); return true; }
        if (seen.has(next) || done.has(next)) continue;
        seen.add(next);
        stack.push(next);
        if (walk(next)) return true;
        stack.pop();
      }
      return false;
    };
    walk(start);
    done.add(start);
  }
  return cycles;
}

/** Every file reached from `entry` by following imports (static, dynamic, type-only). */
export function importClosure(entry: string, files: ReadonlyMap<string, string>): Set<string> {
  const reached = new Set<string>([entry]);
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop()!;
    const source = files.get(file);
    if (source === undefined || !CODE.test(file)) continue;
    for (const target of importsOf(file, source, files)) {
      if (!reached.has(target)) { reached.add(target); queue.push(target); }
    }
  }
  return reached;
}

/** The client bundle's entry. */
export const CLIENT_ENTRY = "client/src/main.tsx";

/** Server files the client bundle reaches: it must reach none. */
export function serverFilesReachedByClient(files: ReadonlyMap<string, string>, entry = CLIENT_ENTRY): string[] {
  const reached = importClosure(entry, files);
  return [...reached].filter((f) => f.startsWith("server/")).sort();
}

const SOURCE_FOLDERS = ["nodes", "server", "client", "test", "bench", "tools", "bin"];
const SKIP = new Set(["node_modules", "dist", "build", ".git"]);

/** The repository's .ts, .tsx and .mjs files under the source folders, by repository-relative path. */
export function readSourceTree(root: string): Map<string, string> {
  const files = new Map<string, string>();
  const visit = (dir: string) => {
    for (const name of readdirSync(dir)) {
      if (SKIP.has(name)) continue;
      const full = path.join(dir, name);
      if (statSync(full).isDirectory()) visit(full);
      else if (/\.(ts|tsx|mjs)$/.test(name)) files.set(path.relative(root, full).split(path.sep).join("/"), readFileSync(full, "utf8"));
    }
  };
  for (const folder of SOURCE_FOLDERS) {
    try {
      if (statSync(path.join(root, folder)).isDirectory()) visit(path.join(root, folder));
    } catch {
      /* a folder this checkout lacks */
    }
  }
  return files;
}
