"""Export a checkpoint as a Sluice pack (the public Stable Cascade ONNX layout + manifest.json).

usage: python3 export.py --ckpt checkpoints/main.pt --out ../../models/tiny [--steps-c 20 --cfg-c 4 ...]
       python3 export.py --from-pack ../../models/tiny --extras checkpoints/extras.pt --out /tmp/pack
The second form (finetune.py's checkpoint) copies the pack's other models unchanged and writes its
Stage C (with clip_img tokens and the control inputs), the CLIP vision stand-in (vae_encoder/) and
the ControlNets (controlnet/<name>/), and adds them to the manifest.
"""
import argparse
import json
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import SceneStream  # noqa: E402
from tokenizer import MAX_LEN, Tokenizer  # noqa: E402
from train import build  # noqa: E402

OPSET = 17


class TextWrap(nn.Module):
    def __init__(self, te):
        super().__init__()
        self.te = te

    def forward(self, input_ids, attention_mask):
        pooled, last, hs = self.te(input_ids, attention_mask)
        return (pooled, last, *hs)


class ClampWrap(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, sample):
        return torch.clamp(self.m(sample), 0.0, 1.0)


def affine_layernorms(model):
    """torch 1.13 exports a non-affine LayerNorm at opset 17 with an empty scale input: give every
    LayerNorm an explicit identity affine (weight 1, bias 0) before export."""
    for mod in model.modules():
        if isinstance(mod, nn.LayerNorm) and not mod.elementwise_affine:
            mod.elementwise_affine = True
            mod.weight = nn.Parameter(torch.ones(mod.normalized_shape))
            mod.bias = nn.Parameter(torch.zeros(mod.normalized_shape))
    return model


def load(ckpt_path):
    ck = torch.load(ckpt_path)
    tok = Tokenizer()
    m = build(ck["cfg"], tok.size)
    for k in m:
        m[k].load_state_dict(ck["models"][k])
        m[k].eval()
        affine_layernorms(m[k])
    return ck, tok, m


def export_onnx(model, args, path, inputs, outputs, dynamic):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(model, args, path, input_names=inputs, output_names=outputs, dynamic_axes=dynamic,
                          opset_version=OPSET, do_constant_folding=True)
    import onnx
    onnx.checker.check_model(onnx.load(path))


@torch.no_grad()
def fit_preview(m, scale, n=256, seed=99):
    """Least-squares latent -> RGB ([-1,1]) factors, fitted on images decoded by the pack's own Stage A
    (Stage B latents) and the pack's own EffNet decoder / previewer (Stage C latents)."""
    x, _, _ = SceneStream(seed=seed).batch(n)
    z = m["ae_enc"](x)
    img = m["ae_dec"](z).clamp(0, 1)
    zb = z / scale
    tgt = torch.nn.functional.avg_pool2d(img * 2 - 1, 4)
    fb, biasb = _lsq(zb, tgt)
    e = m["eff_enc"](x)
    imgc = m["eff_dec"](e).clamp(0, 1)
    tgtc = torch.nn.functional.avg_pool2d(imgc * 2 - 1, 8)
    fc, biasc = _lsq(e, tgtc)
    return fc, biasc, fb, biasb


def _lsq(lat, rgb):
    C = lat.shape[1]
    X = lat.permute(0, 2, 3, 1).reshape(-1, C).double()
    X = torch.cat([X, torch.ones(X.shape[0], 1, dtype=X.dtype)], 1)
    Y = rgb.permute(0, 2, 3, 1).reshape(-1, 3).double()
    # ridge-regularised least squares (latent channels are correlated; keeps the factors small)
    XtX = X.T @ X
    lam = 1e-3 * torch.trace(XtX) / XtX.shape[0]
    reg = torch.eye(XtX.shape[0], dtype=X.dtype) * lam
    reg[C, C] = 0
    sol = torch.linalg.solve(XtX + reg, X.T @ Y)
    return sol[:C].float(), sol[C].float()


