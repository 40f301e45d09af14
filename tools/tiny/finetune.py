"""Fine-tunes the shipped pack's Stage C for image prompts and trains its ControlNets (canny,
inpainting, super-resolution), starting from the ONNX files that ship (onnx_weights.py), never from a
checkpoint that a new machine would not have.

Each batch mixes five tasks, per scene: text only; an image prompt (clip_img from the tiny CLIP
vision encoder, the caption dropped 60% of the time by default; in some batches a two-object scene
comes as two images, one per object, on two clip_img tokens: several images mix); canny (the
ControlNet sees the scene's edges); inpainting (the ControlNet sees the scene with a region masked:
an object's box, a random box, or a border for outpainting); super-resolution (the ControlNet sees
the scene at a quarter of its size, blown up again). 10% of scenes lose caption and image by default
(guidance's unconditional branch); the control stays, as ComfyUI applies a ControlNet to both
branches. With --freeze-c only the new parts learn: the ControlNets whose task is drawn, or with
--image-spatial the prior's image spatial path.

usage: python3 finetune.py --pack ../../models/tiny --ckpt checkpoints/extras.pt --minutes 40
       python3 export.py --from-pack ../../models/tiny --extras checkpoints/extras.pt --out /tmp/pack
"""
import argparse
import copy
import os
import random
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import POSITIONS, SceneStream, render  # noqa: E402
from filters import canny, inpaint_input, super_resolution  # noqa: E402
from models import ControlNet, StageC, TinyClipVision, ab_r, clip_vision_input  # noqa: E402
from onnx_weights import load_shipped  # noqa: E402
from train import FULL, SMOKE, ema_update, object_weight, save, set_lr  # noqa: E402

CONTROL_BLOCKS = (0, 1, 2, 3, 4)
CONTROLNETS = {"canny": 1, "inpaint": 4, "super_resolution": 3}
# a narrower super-resolution net: its control is a coarse picture, and the pack keeps under its size limit
CONTROLNET_WIDTHS = {"super_resolution": 64}
TASKS = ("text", "image", "canny", "inpaint", "super_resolution")


def build_extras(shipped, cfg=FULL, img_pooled=False, img_spatial=False):
    """Stage C with the image layout path and control inputs (and the image pooled and spatial paths
    when asked), and the ControlNets: the shipped ones where the pack has them (a pack exported with
    them), else new (zero-initialised additions)."""
    blocks = tuple(b for b in CONTROL_BLOCKS if b < cfg["C"]["depth"])
    C = StageC(c_text=cfg["text"]["d"], img_layout=True, img_pooled=img_pooled, img_spatial=img_spatial, control_blocks=blocks,
               **cfg["C"])
    C.load_state_dict(shipped["C"].state_dict(), strict=False)
    w = 96 if cfg is FULL else 16
    nets = {k: ControlNet(ch, c_out=cfg["C"]["c"], w=CONTROLNET_WIDTHS.get(k, w) if cfg is FULL else w, n_out=len(blocks))
            for k, ch in CONTROLNETS.items()}
    for k, net in shipped.get("nets", {}).items():
        if k in nets:
            nets[k].load_state_dict(net.state_dict())
    return C, nets


