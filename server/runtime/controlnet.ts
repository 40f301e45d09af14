// ControlNets of a pack: found under controlnet/<name>/model.onnx (or named by the manifest), each a
// model from a control image [B, channels, H, W] to one feature map per control input of the prior
// (control_0, control_1, ...). The prior takes them as extra inputs, fed zeros when no ControlNet is
// applied, so a prior exported without them (a bare public export) still loads: it has none.
import fs from "node:fs";
import path from "node:path";
import { RuntimeError } from "./errors.ts";
import { type ControlFilter, type ControlNetEntry } from "./manifest.ts";
import { type ModelSignature, readModelSignature } from "./onnx-proto.ts";

export const CONTROLNET_DIR = "controlnet";

/** The filter a ControlNet folder's name suggests (the official files are canny, inpainting, super_resolution). */
export function filterFromName(name: string): ControlFilter | undefined {
  const n = name.toLowerCase();
  if (n.includes("canny")) return "canny";
  if (n.includes("inpaint")) return "inpaint";
  if (n.includes("super") || n === "sr" || n.includes("upscale")) return "super_resolution";
  return undefined;
}

const FILTER_CHANNELS: Record<ControlFilter, number> = { canny: 1, inpaint: 4, super_resolution: 3 };

/**
 * The pack's ControlNets: the manifest's entries, plus every controlnet/<name>/model.onnx it does
 * not list (filter from the folder's name, channels from the model's input). Returns what was
 * assumed, in words.
 */
export function discoverControlNets(dir: string, given: Record<string, ControlNetEntry>): { entries: Record<string, ControlNetEntry>; assumptions: string[] } {
  const entries: Record<string, ControlNetEntry> = { ...given };
  const assumptions: string[] = [];
  const root = path.join(dir, CONTROLNET_DIR);
  if (!fs.existsSync(root)) return { entries, assumptions };
  for (const d of fs.readdirSync(root, { withFileTypes: true })) {
    if (!d.isDirectory() || entries[d.name]) continue;
    const file = `${CONTROLNET_DIR}/${d.name}/model.onnx`;
    if (!fs.existsSync(path.join(dir, file))) continue;
    const filter = filterFromName(d.name);
    if (!filter) {
      assumptions.push(`${file}: skipped, its folder's name says no filter (name it canny, inpaint or super_resolution, or list it in manifest.json)`);
      continue;
    }
    let sig: ModelSignature | undefined;
    try {
      sig = readModelSignature(path.join(dir, file));
    } catch {
      // a corrupt file is reported when the ControlNet is used
    }
    const declared = sig?.inputs[0]?.shape?.[1];
    const channels = typeof declared === "number" && declared > 0 ? declared : FILTER_CHANNELS[filter];
    entries[d.name] = { file, filter, channels };
    assumptions.push(`${file}: a ${filter} ControlNet (from its folder's name), ${channels} channel${channels > 1 ? "s" : ""}`);
  }
  return { entries, assumptions };
}

/** Checks a ControlNet model's signature against the prior's control inputs. */
export function checkControlNetSignature(label: string, sig: { inputs: readonly { name: string; shape: readonly (number | string | null)[] | null }[]; outputs: readonly { name: string }[] }, entry: ControlNetEntry, controlInputs: readonly string[]): void {
  if (sig.inputs.length !== 1) {
    throw new RuntimeError("bad-input", `${label}: a ControlNet takes one input (the control image), this model has ${sig.inputs.length} (${sig.inputs.map((i) => i.name).join(", ")})`, { file: label });
  }
  const ch = sig.inputs[0].shape?.[1];
  if (typeof ch === "number" && ch > 0 && ch !== entry.channels) {
    throw new RuntimeError("bad-input", `${label}: input '${sig.inputs[0].name}' has ${ch} channels, the manifest says ${entry.channels}`, { file: label, tensor: sig.inputs[0].name });
  }
  const missing = controlInputs.filter((n) => !sig.outputs.some((o) => o.name === n));
  if (missing.length) {
    throw new RuntimeError("bad-input", `${label}: outputs ${missing.map((n) => `'${n}'`).join(", ")} missing: the prior takes ${controlInputs.join(", ")} (model has: ${sig.outputs.map((o) => o.name).join(", ")})`, { file: label, tensor: missing[0] });
  }
}