def export_stage_a(base, stage_a_path, out):
    """The --from-pack form with --stage-a: the Stage A decoder of finetune_stage_a.py's checkpoint."""
    from finetune_stage_a import DEC_SPEC
    from models import StageADecoder
    from train import FULL
    ck = torch.load(stage_a_path)
    dec = StageADecoder(**FULL["A"])
    dec.load_state_dict(ck["ema"])
    dec.eval()
    export_onnx(ClampWrap(dec), *DEC_SPEC[:1], os.path.join(out, "vae_decoder", "model.onnx"), *DEC_SPEC[1:])
    with open(os.path.join(out, "training.json")) as f:
        training = json.load(f)
    st = ck["state"]
    training["stage_a_finetune"] = {"steps": st["steps"], "minutes": round(st["elapsed"] / 60, 1)}
    with open(os.path.join(out, "training.json"), "w") as f:
        json.dump(training, f, indent=1)
        f.write("\n")


def export_extras(base, extras_path, out, keep_stage_c=False, image_pooled=None, image_pooled_gain=1.0):
    """The --from-pack form: see the module's docstring."""
    import shutil

    from finetune import CONTROLNETS, build_extras
    from models import TinyClipVision
    from onnx_weights import controlnet_spec, load_shipped, stage_c_control_spec
    from train import FULL, SMOKE
    if os.path.abspath(base) != os.path.abspath(out):
        shutil.copytree(base, out, dirs_exist_ok=True)
    ck = torch.load(extras_path)
    cfg = SMOKE if ck.get("smoke") else FULL
    shipped = load_shipped(base, cfg)
    img_spatial = any(k.startswith("img_spatial") for k in ck["C_ema"])
    C, nets = build_extras(shipped, cfg, img_pooled=image_pooled is not None or shipped["C"].img_pooled, img_spatial=img_spatial)
    if keep_stage_c:
        # the shipped Stage C as it is, only the image paths from the checkpoint: text-to-image stays
        # exactly the shipped pack's (zero image tokens and zero control features add nothing)
        new = {k: v for k, v in ck["C_ema"].items() if k.startswith(("img_layout_mapper", "img_spatial"))}
        C.load_state_dict({**C.state_dict(), **new})
    else:
        C.load_state_dict(ck["C_ema"])
    for k in ck["nets_ema"]:
        nets[k].load_state_dict(ck["nets_ema"][k])
    if image_pooled is not None:
        fit = torch.load(image_pooled)
        C.img_pooled_mapper.load_state_dict(fit["mapper"])
        # the image tokens reach Stage C through the pooled path only: the shipped prior never saw
        # non-zero clip_img in its attention (its mapper's weights are untrained there)
        if fit.get("zero_clip_img_attention", True):
            with torch.no_grad():
                C.clip_img_mapper.weight.zero_()
        if image_pooled_gain != 1.0:
            # a regression predicts the mean caption for what the image leaves unsure: a gain above 1
            # undoes part of that shrinking towards the empty prompt
            with torch.no_grad():
                C.img_pooled_mapper[4].weight.mul_(image_pooled_gain)
    C.eval()
    affine_layernorms(C)
    D = shipped["te"].d
    ctrl = [f"control_{i}" for i in range(len(C.control_blocks))]
    export_onnx(C, *stage_c_control_spec(D, C.c, len(ctrl))[:1], os.path.join(out, "prior", "model.onnx"),
                *stage_c_control_spec(D, C.c, len(ctrl))[1:])
    export_onnx(TinyClipVision(), (torch.randn(1, 3, 224, 224),), os.path.join(out, "vae_encoder", "model.onnx"),
                ["sample"], ["image_embeds", "last_hidden_state"],
                {"sample": {0: "batch"}, "image_embeds": {0: "batch"}, "last_hidden_state": {0: "batch"}})
    shipped_nets = [k for k in CONTROLNETS if k in ck["nets_ema"]]
    for name in shipped_nets:
        ch = CONTROLNETS[name]
        nets[name].eval()
        args_, ins, outs, dyn_ = controlnet_spec(ch, len(ctrl))
        export_onnx(nets[name], args_, os.path.join(out, "controlnet", name, "model.onnx"), ins, outs, dyn_)
    with open(os.path.join(base, "manifest.json")) as f:
        manifest = json.load(f)
    manifest["stageC"]["controlInputs"] = ctrl
    manifest["controlnets"] = {k: {"file": f"controlnet/{k}/model.onnx", "filter": k, "channels": CONTROLNETS[k]} for k in shipped_nets}
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    with open(os.path.join(base, "training.json")) as f:
        training = json.load(f)
    st = ck["state"]
    if image_pooled is not None:
        training["image_pooled"] = torch.load(image_pooled)["report"]
    record = {"steps": st["steps"], "minutes": round(st["elapsed"] / 60, 1), "scenes_per_task": st["task_steps"]}
    tasks = [k for k, v in st["task_steps"].items() if v]
    if tasks == ["image"] and img_spatial:
        # a run of finetune.py --image-spatial: the ControlNets came from the pack as they were
        training["image_spatial"] = {**record, "params": sum(p.numel() for n, p in C.named_parameters() if n.startswith("img_spatial"))}
    elif len(tasks) == 1 and tasks[0] in CONTROLNETS:
        # one ControlNet trained against the pack's prior: the others' records stay
        training[f"controlnet_{tasks[0]}"] = {**record, "params": sum(p.numel() for p in nets[tasks[0]].parameters())}
    else:
        training["extras"] = {**record,
                              "params": {"C_image_layout": sum(p.numel() for n, p in C.named_parameters() if n.startswith("img_layout")),
                                         **{f"controlnet_{k}": sum(p.numel() for p in nets[k].parameters()) for k in shipped_nets}}}
    with open(os.path.join(out, "training.json"), "w") as f:
        json.dump(training, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(r, fn)) for r, _, fs in os.walk(out) for fn in fs)
    print(f"exported to {out}: {total / 1e6:.2f} MB", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--from-pack", help="with --extras: the pack whose other models are kept")
    ap.add_argument("--extras", help="finetune.py's checkpoint")
    ap.add_argument("--keep-stage-c", action="store_true",
                    help="with --extras: keep the pack's Stage C weights, take only its new parts (image layout path) from the checkpoint")
    ap.add_argument("--stage-a", help="with --from-pack: finetune_stage_a.py's checkpoint (the Stage A decoder)")
    ap.add_argument("--image-pooled", help="with --extras: fit_image_pooled.py's output (the prior's image pooled path)")
    ap.add_argument("--image-pooled-gain", type=float, default=1.0, help="with --image-pooled: scales its output")
    ap.add_argument("--ckpt", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "checkpoints", "main.pt"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps-c", type=int, default=20)
    ap.add_argument("--cfg-c", type=float, default=4.0)
    ap.add_argument("--sampler-c", default="ddpm")
    ap.add_argument("--steps-b", type=int, default=10)
    ap.add_argument("--cfg-b", type=float, default=1.1)
    ap.add_argument("--sampler-b", default="ddpm")
    ap.add_argument("--no-previewer", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(2)
    if args.from_pack:
        if args.extras:
            export_extras(args.from_pack, args.extras, args.out, keep_stage_c=args.keep_stage_c, image_pooled=args.image_pooled,
                          image_pooled_gain=args.image_pooled_gain)
        elif os.path.abspath(args.from_pack) != os.path.abspath(args.out):
            import shutil
            shutil.copytree(args.from_pack, args.out, dirs_exist_ok=True)
        if args.stage_a:
            export_stage_a(args.from_pack, args.stage_a, args.out)
        total = sum(os.path.getsize(os.path.join(r, fn)) for r, _, fs in os.walk(args.out) for fn in fs)
        print(f"pack at {args.out}: {total / 1e6:.2f} MB", flush=True)
        return
    ck, tok, m = load(args.ckpt)
    out = args.out
    os.makedirs(out, exist_ok=True)
    tok.save(os.path.join(out, "tokenizer"))
    D = ck["cfg"]["text"]["d"]
    L = ck["cfg"]["text"]["layers"]
    B = 2
    ids, mask = tok.encode_batch(["a red circle on the left", ""])
    hs_names = [f"hidden_states.{i}" for i in range(L + 1)]
    dyn = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
           "text_embeds": {0: "batch"}, "last_hidden_state": {0: "batch", 1: "sequence"}}
    dyn.update({n: {0: "batch", 1: "sequence"} for n in hs_names})
    export_onnx(TextWrap(m["te"]), (ids, mask), os.path.join(out, "text_encoder", "model.onnx"),
                ["input_ids", "attention_mask"], ["text_embeds", "last_hidden_state"] + hs_names, dyn)
    h = w = 8
    export_onnx(m["C_ema"], (torch.randn(B, 16, h, w), torch.rand(B), torch.randn(B, 1, D), torch.randn(B, MAX_LEN, D),
                             torch.zeros(B, 1, 768)),
                os.path.join(out, "prior", "model.onnx"),
                ["sample", "timestep_ratio", "clip_text_pooled", "clip_text", "clip_img"], ["out_sample"],
                {"sample": {0: "batch", 2: "height", 3: "width"}, "timestep_ratio": {0: "batch"},
                 "clip_text_pooled": {0: "batch"}, "clip_text": {0: "batch", 1: "sequence"}, "clip_img": {0: "batch"},
                 "out_sample": {0: "batch", 2: "height", 3: "width"}})
    export_onnx(m["B_ema"], (torch.randn(B, 4, 16, 16), torch.rand(B), torch.randn(B, 1, D), torch.randn(B, 16, h, w)),
                os.path.join(out, "decoder", "model.onnx"),
                ["sample", "timestep_ratio", "clip_text_pooled", "effnet"], ["out_sample"],
                {"sample": {0: "batch", 2: "height", 3: "width"}, "timestep_ratio": {0: "batch"},
                 "clip_text_pooled": {0: "batch"}, "effnet": {0: "batch", 2: "effnet_height", 3: "effnet_width"},
                 "out_sample": {0: "batch", 2: "height", 3: "width"}})
    export_onnx(ClampWrap(m["ae_dec"]), (torch.randn(1, 4, 16, 16),), os.path.join(out, "vae_decoder", "model.onnx"),
                ["sample"], ["latent_sample"],
                {"sample": {0: "batch", 2: "height", 3: "width"}, "latent_sample": {0: "batch", 2: "out_height", 3: "out_width"}})
    export_onnx(m["eff_enc"], (torch.rand(1, 3, 64, 64),), os.path.join(out, "effnet", "model.onnx"),
                ["pixel_values"], ["image_embeds"],
                {"pixel_values": {0: "batch", 2: "height", 3: "width"},
                 "image_embeds": {0: "batch", 2: "latent_height", 3: "latent_width"}})
    if not args.no_previewer:
        export_onnx(ClampWrap(m["eff_dec"]), (torch.randn(1, 16, h, w),), os.path.join(out, "previewer", "model.onnx"),
                    ["sample"], ["image"],
                    {"sample": {0: "batch", 2: "height", 3: "width"}, "image": {0: "batch", 2: "out_height", 3: "out_width"}})
    scale = float(ck["a_scale"])
    fc, bc, fb, bb = fit_preview(m, scale)
    r4 = lambda t: [round(float(v), 5) for v in t]  # noqa: E731
    manifest = {
        "format": "sluice.pack", "version": 1, "name": "tiny",
        "description": "Miniature Stable Cascade trained on synthetic scenes of coloured shapes "
                       "(8 colours, circle/square/triangle, left/right/top/bottom/center, gray/white/black "
                       "backgrounds). 64x64 default; any multiple of 8 works.",
        "resolution": {"default": [64, 64], "dynamic": True},
        "textEncoder": {"width": D, "maxLength": MAX_LEN, "hiddenOutput": f"hidden_states.{L}",
                        "pooledOutput": "text_embeds"},
        "stageC": {"channels": 16, "compression": 8, "shift": 2, "steps": args.steps_c, "cfg": args.cfg_c,
                   "sampler": args.sampler_c, "clipImgDim": 768},
        "stageB": {"channels": 4, "compression": 4, "shift": 1, "steps": args.steps_b, "cfg": args.cfg_b,
                   "sampler": args.sampler_b},
        "stageA": {"scale": round(scale, 6), "upscale": 4},
        "effnet": {"compression": 8},
        "preview": {"stageC": [r4(row) for row in fc], "stageB": [r4(row) for row in fb],
                    "stageCBias": r4(bc), "stageBBias": r4(bb)},
    }
    num = lambda v: int(v) if float(v).is_integer() else v  # noqa: E731
    for st in ("stageC", "stageB"):
        manifest[st]["cfg"] = num(manifest[st]["cfg"])
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    with open(os.path.join(out, "training.json"), "w") as f:
        json.dump({"steps": ck["steps"], "minutes": {k: round(v / 60, 1) for k, v in ck["elapsed"].items()},
                   "params": {k: sum(p.numel() for p in m[k].parameters())
                              for k in ("te", "C_ema", "B_ema", "ae_dec", "eff_enc", "eff_dec")}}, f, indent=1)
        f.write("\n")
    total = 0
    for root, _, files in os.walk(out):
        for fn in files:
            total += os.path.getsize(os.path.join(root, fn))
    print(f"exported to {out}: {total / 1e6:.2f} MB", flush=True)


if __name__ == "__main__":
    main()
