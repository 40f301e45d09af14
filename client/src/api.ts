// The HTTP API of the server (same origin, under /api). Only this file knows the URLs.
import type { ExecutionError, NodeErrors, NodeSpec, OutputImage, PromptStatus, Workflow } from "../../nodes/schema.ts";

export class ApiError extends Error {
  constructor(message: string, readonly status: number, readonly body: unknown) {
    super(message);
  }
}

/**
 * The studio's token, when it needs one: read once from the address the server printed
 * (`?token=…`), kept for this tab in sessionStorage, and removed from the address bar so it is not
 * bookmarked or shared. The server also keeps it in a cookie, which images and socket.io carry.
 */
export const studioToken: string | undefined = (() => {
  const key = "sluice.token";
  try {
    const url = new URL(window.location.href);
    const fromUrl = url.searchParams.get("token");
    if (fromUrl) {
      sessionStorage.setItem(key, fromUrl);
      url.searchParams.delete("token");
      window.history.replaceState(window.history.state, "", url.pathname + url.search + url.hash);
    }
    return fromUrl ?? sessionStorage.getItem(key) ?? undefined;
  } catch {
    return undefined;
  }
})();

/** Headers that carry the token (none when the studio needs none). */
export function authHeaders(): Record<string, string> {
  return studioToken ? { authorization: `Bearer ${studioToken}` } : {};
}

