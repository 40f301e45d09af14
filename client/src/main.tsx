import { createRoot } from "react-dom/client";
import type { Workflow } from "../../nodes/schema.ts";
import "@xyflow/react/dist/base.css";
import "./styles.css";
import { DEFAULT_TEMPLATE, loadTemplate, restoreSaved, startAutosave } from "./actions.ts";
import { api } from "./api.ts";
import { App } from "./App.tsx";
import { connectSocket, restoreGates } from "./socket.ts";
import { useGraph } from "./store/graph.ts";
import { useRun } from "./store/run.ts";
import { useUi } from "./store/ui.ts";
import { usePacks } from "./store/packs.ts";

declare global {
  interface Window {
    /** Hooks for browser tests and the console: load a workflow, read the current one. */
    __sluice?: { ready: boolean; load(wf: Workflow): void; workflow(): Workflow };
  }
}

window.__sluice = {
  ready: false,
  load: (wf) => useGraph.getState().load(wf, { record: true }),
  workflow: () => useGraph.getState().workflow(),
};

async function boot() {
  connectSocket();
  void usePacks.getState().refresh();
  try {
    useGraph.getState().setCatalog(await api.nodes());
  } catch (e) {
    useUi.getState().setBanner(`Cannot load the node catalog from the server: ${(e as Error).message}. Retrying when it is reachable…`);
    window.__sluice!.ready = true;
    // Recover without a reload: once the socket connects, load what the first try missed.
    const unsubscribe = useRun.subscribe((s) => {
      if (!s.connected) return;
      unsubscribe();
      useUi.getState().setBanner(null);
      void boot();
    });
    return;
  }
  const saved = restoreSaved();
  if (saved) useGraph.getState().load(saved.workflow, { library: saved.library, tidy: false });
  else if (!(await loadTemplate(DEFAULT_TEMPLATE, { record: false, quiet: true }))) {
    useUi.getState().setEmptyHint(`The "${DEFAULT_TEMPLATE}" template is not available on this server yet.`);
  }
  startAutosave();
  let serial = useGraph.getState().workflowSerial;
  useGraph.subscribe((s) => {
    if (s.workflowSerial === serial) return;
    serial = s.workflowSerial;
    useRun.getState().clearNodes();
  });
  window.__sluice!.ready = true;
  void restoreGates();
}

createRoot(document.getElementById("root")!).render(<App />);
void boot();
