// The ComfyUI importer: both of ComfyUI's formats (fixtures written from COMFYUI.md) onto Sluice's
// nodes, exact 64-bit seeds, positions and groups, and warnings that name every node not carried over.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { WORKFLOW_VERSION, type WorkflowNode } from "../../nodes/schema.ts";
import { importComfyUi, ImportError, importJsonText, mapSamplerName, parseJsonKeepingBigInts, type ImportContext } from "../../server/import/index.ts";

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "comfyui");
const UI_TEXT = readFileSync(join(FIXTURES, "cascade-text-to-image.workflow.json"), "utf8");
const API_TEXT = readFileSync(join(FIXTURES, "cascade-text-to-image.prompt.json"), "utf8");
const CTX: ImportContext = { packs: ["tiny", "random"], defaultPack: "tiny" };
const MAX_SEED = "18446744073709551615";

const ui = () => importJsonText(UI_TEXT, CTX);
const api = () => importJsonText(API_TEXT, CTX);
const node = (nodes: WorkflowNode[], id: string) => {
  const n = nodes.find((x) => x.id === id);
  assert.ok(n, `node ${id} is in the result`);
  return n;
};
const warningsAbout = (warnings: string[], id: string) => warnings.filter((w) => w.startsWith(`node ${id} `));

/** A small API prompt: the cascade's Stage C half, with overrides per node. */
function stageCPrompt(overrides: Record<string, Record<string, unknown>> = {}) {
  const prompt: Record<string, { class_type: string; inputs: Record<string, unknown> }> = {
    "1": { class_type: "CheckpointLoaderSimple", inputs: { ckpt_name: "stable_cascade_stage_c.safetensors" } },
    "2": { class_type: "CLIPTextEncode", inputs: { text: "a cat", clip: ["1", 1] } },
    "3": { class_type: "StableCascade_EmptyLatentImage", inputs: { width: 64, height: 64, compression: 8, batch_size: 1 } },
    "4": { class_type: "KSampler", inputs: { seed: 7, steps: 4, cfg: 4, sampler_name: "euler", scheduler: "simple", denoise: 1, model: ["1", 0], positive: ["2", 0], negative: ["2", 0], latent_image: ["3", 0] } },
  };
  for (const [id, o] of Object.entries(overrides)) prompt[id] = { ...prompt[id], ...o } as (typeof prompt)[string];
  return prompt;
}

describe("parseJsonKeepingBigInts", () => {
  it("keeps integers beyond 2^53 as decimal strings and leaves everything else as JSON.parse does", () => {
    const text = '{"seed": 18446744073709551615, "neg": -9007199254740993, "safe": 9007199254740991, "f": 1.5e300, "x": 12345678901234567890.5, "s": "99999999999999999999 [1, 2]", "esc": "a\\"18446744073709551615", "a": [0, -1, 1e2]}';
    assert.deepEqual(parseJsonKeepingBigInts(text), {
      seed: MAX_SEED, neg: "-9007199254740993", safe: 9007199254740991, f: 1.5e300, x: 12345678901234567890.5,
      s: "99999999999999999999 [1, 2]", esc: 'a"18446744073709551615', a: [0, -1, 100],
    });
  });

  it("throws JSON.parse's error on text that is not JSON", () => {
    assert.throws(() => parseJsonKeepingBigInts("{nodes: 18446744073709551615}"), SyntaxError);
  });
});