async function request<T>(method: string, path: string, body?: unknown, init?: RequestInit): Promise<T> {
  const headers: Record<string, string> = authHeaders();
  let payload: BodyInit | undefined;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers["content-type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const res = await fetch(`/api${path}`, { method, headers, body: payload, ...init });
  const text = await res.text();
  let data: unknown = undefined;
  if (text) {
    try { data = JSON.parse(text); } catch { data = text; }
  }
  if (!res.ok) {
    const msg = (data && typeof data === "object" && "error" in data && typeof (data as { error: unknown }).error === "string")
      ? (data as { error: string }).error
      : `${method} /api${path}: ${res.status} ${res.statusText}`;
    throw new ApiError(msg, res.status, data);
  }
  return data as T;
}

export interface TemplateInfo { id: string; name: string; description?: string }
export interface QueueSummary { promptId: string; status: PromptStatus | string; createdAt: string | number; name?: string }
export interface QueueState { running: QueueSummary[]; waiting: QueueSummary[]; pending: QueueSummary[] }
export interface HistoryEntry {
  promptId: string;
  status: PromptStatus | string;
  createdAt: string | number;
  finishedAt?: string | number;
  outputs: Record<string, { images?: OutputImage[] }>;
  executed: string[];
  cached: string[];
  error?: ExecutionError;
  workflow?: Workflow;
}
export interface SystemInfo {
  device: string;
  /** Why this device (and why not the others), when the server says. */
  deviceNote?: string;
  versions: Record<string, string>;
  memory: { rss: number; heapUsed: number; systemTotal: number; systemFree: number };
  packs: { name: string; stages: string[]; assumptions: string[] }[];
  /** Bytes a prompt may use, when the server reports it. */
  memoryBudget?: number;
}
export interface GalleryItem {
  promptId: string; file: string; width?: number; height?: number; seed?: string; prompt: string; pack?: string;
  createdAt: string; finishedAt?: string;
}
export interface PackInfo { name: string; title: string; stages: string[]; native?: { width: number; height: number; compression: number; dynamic: boolean } }
export type PromptAnswer = { promptId: string; skipped?: { node: string; type: string; reason: string }[] };
export interface PromptRejection { error: string; nodeErrors?: NodeErrors }

export interface LibraryEntry { id: string; name: string; tags: string[]; createdAt: string; updatedAt: string; version: number }
export interface VersionInfo { version: number; createdAt: string; note?: string }

export const api = {
  nodes: () => request<NodeSpec[]>("GET", "/nodes"),
  templates: () => request<TemplateInfo[]>("GET", "/templates"),
  template: (id: string) => request<Workflow>("GET", `/templates/${encodeURIComponent(id)}`),
  prompt: (workflow: Workflow, clientId?: string, opts?: { front?: boolean }) =>
    request<PromptAnswer>("POST", "/prompt", { workflow, ...(clientId ? { clientId } : {}), ...(opts?.front ? { front: true } : {}) }),
  queue: () => request<QueueState>("GET", "/queue"),
  cancel: (promptId: string) => request<unknown>("DELETE", `/queue/${encodeURIComponent(promptId)}`),
  clearQueue: () => request<unknown>("DELETE", "/queue"),
  interrupt: (promptId?: string) => request<unknown>("POST", "/interrupt", promptId ? { promptId } : {}),
  history: (limit = 60) => request<HistoryEntry[]>("GET", `/history?limit=${limit}`),
  historyEntry: (promptId: string) => request<HistoryEntry>("GET", `/history/${encodeURIComponent(promptId)}`),
  system: () => request<SystemInfo>("GET", "/system"),
  packs: () => request<PackInfo[]>("GET", "/packs"),
  gallery: (f: { q?: string; pack?: string } = {}) =>
    request<GalleryItem[]>("GET", `/gallery?${new URLSearchParams({ ...(f.q ? { q: f.q } : {}), ...(f.pack ? { pack: f.pack } : {}) })}`),
  galleryDelete: (promptId: string) => request<unknown>("DELETE", `/gallery/${encodeURIComponent(promptId)}`),
  gate: (promptId: string, nodeId: string, action: "continue" | "reroll" | "cancel", value?: unknown) =>
    request<unknown>("POST", `/prompt/${encodeURIComponent(promptId)}/gate/${encodeURIComponent(nodeId)}`, { action, ...(value !== undefined ? { value } : {}) }),
  library: (q?: string) => request<LibraryEntry[]>("GET", `/workflows${q ? `?q=${encodeURIComponent(q)}` : ""}`),
  libraryGet: (id: string) => request<LibraryEntry & { workflow: Workflow }>("GET", `/workflows/${encodeURIComponent(id)}`),
  libraryCreate: (body: { name?: string; tags?: string[]; workflow: Workflow; note?: string }) => request<LibraryEntry>("POST", "/workflows", body),
  librarySave: (id: string, body: { name?: string; tags?: string[]; workflow: Workflow; note?: string }) => request<LibraryEntry>("PUT", `/workflows/${encodeURIComponent(id)}`, body),
  libraryPatch: (id: string, body: { name?: string; tags?: string[] }) => request<LibraryEntry>("PATCH", `/workflows/${encodeURIComponent(id)}`, body),
  libraryDelete: (id: string) => request<unknown>("DELETE", `/workflows/${encodeURIComponent(id)}`),
  libraryDuplicate: (id: string, name?: string) => request<LibraryEntry>("POST", `/workflows/${encodeURIComponent(id)}/duplicate`, name ? { name } : {}),
  libraryVersions: (id: string) => request<VersionInfo[]>("GET", `/workflows/${encodeURIComponent(id)}/versions`),
  libraryVersion: (id: string, v: number) => request<Workflow>("GET", `/workflows/${encodeURIComponent(id)}/versions/${v}`),
  libraryRestore: (id: string, v: number) => request<LibraryEntry>("POST", `/workflows/${encodeURIComponent(id)}/versions/${v}/restore`),
  importWorkflow: (body: unknown) => request<{ workflow: Workflow; warnings: string[] }>("POST", "/workflows/import", body),
  finishNow: (promptId: string, nodeId: string) => request<unknown>("POST", `/prompt/${encodeURIComponent(promptId)}/finish/${encodeURIComponent(nodeId)}`, {}),
  upload: (file: Blob, name = "image.png") => {
    const form = new FormData();
    form.append("image", file, name);
    return request<{ name: string }>("POST", "/upload", form);
  },
};

export function viewUrl(file: string): string {
  return `/api/view?file=${encodeURIComponent(file)}`;
}
