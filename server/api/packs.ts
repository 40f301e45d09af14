// Packs as the API shows them. Scanning is cheap (folder listing); sessions load in the worker.
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const STAGE_FOLDERS = ["text_encoder", "prior", "decoder", "vae_decoder", "effnet", "vae_encoder", "previewer"];

export function packOptions(modelsDir: string): string[] {
  if (!existsSync(modelsDir)) return [];
  const names = readdirSync(modelsDir).filter((name) => {
    const dir = join(modelsDir, name);
    return statSync(dir).isDirectory() && STAGE_FOLDERS.some((s) => existsSync(join(dir, s, "model.onnx")));
  });
  return names.sort((a, b) => (a === "tiny" ? -1 : b === "tiny" ? 1 : a.localeCompare(b)));
}

export function listPackInfo(modelsDir: string): { name: string; stages: string[] }[] {
  return packOptions(modelsDir).map((name) => ({
    name,
    stages: STAGE_FOLDERS.filter((s) => existsSync(join(modelsDir, name, s, "model.onnx"))),
  }));
}
