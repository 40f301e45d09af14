// The server's packs (GET /api/packs) and memory budget (GET /api/system, when it reports one):
// size presets, size warnings and the defaults of new nodes follow the pack in use.
import { create } from "zustand";
import { api, type PackInfo } from "../api.ts";
import type { PackSize } from "../graph/sizes.ts";

interface PacksState {
  packs: PackInfo[];
  memoryBudget?: number;
  refresh(): Promise<void>;
}

export const usePacks = create<PacksState>((set) => ({
  packs: [],
  async refresh() {
    try { set({ packs: await api.packs() }); } catch { /* unreachable: keep what we had */ }
    try {
      const s = await api.system();
      if (typeof s.memoryBudget === "number") set({ memoryBudget: s.memoryBudget });
    } catch { /* idem */ }
  },
}));

/** The pack named, else the first listed that says its size. */
export function packSize(packs: PackInfo[], name: string | undefined): (PackSize & { name: string }) | undefined {
  const p = (name ? packs.find((x) => x.name === name) : undefined) ?? packs.find((x) => x.native);
  return p?.native ? { ...p.native, name: p.name } : undefined;
}
