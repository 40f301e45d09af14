// The workflow library: named workflows with tags, and every saved version kept. Each write is
// one SQLite transaction, so a crash or a full disk leaves the previous state whole.
import { randomUUID } from "node:crypto";
import type Database from "better-sqlite3";
import type { Workflow } from "../../nodes/schema.ts";

export interface LibraryEntry {
  id: string;
  name: string;
  tags: string[];
  createdAt: string;
  updatedAt: string;
  version: number;
}

export interface VersionInfo { version: number; createdAt: string; note?: string }

export class SaveFailed extends Error {
  constructor(override readonly cause: unknown) {
    const code = (cause as { code?: string })?.code;
    super(code === "SQLITE_FULL"
      ? "the disk is full: the workflow was not saved (the previous version is intact)"
      : `the workflow was not saved (the previous version is intact): ${(cause as Error)?.message ?? String(cause)}`);
    this.name = "SaveFailed";
  }
}

interface Row { id: string; name: string; tags: string; created_at: string; updated_at: string; current_version: number }

const now = () => new Date().toISOString();
const toEntry = (r: Row): LibraryEntry => ({ id: r.id, name: r.name, tags: JSON.parse(r.tags), createdAt: r.created_at, updatedAt: r.updated_at, version: r.current_version });

export class Library {
  constructor(private readonly db: Database.Database) {}

  private write<T>(fn: () => T): T {
    try {
      return this.db.transaction(fn)();
    } catch (err) {
      throw new SaveFailed(err);
    }
  }

  create(input: { name: string; tags?: string[]; workflow: Workflow; note?: string }): LibraryEntry {
    const id = randomUUID();
    return this.write(() => {
      const t = now();
      this.db.prepare("INSERT INTO workflows (id, name, tags, created_at, updated_at, current_version) VALUES (?, ?, ?, ?, ?, 1)")
        .run(id, input.name, JSON.stringify(input.tags ?? []), t, t);
      this.db.prepare("INSERT INTO workflow_versions (workflow_id, version, content, note, created_at) VALUES (?, 1, ?, ?, ?)")
        .run(id, JSON.stringify({ ...input.workflow, name: input.name }), input.note ?? null, t);
      return this.entry(id)!;
    });
  }

  /** Saves a new version; returns undefined when there is no such workflow. */
  save(id: string, input: { workflow: Workflow; name?: string; tags?: string[]; note?: string }): LibraryEntry | undefined {
    return this.write(() => {
      const row = this.row(id);
      if (!row) return undefined;
      const version = row.current_version + 1;
      const t = now();
      const name = input.name ?? row.name;
      this.db.prepare("INSERT INTO workflow_versions (workflow_id, version, content, note, created_at) VALUES (?, ?, ?, ?, ?)")
        .run(id, version, JSON.stringify({ ...input.workflow, name }), input.note ?? null, t);
      this.db.prepare("UPDATE workflows SET name = ?, tags = ?, updated_at = ?, current_version = ? WHERE id = ?")
        .run(name, JSON.stringify(input.tags ?? JSON.parse(row.tags)), t, version, id);
      return this.entry(id);
    });
  }

  update(id: string, input: { name?: string; tags?: string[] }): LibraryEntry | undefined {
    return this.write(() => {
      const row = this.row(id);
      if (!row) return undefined;
      this.db.prepare("UPDATE workflows SET name = ?, tags = ?, updated_at = ? WHERE id = ?")
        .run(input.name ?? row.name, JSON.stringify(input.tags ?? JSON.parse(row.tags)), now(), id);
      return this.entry(id);
    });
  }

  duplicate(id: string, name?: string): LibraryEntry | undefined {
    const current = this.current(id);
    const entry = this.entry(id);
    if (!current || !entry) return undefined;
    return this.create({ name: name ?? `${entry.name} (copy)`, tags: entry.tags, workflow: current });
  }

  remove(id: string): boolean {
    return this.write(() => this.db.prepare("DELETE FROM workflows WHERE id = ?").run(id).changes > 0);
  }

  restore(id: string, version: number): LibraryEntry | undefined {
    const old = this.version(id, version);
    if (!old) return undefined;
    return this.save(id, { workflow: old, note: `restored from version ${version}` });
  }

  list(filter: { q?: string; tag?: string } = {}): LibraryEntry[] {
    const rows = this.db.prepare("SELECT * FROM workflows ORDER BY updated_at DESC").all() as Row[];
    const q = filter.q?.toLowerCase();
    return rows.map(toEntry).filter((e) =>
      (!q || e.name.toLowerCase().includes(q) || e.tags.some((t) => t.toLowerCase().includes(q))) &&
      (!filter.tag || e.tags.includes(filter.tag)));
  }

  entry(id: string): LibraryEntry | undefined {
    const row = this.row(id);
    return row ? toEntry(row) : undefined;
  }

  current(id: string): Workflow | undefined {
    const row = this.row(id);
    return row ? this.version(id, row.current_version) : undefined;
  }

  version(id: string, version: number): Workflow | undefined {
    const r = this.db.prepare("SELECT content FROM workflow_versions WHERE workflow_id = ? AND version = ?").get(id, version) as { content: string } | undefined;
    return r ? JSON.parse(r.content) : undefined;
  }

  versions(id: string): VersionInfo[] {
    const rows = this.db.prepare("SELECT version, created_at, note FROM workflow_versions WHERE workflow_id = ? ORDER BY version DESC").all(id) as { version: number; created_at: string; note: string | null }[];
    return rows.map((r) => ({ version: r.version, createdAt: r.created_at, ...(r.note ? { note: r.note } : {}) }));
  }

  private row(id: string): Row | undefined {
    return this.db.prepare("SELECT * FROM workflows WHERE id = ?").get(id) as Row | undefined;
  }
}