describe("ComfyUI UI workflow", () => {
  it("maps every Stable Cascade node to its Sluice node type, keeping ComfyUI's ids", () => {
    const { workflow } = ui();
    assert.equal(workflow.format, "sluice.workflow");
    assert.equal(workflow.version, WORKFLOW_VERSION);
    assert.deepEqual(workflow.nodes.map((n) => [n.id, n.type]), [
      ["1", "LoadCascadePack"], ["2", "LoadCascadePack"], ["3", "TextEncode"], ["4", "TextEncode"],
      ["5", "EmptyCascadeLatent"], ["6", "CascadeSampler"], ["7:0", "StageBConditioning"], ["7:1", "CascadeSampler"],
      ["9", "StageADecode"], ["13", "ImageScale"], ["10", "SaveImage"], ["11", "Note"], ["12", "PreviewImage"], ["14", "ImageSaverPro|custom"],
    ]);
    assert.deepEqual(node(workflow.nodes, "5").inputs, { width: 64, height: 64, compression: 8, batch: 1 });
    assert.equal(node(workflow.nodes, "11").inputs.text, "Stage C makes the composition at 1/8 size; Stage B and the VAE add the detail.");
    assert.deepEqual(node(workflow.nodes, "10").inputs, { image: { node: "13", output: "image" }, prefix: "cascade" });
  });

  it("keeps a seed of 2^64−1 to the last digit, with its control after generate", () => {
    const { workflow } = ui();
    const sampler = node(workflow.nodes, "6");
    assert.equal(sampler.inputs.seed, MAX_SEED);
    assert.deepEqual(sampler.ui?.seedControl, { seed: "randomize" });
    const { model: _m, positive: _p, negative: _n, latent: _l, ...literals } = sampler.inputs;
    assert.deepEqual(literals, {
      seed: MAX_SEED, steps: 4, cfg: 4, sampler: "euler_ancestral", shift: 0, denoise: 1,
      start_step: 0, end_step: 10000, add_noise: true, return_leftover_noise: false, cfg_rescale: 0,
    });
  });

  it("maps link slots to output names by role: Stage C and Stage B models, text encoder, Stage A", () => {
    const { workflow } = ui();
    const ins = (id: string) => node(workflow.nodes, id).inputs;
    assert.deepEqual(ins("6").model, { node: "1", output: "stage_c" });
    assert.deepEqual(ins("6").latent, { node: "5", output: "stage_c" });
    assert.deepEqual(ins("7:1").model, { node: "2", output: "stage_b" });
    assert.deepEqual(ins("7:1").latent, { node: "5", output: "stage_b" });
    assert.deepEqual(ins("3").text_encoder, { node: "1", output: "text_encoder" });
    assert.deepEqual(ins("9"), { stage_a: { node: "2", output: "stage_a" }, latent: { node: "7:1", output: "latent" } });
    assert.deepEqual(ins("7:0"), { conditioning: { node: "3", output: "conditioning" }, stage_c: { node: "6", output: "latent" } });
  });

  it("keeps positions, sizes in both of ComfyUI's shapes, titles and groups", () => {
    const { workflow } = ui();
    assert.deepEqual(node(workflow.nodes, "1").ui, { pos: [40, 120], size: [315, 98] });
    assert.deepEqual(node(workflow.nodes, "2").ui, { pos: [40, 520], size: [315, 98] }, "size given as {\"0\": w, \"1\": h}");
    assert.equal(node(workflow.nodes, "3").ui?.title, "Positive prompt");
    assert.equal(node(workflow.nodes, "4").ui?.title, undefined);
    assert.deepEqual(workflow.groups, [
      { title: "Stage C", bounds: [380, -40, 800, 700], color: "#3f789e" },
      { title: "Stage B / A", bounds: [1180, -40, 1360, 420], color: "#a1309b" },
    ]);
  });

  it("expands a group node into its inner nodes, with the instance's widget values and its links rewired", () => {
    const { workflow, warnings } = ui();
    const sampler = node(workflow.nodes, "7:1");
    assert.deepEqual(sampler.inputs.positive, { node: "7:0", output: "conditioning" }, "the link inside the group");
    assert.deepEqual(sampler.inputs.negative, { node: "4", output: "conditioning" }, "a link into the group");
    assert.equal(sampler.inputs.seed, 0, "the instance's values win over the definition's");
    assert.equal(sampler.inputs.steps, 3);
    assert.deepEqual(sampler.ui?.pos, [1520, 40]);
    assert.ok(warnings.includes("node 7 (workflow/Stage B): group node expanded into nodes 7:0, 7:1"));
  });

  it("keeps muted and bypassed nodes with their mode and their links, naming both in warnings", () => {
    const { workflow, warnings } = ui();
    assert.equal(node(workflow.nodes, "12").mode, 2);
    assert.equal(node(workflow.nodes, "13").mode, 4);
    assert.deepEqual(node(workflow.nodes, "13").inputs.image, { node: "9", output: "image" });
    assert.deepEqual(node(workflow.nodes, "10").inputs.image, { node: "13", output: "image" }, "SaveImage still reads the bypassed ImageScale");
    assert.deepEqual(warningsAbout(warnings, "12"), ["node 12 (PreviewImage) is muted in ComfyUI (mode 2): kept muted (it and what needs it do not run)"]);
    assert.deepEqual(warningsAbout(warnings, "13"), ["node 13 (ImageScale) is bypassed in ComfyUI (mode 4): kept bypassed (its inputs pass through to its consumers)"]);
  });

  it("keeps a Reroute between two nodes as a Reroute, linked on both sides", () => {
    const raw = JSON.parse(UI_TEXT);
    raw.nodes.push({ id: 20, type: "Reroute", pos: [1500, 300], mode: 0, inputs: [{ name: "", type: "*", link: 900 }], outputs: [{ name: "", type: "IMAGE", links: [901] }] });
    const save = raw.nodes.find((n: { id: number }) => n.id === 10);
    const oldLink = save.inputs[0].link;
    raw.links = raw.links.filter((l: unknown[]) => l[0] !== oldLink);
    raw.links.push([900, 9, 0, 20, 0, "IMAGE"], [901, 20, 0, 10, 0, "IMAGE"]);
    save.inputs[0].link = 901;
    const { workflow } = importComfyUi(raw, CTX);
    assert.deepEqual(node(workflow.nodes, "20"), { id: "20", type: "Reroute", inputs: { input: { node: "9", output: "image" } }, ui: { pos: [1500, 300] } });
    assert.deepEqual(node(workflow.nodes, "10").inputs.image, { node: "20", output: "output" });
  });

  it("keeps an unknown custom node as a placeholder and names it with the reason", () => {
    const { workflow, warnings } = ui();
    assert.deepEqual(node(workflow.nodes, "14"), {
      id: "14", type: "ImageSaverPro|custom", inputs: {},
      placeholder: { originalType: "ImageSaverPro|custom", reason: "no Sluice node for this ComfyUI type (a custom node, or one outside Stable Cascade)" },
      ui: { pos: [1850, 620], size: [315, 200] },
    });
    const about = warningsAbout(warnings, "14");
    assert.equal(about.length, 1);
    assert.match(about[0], /kept as a placeholder: no Sluice node for this ComfyUI type.*its 1 input link\(s\) are not kept/);
  });

  it("maps a checkpoint that is not among the packs to the default pack, naming both", () => {
    const { workflow, warnings } = ui();
    assert.equal(node(workflow.nodes, "1").inputs.pack, "tiny");
    assert.ok(warnings.includes("node 1 (CheckpointLoaderSimple): checkpoint 'stable_cascade_stage_c.safetensors' is not among the packs (tiny, random); using 'tiny'"), warnings.join("\n"));
  });

  it("maps a checkpoint whose name contains a pack's name to that pack, without a warning", () => {
    const { workflow, warnings } = importComfyUi(stageCPrompt({ "1": { inputs: { ckpt_name: "Random_stage_c_lite.safetensors" } } }), CTX);
    assert.equal(node(workflow.nodes, "1").inputs.pack, "random");
    assert.deepEqual(warningsAbout(warnings, "1"), []);
  });

  it("maps sampler names Sluice lacks to the closest one and warns about schedulers, naming both", () => {
    const { workflow, warnings } = ui();
    assert.equal(node(workflow.nodes, "7:1").inputs.sampler, "dpmpp_2m");
    assert.deepEqual(warningsAbout(warnings, "7:1"), [
      "node 7:1 (KSampler): sampler 'uni_pc' is not in Sluice; using 'dpmpp_2m', the closest",
      "node 7:1 (KSampler): scheduler 'karras' is not used: Sluice samples with the Stable Cascade cosine schedule",
    ]);
    assert.deepEqual(
      ["euler", "euler_ancestral", "dpmpp_2m", "ddim", "lcm", "ddpm", "uni_pc", "dpmpp_sde", "dpmpp_2m_sde_gpu", "heun", "dpm_2_ancestral", "lms", "weird_custom"].map(mapSamplerName),
      ["euler", "euler_ancestral", "dpmpp_2m", "ddim", "lcm", "ddpm", "dpmpp_2m", "euler_ancestral", "dpmpp_2m", "euler", "euler_ancestral", "dpmpp_2m", "ddpm"],
    );
  });

  it("names the workflow from the file name it came in", () => {
    assert.equal(importJsonText(UI_TEXT, { ...CTX, name: "cascade" }).workflow.name, "cascade");
  });
});