@torch.no_grad()
def fit_image_layout(C, te, tok, clipv, n=2048, ridges=(1e-7, 1e-6, 1e-5, 1e-4, 1e-3)):
    """Starts the image layout path where the text's is: a ridge regression (no intercept: a zero
    embedding must add nothing) from the image embedding of a scene to what its caption adds to the
    layout over the empty prompt's, so an image prompt places its objects' colours from the first
    step; training then refines it. The ridge is picked on a held-out fifth of the scenes."""
    stream = SceneStream(seed=777)
    e_ids, e_mask = tok.encode_batch([""])
    base = C.layout_mapper(te(e_ids, e_mask)[0])
    X, Y = [], []
    for _ in range(max(1, n // 256)):
        x, caps, _ = stream.batch(256, p_nobg=0.0)
        ids, mask = tok.encode_batch(caps)
        Y.append(C.layout_mapper(te(ids, mask)[0]) - base)
        X.append(clipv(clip_vision_input(x))[0])
    X, Y = torch.cat(X).double(), torch.cat(Y).double()
    k = X.shape[0] * 4 // 5

    def solve(Xa, Ya, ridge):
        A = Xa.T @ Xa
        A = A + torch.eye(A.shape[0], dtype=A.dtype) * ridge * torch.trace(A) / A.shape[0]
        return torch.linalg.solve(A, Xa.T @ Ya)

    def r2(W, Xa, Ya):
        return 1 - float(((Xa @ W - Ya) ** 2).sum() / ((Ya - Ya.mean(0)) ** 2).sum())

    scores = {r: r2(solve(X[:k], Y[:k], r), X[k:], Y[k:]) for r in ridges}
    best = max(scores, key=scores.get)
    W = solve(X, Y, best)
    C.img_layout_mapper.weight.copy_(W.T.float())
    print(f"image layout path fitted to the text's: held-out R^2 {scores[best]:.3f} at ridge {best:g} "
          f"({', '.join(f'{r:g}: {v:.3f}' for r, v in scores.items())}); {X.shape[0]} scenes", flush=True)


def control_image(net, images, masks):
    """What the ControlNet `net` sees of these pictures (masks: inpainting's, 1 = to paint)."""
    if net == "canny":
        return canny(images)
    if net == "inpaint":
        return inpaint_input(images, masks)
    return super_resolution(images)


def object_box_mask(scene, obj, size=64, margin=3.0):
    """1 over the object's box (its largest extent plus a margin), in a size x size mask."""
    cx, cy = POSITIONS[obj["position"]]
    cx, cy = cx + obj.get("dx", 0.0), cy + obj.get("dy", 0.0)
    r = obj.get("r", 8.0) * 1.15 + margin
    k = size / 64.0
    m = torch.zeros(1, size, size)
    y0, y1 = max(0, int((cy - r) * k)), min(size, int((cy + r) * k) + 1)
    x0, x1 = max(0, int((cx - r) * k)), min(size, int((cx + r) * k) + 1)
    m[:, y0:y1, x0:x1] = 1
    return m


def random_mask(rng, scene, size=64):
    u = rng.random()
    if u < 0.5:
        return object_box_mask(scene, rng.choice(scene["objects"]), size)
    m = torch.zeros(1, size, size)
    if u < 0.75:
        h, w = rng.randint(12, 40), rng.randint(12, 40)
        y, x = rng.randint(0, size - h), rng.randint(0, size - w)
        m[:, y:y + h, x:x + w] = 1
        return m
    # outpainting: keep a box, paint the border around it
    h, w = rng.randint(24, 48), rng.randint(24, 48)
    y, x = rng.randint(0, size - h), rng.randint(0, size - w)
    m.fill_(1)
    m[:, y:y + h, x:x + w] = 0
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pack", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models", "tiny"))
    ap.add_argument("--ckpt", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "checkpoints", "extras.pt"))
    ap.add_argument("--minutes", type=float, default=40.0, help="running total of training minutes")
    ap.add_argument("--bs", type=int, default=32)
    ap.add_argument("--lr-c", type=float, default=2e-4, help="the shipped Stage C parameters")
    ap.add_argument("--lr-new", type=float, default=1e-3, help="the image layout path and the ControlNets")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--save-every", type=float, default=120.0)
    ap.add_argument("--smoke", action="store_true", help="a few steps on a small batch")
    ap.add_argument("--freeze-c", action="store_true",
                    help="train only the ControlNets against the shipped Stage C (as export.py --keep-stage-c ships it)")
    ap.add_argument("--task-weights", default="0.2,0.3,0.2,0.2,0.1",
                    help="how often each of text,image,canny,inpaint,super_resolution is drawn (missing ones: 0)")
    ap.add_argument("--x0-weight", type=float, default=1.0, help="weigh each scene's loss by its x0 error's factor b^2/a^2, capped here (1 = plain eps loss)")
    ap.add_argument("--t-pow", type=float, default=1.0, help="noise levels drawn as u^t_pow (below 1: more high-noise steps)")
    ap.add_argument("--image-spatial", action="store_true",
                    help="with --freeze-c: train the prior's image spatial path (StageC img_spatial) against the frozen prior")
    ap.add_argument("--keep-text-image", type=float, default=0.4, help="how often an image-prompt scene keeps its caption")
    ap.add_argument("--p-uncond", type=float, default=0.1, help="how often a scene loses caption and image")
    ap.add_argument("--refit-image-layout", action="store_true",
                    help="on resuming, fit the image layout path to the text's again (fit_image_layout)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = SMOKE if args.smoke else FULL
    shipped = load_shipped(args.pack, cfg)
    te, eff_enc, tok = shipped["te"], shipped["eff_enc"], shipped["tok"]
    C, nets = build_extras(shipped, cfg, img_pooled=shipped["C"].img_pooled, img_spatial=args.image_spatial or shipped["C"].img_spatial)
    state = dict(elapsed=0.0, steps=0, task_steps={t: 0 for t in TASKS})
    if os.path.exists(args.ckpt):
        ck = torch.load(args.ckpt)
        C.load_state_dict(ck["C"])
        for k in ck["nets"]:
            nets[k].load_state_dict(ck["nets"][k])
        state = ck["state"]
        for t in TASKS:  # a checkpoint from before a task existed
            state["task_steps"].setdefault(t, 0)
        print(f"resumed {args.ckpt}: {state}", flush=True)
    C_ema = None
    nets_ema = {k: copy.deepcopy(v) for k, v in nets.items()}
    clipv = TinyClipVision()
    if not os.path.exists(args.ckpt) and not shipped["C"].img_layout:
        fit_image_layout(C, te, tok, clipv, n=256 if args.smoke else 2048)
    C_ema = copy.deepcopy(C)
    if os.path.exists(args.ckpt):
        C_ema.load_state_dict(ck["C_ema"])
        if args.refit_image_layout:
            fit_image_layout(C_ema, te, tok, clipv)
            C.img_layout_mapper.weight.data.copy_(C_ema.img_layout_mapper.weight.data)
        for k in ck["nets_ema"]:
            nets_ema[k].load_state_dict(ck["nets_ema"][k])
    for m in [C_ema, *nets_ema.values()]:
        for p in m.parameters():
            p.requires_grad_(False)
    new_c = [p for n, p in C.named_parameters() if n.startswith("img_layout_mapper")]
    old_c = [p for n, p in C.named_parameters() if not n.startswith("img_layout_mapper")]
    groups = [dict(params=old_c, base=args.lr_c), dict(params=new_c, base=args.lr_new)]
    if args.freeze_c:
        # Stage C as it ships: gradients only flow through it to the ControlNets' features
        for p in C.parameters():
            p.requires_grad_(False)
        C.eval()
        groups = []
        if args.image_spatial:
            groups = [dict(params=[p for n, p in C.named_parameters() if n.startswith("img_spatial")], base=args.lr_new)]
            for p in groups[0]["params"]:
                p.requires_grad_(True)
    task_weights = [float(w) for w in args.task_weights.split(",")]
    task_weights += [0.0] * (len(TASKS) - len(task_weights))
    # only the ControlNets whose task is drawn: weight decay would shrink the others for nothing
    trained_nets = [k for k in nets if task_weights[TASKS.index(k)] > 0]
    groups += [dict(params=list(nets[k].parameters()), base=args.lr_new) for k in trained_nets]
    opt = torch.optim.AdamW([{"params": g["params"]} for g in groups], lr=args.lr_new, weight_decay=0.01, betas=(0.9, 0.99))
    if os.path.exists(args.ckpt) and "opt" in ck:
        opt.load_state_dict(ck["opt"])
    every = [p for g in groups for p in g["params"]]

    # the ControlNets a pack made from this checkpoint ships: those trained here and those it had
    kept = [k for k in nets if k in trained_nets or k in shipped["nets"] or (os.path.exists(args.ckpt) and k in ck["nets"])]

    def checkpoint():
        save(args.ckpt, dict(C=C.state_dict(), C_ema=C_ema.state_dict(), nets={k: nets[k].state_dict() for k in kept},
                             nets_ema={k: nets_ema[k].state_dict() for k in kept}, opt=opt.state_dict(), state=state,
                             control_blocks=CONTROL_BLOCKS, controlnets=CONTROLNETS, smoke=args.smoke))

    seed = 5000 + state["steps"]
    rng = random.Random(seed)
    torch.manual_seed(seed)
    stream = SceneStream(seed=seed, p_single=0.45)
    with torch.no_grad():
        e_ids, e_mask = tok.encode_batch([""])
    budget = (0.2 if args.smoke else args.minutes) * 60
    bs = 4 if args.smoke else args.bs
    t0, last_save = time.time() - state["elapsed"], time.time()
    avg = {t: None for t in TASKS}
    if not args.freeze_c:
        C.train()
    while state["elapsed"] < budget:
        frac = state["elapsed"] / budget
        warm = min(1.0, (state["steps"] + 1) / 50)
        decay = 1.0 if frac < 0.7 else max(0.1, 1 - (frac - 0.7) / 0.3 * 0.9)
        for g, pg in zip(groups, opt.param_groups):
            pg["lr"] = g["base"] * warm * decay
        x, caps, scenes = stream.batch(bs)
        tasks = [rng.choices(TASKS, weights=task_weights)[0] for _ in range(bs)]
        two_tokens = rng.random() < 0.3
        n_tok = 2 if two_tokens else 1
        img_src = torch.zeros(bs, n_tok, 3, 64, 64)
        has_img = torch.zeros(bs, n_tok)
        sel = {k: torch.zeros(bs, 1, 1, 1) for k in CONTROLNETS}
        masks = torch.zeros(bs, 1, 64, 64)
        texts = []
        for i, (task, cap, sc) in enumerate(zip(tasks, caps, scenes)):
            keep_text = {"text": 1.0, "image": args.keep_text_image, "canny": 0.7, "inpaint": 0.8, "super_resolution": 0.5}[task]
            text = cap if rng.random() < keep_text else ""
            if task == "image":
                if two_tokens and len(sc["objects"]) == 2:
                    for j, o in enumerate(sc["objects"]):
                        img_src[i, j] = render({"background": sc["background"], "objects": [o]})
                        has_img[i, j] = 1
                else:
                    img_src[i, 0] = x[i]
                    has_img[i, 0] = 1
            elif task in CONTROLNETS:
                sel[task][i] = 1
                if task == "inpaint":
                    masks[i] = random_mask(rng, sc)
            if rng.random() < args.p_uncond:  # the unconditional branch
                text = ""
                has_img[i] = 0
            texts.append(text)
        with torch.no_grad():
            ids, mask = tok.encode_batch(texts)
            pooled, _, hs = te(ids, mask)
            pooled, ctext = pooled[:, None], hs[-1]
            if has_img.any():
                emb, _ = clipv(clip_vision_input(img_src.flatten(0, 1)))
                clip_img = emb.view(bs, n_tok, -1) * has_img[:, :, None]
            else:
                clip_img = torch.zeros(bs, n_tok, 768)
            control_in = {}
            for k in trained_nets:
                chosen = sel[k][:, 0, 0, 0] > 0
                control_in[k] = torch.zeros(bs, CONTROLNETS[k], 64, 64)
                if chosen.any():
                    control_in[k][chosen] = control_image(k, x[chosen], masks[chosen])
            latent = eff_enc(x)
            weight = object_weight(x, 8, 3.0)
        # the ControlNets whose task is not drawn add zero features (as a zero control image would not)
        control = [torch.zeros(bs, C.c, 8, 8) for _ in C.control_blocks]
        for k in trained_nets:
            for j, f in enumerate(nets[k](control_in[k])):
                control[j] = control[j] + f * sel[k]
        a, b, r = ab_r(torch.rand(bs) ** args.t_pow, 1.0)
        noise = torch.randn_like(latent)
        pred = C(a[:, None, None, None] * latent + b[:, None, None, None] * noise, r, pooled, ctext, clip_img, *control)
        per = (weight * (pred - noise) ** 2).mean((1, 2, 3))
        if args.x0_weight > 1:
            # the error of x0 (eps's times b/a), capped: at high noise, where a control decides the
            # layout, the eps error is small and would teach the ControlNets little
            per = per * torch.clamp(b * b / (a * a), 1.0, args.x0_weight)
        loss = per.mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(every, 1.0)
        opt.step()
        state["steps"] += 1
        n = state["steps"]
        d = min(0.995, (1 + n) / (10 + n))
        if not args.freeze_c or args.image_spatial:
            ema_update(C_ema, C, d)
        for k in trained_nets:
            ema_update(nets_ema[k], nets[k], d)
        for t in TASKS:
            sel_t = torch.tensor([tt == t for tt in tasks])
            if sel_t.any():
                v = per[sel_t].mean().item()
                avg[t] = v if avg[t] is None else 0.95 * avg[t] + 0.05 * v
                state["task_steps"][t] += int(sel_t.sum())
        state["elapsed"] = time.time() - t0
        if n % 10 == 0:
            print(f"step {n} t={state['elapsed']:.0f}s " + " ".join(f"{t} {avg[t]:.4f}" for t in TASKS if avg[t] is not None),
                  flush=True)
        if time.time() - last_save > args.save_every:
            checkpoint()
            last_save = time.time()
        if args.smoke and n >= 3:
            break
    checkpoint()
    print("done", state, flush=True)


if __name__ == "__main__":
    main()