describe("ComfyUI API prompt", () => {
  it("maps to the same graph as the UI workflow (what the UI keeps only for people aside)", () => {
    const a = api().workflow.nodes, u = ui().workflow.nodes;
    // The API format holds no muted or bypassed nodes (ComfyUI leaves them out of a prompt).
    const ran = u.filter((n) => n.type !== "Note" && !n.mode);
    assert.deepEqual(a.map((n) => n.id).sort(), ran.map((n) => n.id).sort());
    for (const n of a) {
      const mine = node(u, n.id).inputs;
      const through = Object.fromEntries(Object.entries(mine).map(([k, v]) => [k, v && typeof v === "object" && node(u, v.node).mode === 4 ? node(u, v.node).inputs.image : v]));
      assert.deepEqual(n.inputs, through, `inputs of node ${n.id}`);
    }
    assert.equal(node(a, "6").inputs.seed, MAX_SEED);
  });

  it("lays the nodes out left to right by depth, keeping custom titles", () => {
    const { workflow } = api();
    const pos = (id: string) => node(workflow.nodes, id).ui?.pos;
    assert.deepEqual(pos("1"), [0, 0]);
    assert.deepEqual(pos("3"), [320, 0]);
    assert.deepEqual(pos("6"), [640, 0]);
    assert.deepEqual(pos("10"), [320 * 6, 0]);
    assert.equal(node(workflow.nodes, "6").ui?.title, "Stage C sampler");
    assert.equal(node(workflow.nodes, "1").ui?.title, undefined, "ComfyUI's default title is not kept");
  });

  it("maps KSamplerAdvanced's step window and noise switches, clamping the end step", () => {
    const { workflow } = importComfyUi(stageCPrompt({
      "4": {
        class_type: "KSamplerAdvanced",
        inputs: { add_noise: "disable", noise_seed: 18446744073709551615n.toString(), steps: 20, cfg: 4, sampler_name: "lcm", scheduler: "normal", start_at_step: 5, end_at_step: 99999, return_with_leftover_noise: "enable", model: ["1", 0], positive: ["2", 0], negative: ["2", 0], latent_image: ["3", 0] },
      },
    }), CTX);
    const s = node(workflow.nodes, "4").inputs;
    assert.deepEqual([s.seed, s.sampler, s.start_step, s.end_step, s.add_noise, s.return_leftover_noise, s.denoise], [MAX_SEED, "lcm", 5, 10000, false, true, 1]);
  });

  it("folds CLIPVisionEncode and unCLIPConditioning into ImageVariation, warning when the pack has no CLIP vision model", () => {
    const prompt = {
      ...stageCPrompt({ "1": { class_type: "unCLIPCheckpointLoader" }, "4": { inputs: { ...stageCPrompt()["4"].inputs, positive: ["7", 0] } } }),
      "5": { class_type: "LoadImage", inputs: { image: "cat.png", upload: "image" } },
      "6": { class_type: "CLIPVisionEncode", inputs: { crop: "none", clip_vision: ["1", 3], image: ["5", 0] } },
      "7": { class_type: "unCLIPConditioning", inputs: { strength: 0.8, noise_augmentation: 0.1, conditioning: ["2", 0], clip_vision_output: ["6", 0] } },
    };
    const { workflow, warnings } = importComfyUi(prompt, { ...CTX, packStages: { tiny: ["textEncoder", "stageC", "stageB", "stageA"] } });
    assert.equal(workflow.nodes.some((n) => n.id === "6"), false);
    assert.deepEqual(node(workflow.nodes, "7"), {
      id: "7", type: "ImageVariation",
      inputs: { conditioning: { node: "2", output: "conditioning" }, clip_vision: { node: "1", output: "clip_vision" }, image: { node: "5", output: "image" }, strength: 0.8 },
      ui: node(workflow.nodes, "7").ui,
    });
    assert.deepEqual(node(workflow.nodes, "4").inputs.positive, { node: "7", output: "conditioning" });
    assert.ok(warnings.some((w) => w.startsWith("node 6 (CLIPVisionEncode): folded into ImageVariation node(s) 7")));
    assert.ok(warnings.some((w) => w.startsWith("node 7 (unCLIPConditioning): pack 'tiny' has no CLIP vision model")));
    assert.ok(warnings.some((w) => w.startsWith("node 7 (unCLIPConditioning): noise_augmentation 0.1 is not supported")));
    assert.ok(warnings.some((w) => w.startsWith("node 5 (LoadImage): the image 'cat.png' is not part of the workflow")));
  });

  it("keeps ControlNet nodes as placeholders, and drops the links that come out of them with a warning", () => {
    const base = stageCPrompt();
    const { workflow, warnings } = importComfyUi({
      ...base,
      "4": { ...base["4"], inputs: { ...base["4"].inputs, positive: ["9", 0] } },
      "8": { class_type: "ControlNetLoader", inputs: { control_net_name: "canny.safetensors" } },
      "9": { class_type: "ControlNetApplyAdvanced", inputs: { strength: 1, start_percent: 0, end_percent: 1, positive: ["2", 0], negative: ["2", 0], control_net: ["8", 0], image: ["2", 0] } },
    }, CTX);
    assert.deepEqual(node(workflow.nodes, "8").placeholder, { originalType: "ControlNetLoader", reason: "Sluice has no ControlNet nodes" });
    assert.equal(node(workflow.nodes, "9").placeholder?.originalType, "ControlNetApplyAdvanced");
    assert.equal(node(workflow.nodes, "4").inputs.positive, undefined);
    assert.ok(warnings.includes("node 4 (KSampler): input \"positive\" is left unconnected: it came from node 9 (ControlNetApplyAdvanced), which could not be mapped"), warnings.join("\n"));
    assert.ok(warnings.some((w) => w.startsWith("node 8 (ControlNetLoader): kept as a placeholder: Sluice has no ControlNet nodes")));
  });
});

describe("ComfyUI import: odd corners of the UI format", () => {
  /** A UI workflow of a Stage C sampler fed by a primitive seed through a reroute. */
  function uiWorkflow(samplerWidgets: unknown[]) {
    return {
      last_node_id: 6, last_link_id: 6, version: 0.4, groups: [], config: {}, extra: {},
      nodes: [
        { id: 1, type: "CheckpointLoaderSimple", pos: [0, 0], mode: 0, outputs: [{ name: "MODEL", type: "MODEL", links: [1] }, { name: "CLIP", type: "CLIP", links: [2] }, { name: "VAE", type: "VAE", links: [] }], widgets_values: ["tiny_stage_c.safetensors"] },
        { id: 2, type: "CLIPTextEncode", pos: [300, 0], mode: 0, inputs: [{ name: "clip", type: "CLIP", link: 2 }], outputs: [{ name: "CONDITIONING", type: "CONDITIONING", links: [3, 4] }], widgets_values: ["a cat"] },
        { id: 3, type: "StableCascade_EmptyLatentImage", pos: [300, 200], mode: 0, outputs: [{ name: "stage_c", type: "LATENT", links: [5] }, { name: "stage_b", type: "LATENT", links: [] }], widgets_values: [64, 64, 8, 1] },
        { id: 4, type: "PrimitiveNode", pos: [300, 400], mode: 0, outputs: [{ name: "INT", type: "INT", links: [6], widget: { name: "seed" } }], widgets_values: [4242, "fixed"] },
        { id: 5, type: "Reroute", pos: [500, 400], mode: 0, inputs: [{ name: "", type: "*", link: 6 }], outputs: [{ name: "", type: "INT", links: [7] }] },
        {
          id: 6, type: "KSampler", pos: [700, 0], mode: 0,
          inputs: [{ name: "model", type: "MODEL", link: 1 }, { name: "positive", type: "CONDITIONING", link: 3 }, { name: "negative", type: "CONDITIONING", link: 4 }, { name: "latent_image", type: "LATENT", link: 5 }, { name: "seed", type: "INT", link: 7, widget: { name: "seed" } }],
          outputs: [{ name: "LATENT", type: "LATENT", links: [] }], widgets_values: samplerWidgets,
        },
      ],
      links: [[1, 1, 0, 6, 0, "MODEL"], [2, 1, 1, 2, 0, "CLIP"], [3, 2, 0, 6, 1, "CONDITIONING"], [4, 2, 0, 6, 2, "CONDITIONING"], [5, 3, 0, 6, 3, "LATENT"], [6, 4, 0, 5, 0, "INT"], [7, 5, 0, 6, 4, "INT"]],
    };
  }

  it("takes a seed widget turned into an input from the primitive that feeds it, through a reroute", () => {
    const { workflow, warnings } = importComfyUi(uiWorkflow([1, "decrement", 4, 4, "euler", "simple", 1]), CTX);
    const s = node(workflow.nodes, "6");
    assert.equal(s.inputs.seed, 4242);
    assert.equal(s.inputs.steps, 4);
    assert.equal(node(workflow.nodes, "1").inputs.pack, "tiny");
    assert.equal(workflow.nodes.some((n) => n.id === "4" || n.id === "5"), false);
    assert.deepEqual(s.ui?.seedControl, { seed: "fixed" });
    assert.ok(warnings.includes("node 6 (KSampler): seed control \"decrement\" is not in Sluice (fixed, increment, randomize); using \"fixed\""), warnings.join("\n"));
  });

  it("reads widget values that lack the control-after-generate value", () => {
    const { workflow } = importComfyUi(uiWorkflow([1, 4, 4, "euler", "simple", 1]), CTX);
    assert.deepEqual([4, 4, "euler", 1], ["steps", "cfg", "sampler", "denoise"].map((k) => node(workflow.nodes, "6").inputs[k]));
  });

  it("keeps the link from a muted node, and the node with its mode, naming it", () => {
    const wf = uiWorkflow([1, "fixed", 4, 4, "euler", "simple", 1]);
    wf.nodes[2] = { ...wf.nodes[2], mode: 2 };
    const { workflow, warnings } = importComfyUi(wf, CTX);
    assert.equal(node(workflow.nodes, "3").mode, 2);
    assert.deepEqual(node(workflow.nodes, "6").inputs.latent, { node: "3", output: "stage_c" }, "the link to the muted node is kept");
    assert.ok(warnings.includes("node 3 (StableCascade_EmptyLatentImage) is muted in ComfyUI (mode 2): kept muted (it and what needs it do not run)"), warnings.join("\n"));
  });

  it("refuses what is neither format, with reasons", () => {
    assert.throws(() => importComfyUi({ hello: "world" }, CTX), (err: unknown) => err instanceof ImportError && err.reasons.length === 2);
    assert.throws(() => importComfyUi({ nodes: [], links: [] }, CTX), (err: unknown) => err instanceof ImportError && /no nodes/.test(err.message));
  });
});
