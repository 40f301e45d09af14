"""Train the tiny cascade. Phases (time-budgeted, resumable from the checkpoint):
  text  - text encoder with a scene-parsing objective on its pooled output
  pca   - the EffNet stand-in and Stage A's encoder: fixed patch-PCA projections, fitted once
  cb    - Stage C and Stage B diffusion (interleaved), epsilon target, CASCADE.md schedule, plus
          Stage A decoder steps while --a-more-min lasts (--parts picks which of C, B, A a run trains)

usage: python3 train.py --ckpt checkpoints/main.pt   (defaults: --text-min 10 --cb-min 86 --a-more-min 14)
       python3 train.py --smoke --ckpt /tmp/x.pt   (tiny config, a few steps)
"""
import argparse
import copy
import math
import os
import random
import sys
import time

# Debian's torch uses GNU OpenMP, whose threads spin between the many small ops of these tiny
# models: with 2 threads a step took twice as long as with 1 (half the CPU time in the kernel).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import BG_NAMES, COLOR_NAMES, POS_NAMES, POS_PHRASE, SHAPES, SceneStream  # noqa: E402
from models import (ParseHeads, PatchPCADecoder, PatchPCAEncoder, StageADecoder, StageB,  # noqa: E402
                    StageC, TextEncoder, ab_r, fit_patch_pca, n_params)

A_SCALE = 0.43  # Stage A latents are whitened PCA coefficients times this: B trains on latent / A_SCALE
from tokenizer import Tokenizer  # noqa: E402

FULL = dict(text=dict(d=128, layers=3, nhead=4),
            C=dict(c=160, depth=5, nhead=4),
            B=dict(c1=96, c2=192, n1=2, n2=3, nhead=4),
            A=dict(w=128, blocks=2),
            E=dict(w=128, blocks=2),
            bs_text=128, bs_ae=16, bs_c=48, bs_b=32)
SMOKE = dict(text=dict(d=32, layers=1, nhead=2),
             C=dict(c=32, depth=1, nhead=2),
             B=dict(c1=16, c2=32, n1=1, n2=1, nhead=2),
             A=dict(w=16, blocks=1),
             E=dict(w=16, blocks=1),
             bs_text=8, bs_ae=4, bs_c=4, bs_b=4)


def build(cfg, vocab_size):
    d = cfg["text"]["d"]
    m = dict(
        te=TextEncoder(vocab_size, **cfg["text"]),
        parse=ParseHeads(d, len(BG_NAMES) + 1, len(POS_NAMES), len(COLOR_NAMES) + 1, len(SHAPES) + 1),
        tokhead=torch.nn.Linear(d, len(COLOR_NAMES) + len(SHAPES)),
        ae_enc=PatchPCAEncoder(4, 4, A_SCALE), ae_dec=StageADecoder(**cfg["A"]),
        eff_enc=PatchPCAEncoder(16, 8, 1.0), eff_dec=PatchPCADecoder(16, 8),
        C=StageC(c_text=d, **cfg["C"]), B=StageB(c_text=d, **cfg["B"]),
    )
    m["C_ema"] = copy.deepcopy(m["C"])
    m["B_ema"] = copy.deepcopy(m["B"])
    for k in ("C_ema", "B_ema"):
        for p in m[k].parameters():
            p.requires_grad_(False)
    return m


def parse_targets(scenes, caps):
    B = len(scenes)
    bg = torch.full((B,), len(BG_NAMES), dtype=torch.long)
    col = torch.zeros(B, len(POS_NAMES), dtype=torch.long)
    shp = torch.zeros(B, len(POS_NAMES), dtype=torch.long)
    for i, (s, c) in enumerate(zip(scenes, caps)):
        if "background" in c:
            bg[i] = BG_NAMES.index(s["background"])
        for o in s["objects"]:
            p = POS_NAMES.index(o["position"])
            col[i, p] = COLOR_NAMES.index(o["color"]) + 1
            shp[i, p] = SHAPES.index(o["shape"]) + 1
    return bg, col, shp


def token_targets(tok, ids, scenes):
    """(batch, position) of every position word ("left", "top", ...) and its object's colour and shape."""
    pos_ids = {tok.vocab[POS_PHRASE[p].split()[-1] + "</w>"]: p for p in POS_NAMES}
    bi, si, col, shp = [], [], [], []
    for i, sc in enumerate(scenes):
        for j in range(ids.shape[1]):
            p = pos_ids.get(int(ids[i, j]))
            for o in sc["objects"] if p else []:
                if o["position"] == p:
                    bi.append(i), si.append(j)
                    col.append(COLOR_NAMES.index(o["color"])), shp.append(SHAPES.index(o["shape"]))
    return torch.tensor(bi), torch.tensor(si), torch.tensor(col), torch.tensor(shp)


def _only_new_parameters(model, sd):
    """True when the checkpoint's tensors all fit the model and the model merely has more of them."""
    own = model.state_dict()
    return all(k in own and own[k].shape == v.shape for k, v in sd.items())


def object_weight(x, cell, extra):
    """[B,1,H/cell,W/cell] loss weights: 1 + extra on cells holding pixels unlike the image's background."""
    bg = x.flatten(2).median(dim=2).values[:, :, None, None]
    obj = ((x - bg).abs().amax(1, keepdim=True) > 0.05).float()
    return 1 + extra * (F.max_pool2d(obj, cell) > 0).float()


def lr_at(base, frac, warm=0.03):
    if frac < warm:
        return base * (0.1 + 0.9 * frac / warm)
    if frac < 0.75:
        return base
    return base * max(0.1, 1 - (frac - 0.75) / 0.25 * 0.9)


def set_lr(opt, lr):
    for g in opt.param_groups:
        g["lr"] = lr


@torch.no_grad()
def ema_update(ema, model, decay):
    for pe, pm in zip(ema.parameters(), model.parameters()):
        pe.mul_(decay).add_(pm.detach(), alpha=1 - decay)
    for be, bm in zip(ema.buffers(), model.buffers()):
        be.copy_(bm)


@torch.no_grad()
def encode_text(te, tok, caps):
    ids, mask = tok.encode_batch(caps)
    pooled, last, hs = te(ids, mask)
    return pooled[:, None, :], hs[-1]


def save(path, state):
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "checkpoints", "main.pt"))
    ap.add_argument("--text-min", type=float, default=10.0)
    ap.add_argument("--cb-min", type=float, default=86.0)
    ap.add_argument("--a-more-min", type=float, default=14.0,
                    help="minutes of further Stage A autoencoder steps inside the C/B phase (in place of B steps)")
    ap.add_argument("--a-every", type=int, default=3)
    ap.add_argument("--b-every", type=int, default=2, help="Stage B steps: one per this many Stage C steps")
    ap.add_argument("--parts", default="cba",
                    help="which of Stage C (c), Stage B (b) and the Stage A decoder (a) this run trains: two processes "
                         "with one thread each can train c and ba side by side into separate checkpoints (merge.py)")
    ap.add_argument("--obj-weight", type=float, default=3.0,
                    help="extra loss weight on latent cells that hold object pixels (objects are a few percent of "
                         "the area, so an unweighted loss learns backgrounds first and objects late)")
    ap.add_argument("--p-single", type=float, default=0.45,
                    help="share of one-object scenes (fewer of them train the prior to bind colours to places)")
    ap.add_argument("--lr-c", type=float, default=8e-4, help="Stage C's peak learning rate")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--save-every", type=float, default=120.0, help="seconds")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = SMOKE if args.smoke else FULL
    if args.smoke:
        args.text_min = args.text_min if args.text_min < 0.2 else 0.05
        args.cb_min = args.cb_min if args.cb_min < 0.2 else 0.1
    tok = Tokenizer()
    os.makedirs(os.path.dirname(os.path.abspath(args.ckpt)), exist_ok=True)
    m = build(cfg, tok.size)
    state = dict(cfg=cfg, elapsed=dict(text=0.0, ae=0.0, cb=0.0), steps=dict(text=0, ae=0, c=0, b=0), a_scale=None,
                 opt={})
    if os.path.exists(args.ckpt):
        ck = torch.load(args.ckpt)
        for k in m:
            if k in ck["models"]:
                try:
                    m[k].load_state_dict(ck["models"][k])
                except RuntimeError as e:
                    missing, unexpected = m[k].load_state_dict(ck["models"][k], strict=False) \
                        if _only_new_parameters(m[k], ck["models"][k]) else (None, None)
                    if missing is None:
                        print(f"  {k}: checkpoint does not fit the model, starting it fresh ({str(e)[:80]})")
                    else:
                        print(f"  {k}: new parameters start from their initialisation: {', '.join(missing)}")
        state = {k: v for k, v in ck.items() if k != "models"}
        print(f"resumed {args.ckpt}: elapsed {state['elapsed']} steps {state['steps']}", flush=True)
    for k, v in m.items():
        print(f"  {k}: {n_params(v) / 1e6:.3f}M params")
    seed = 1000 + sum(state["steps"].values())
    stream = SceneStream(seed=seed, p_single=args.p_single)
    random.seed(seed)
    torch.manual_seed(seed)

    def checkpoint():
        st = dict(state)
        st["models"] = {k: v.state_dict() for k, v in m.items()}
        save(args.ckpt, st)

    # ------------------------------------------------------------------ phase: text
    budget = args.text_min * 60
    if state["elapsed"]["text"] < budget:
        params = list(m["te"].parameters()) + list(m["parse"].parameters()) + list(m["tokhead"].parameters())
        opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01)
        if "text" in state["opt"]:
            opt.load_state_dict(state["opt"]["text"])
        t0, last_save = time.time() - state["elapsed"]["text"], time.time()
        while state["elapsed"]["text"] < budget:
            frac = state["elapsed"]["text"] / budget
            set_lr(opt, lr_at(1e-3, frac))
            _, caps, scenes = stream.batch(cfg["bs_text"])
            ids, mask = tok.encode_batch(caps)
            S = int(mask.sum(1).max()) + 1  # causal model: truncating the padding changes nothing before it
            pooled, _, hs = m["te"](ids[:, :S], mask[:, :S])
            pb, pc, ps = m["parse"](pooled)
            tb, tc, ts = parse_targets(scenes, caps)
            loss = F.cross_entropy(pb, tb) + F.cross_entropy(pc.reshape(-1, pc.shape[-1]), tc.reshape(-1)) \
                + F.cross_entropy(ps.reshape(-1, ps.shape[-1]), ts.reshape(-1))
            # token level: each position word carries its object's colour and shape (compositional binding)
            bi, si, tcol, tshp = token_targets(tok, ids[:, :S], scenes)
            if len(bi):
                th = m["tokhead"](hs[-1][bi, si])
                loss = loss + F.cross_entropy(th[:, :len(COLOR_NAMES)], tcol) + F.cross_entropy(th[:, len(COLOR_NAMES):], tshp)
            opt.zero_grad()
            loss.backward()
            opt.step()
            state["steps"]["text"] += 1
            state["elapsed"]["text"] = time.time() - t0
            if state["steps"]["text"] % 50 == 0:
                acc = ((pc.argmax(-1) == tc).all(-1) & (ps.argmax(-1) == ts).all(-1)).float().mean().item()
                print(f"[text] step {state['steps']['text']} t={state['elapsed']['text']:.0f}s loss {loss.item():.4f} "
                      f"scene-acc {acc:.3f}", flush=True)
        state["opt"]["text"] = opt.state_dict()
        checkpoint()
    for p in m["te"].parameters():
        p.requires_grad_(False)
    m["te"].eval()

    # ------------------------------------------------------------------ phase: pca
    # The EffNet stand-in and Stage A's encoder are fixed patch-PCA projections (whitened), fitted here.
    if not state.get("pca_done"):
        x, _, _ = SceneStream(seed=31337).batch(96 if args.smoke else 1200)
        ev = fit_patch_pca(x, m["eff_enc"], m["eff_dec"])
        ea = fit_patch_pca(x, m["ae_enc"])
        state["pca_done"] = True
        state["a_scale"] = A_SCALE
        print(f"[pca] effnet 8x8 patches -> 16 comps explains {ev:.4f}; stage A 4x4 -> 4 comps explains {ea:.4f}",
              flush=True)
        checkpoint()
    for k in ("ae_enc", "eff_enc", "eff_dec"):
        m[k].eval()
        for p in m[k].parameters():
            p.requires_grad_(False)

    # ------------------------------------------------------------------ phase: cb
    budget = args.cb_min * 60
    if state["elapsed"]["cb"] < budget:
        optC = torch.optim.AdamW(m["C"].parameters(), lr=8e-4, weight_decay=0.01, betas=(0.9, 0.99))
        optB = torch.optim.AdamW(m["B"].parameters(), lr=8e-4, weight_decay=0.01, betas=(0.9, 0.99))
        fresh_c = True
        if "C" in state["opt"]:
            try:
                optC.load_state_dict(state["opt"]["C"])
                fresh_c = False
            except ValueError:
                print("  Stage C optimiser state does not fit (new parameters): it restarts, with a warm-up", flush=True)
            optB.load_state_dict(state["opt"]["B"])
        c_run_steps = 0
        m["C"].train()
        m["B"].train()
        with torch.no_grad():
            _, empty_txt = encode_text(m["te"], tok, [""])
            empty_pooled, _ = encode_text(m["te"], tok, [""])
        state["elapsed"].setdefault("a_more", 0.0)
        state["steps"].setdefault("a_more", 0)
        a_params = list(m["ae_dec"].parameters())
        optA = torch.optim.AdamW(a_params, lr=1e-3)
        if "A_more" in state["opt"]:
            optA.load_state_dict(state["opt"]["A_more"])

        def a_step(x):
            for p in a_params:
                p.requires_grad_(True)
            m["ae_dec"].train()
            frac_a = state["elapsed"]["a_more"] / max(1e-6, args.a_more_min * 60)
            set_lr(optA, 1.5e-3 * max(0.1, 1 - frac_a * 0.9))
            with torch.no_grad():
                z = m["ae_enc"](x)
                z = z + torch.randn_like(z) * torch.rand(z.shape[0], 1, 1, 1) * 0.1 * A_SCALE
                w = object_weight(x, 1, 6)
            xr = m["ae_dec"](z)
            la = (w * ((xr - x).abs() + 4 * (xr - x) ** 2)).mean()
            optA.zero_grad()
            la.backward()
            torch.nn.utils.clip_grad_norm_(a_params, 1.0)
            optA.step()
            for p in a_params:
                p.requires_grad_(False)
            m["ae_dec"].eval()
            return -10 * math.log10(F.mse_loss(xr.detach().clamp(0, 1), x).item() + 1e-10)

        def diffusion_step(key, opt, latent, weight, predict):
            """One step of Stage C or B (key "C" / "B"): noise at a uniform t, the object-weighted epsilon
            loss, clipped AdamW, then the EMA copy. Returns the loss."""
            a, b, r = ab_r(torch.rand(latent.shape[0]), 1.0)
            noise = torch.randn_like(latent)
            pred = predict(a[:, None, None, None] * latent + b[:, None, None, None] * noise, r)
            loss = (weight * (pred - noise) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(m[key].parameters(), 1.0)
            opt.step()
            n = state["steps"][key.lower()] = state["steps"][key.lower()] + 1
            ema_update(m[key + "_ema"], m[key], min(0.999, (1 + n) / (10 + n)))
            return loss.item()

        t0, last_save = time.time() - state["elapsed"]["cb"], time.time()
        lc_avg = lb_avg = None
        a_psnr = None
        scale = state["a_scale"]
        it = 0
        while state["elapsed"]["cb"] < budget:
            frac = state["elapsed"]["cb"] / budget
            set_lr(optC, lr_at(args.lr_c, frac) * (min(1.0, (c_run_steps + 1) / 100) if fresh_c else 1.0))
            set_lr(optB, lr_at(6e-4, frac))
            bsc = cfg["bs_c"]
            if "c" not in args.parts:
                bsc = cfg["bs_b"]
            x, caps, _ = stream.batch(bsc)
            caps = ["" if random.random() < 0.1 else c for c in caps]
            with torch.no_grad():
                pooled, ctext = encode_text(m["te"], tok, caps)
                eff = m["eff_enc"](x)
            # Stage C
            if "c" in args.parts:
                lc = diffusion_step("C", optC, eff, object_weight(x, 8, args.obj_weight),
                                    lambda xt, r: m["C"](xt, r, pooled, ctext, torch.zeros(bsc, 1, 768)))
                c_run_steps += 1
                lc_avg = lc if lc_avg is None else 0.98 * lc_avg + 0.02 * lc
            # Stage A decoder (on the fixed PCA latents), while its budget lasts
            if "a" in args.parts and state["elapsed"]["a_more"] < args.a_more_min * 60 and it % args.a_every == 0:
                ta = time.time()
                ps_ = a_step(x[: cfg["bs_ae"]])
                a_psnr = ps_ if a_psnr is None else 0.95 * a_psnr + 0.05 * ps_
                state["elapsed"]["a_more"] += time.time() - ta
                state["steps"]["a_more"] += 1
            # Stage B
            if "b" in args.parts and it % args.b_every == 0:
                nb = cfg["bs_b"]
                xb = x[:nb]
                with torch.no_grad():
                    z = m["ae_enc"](xb) / scale
                    effb = eff[:nb].clone()
                    noisy = (torch.rand(nb) < 0.5).float()[:, None, None, None]
                    effb = effb + noisy * torch.randn_like(effb) * torch.rand(nb, 1, 1, 1) * 0.2
                    keep = (torch.rand(nb) >= 0.1).float()[:, None, None, None]
                    effb = effb * keep
                    pb = pooled[:nb].clone()
                    drop = torch.rand(nb) < 0.1
                    pb[drop] = empty_pooled[0]
                lb = diffusion_step("B", optB, z, object_weight(xb, 4, args.obj_weight),
                                    lambda zt, r: m["B"](zt, r, pb, effb))
                lb_avg = lb if lb_avg is None else 0.98 * lb_avg + 0.02 * lb
            it += 1
            state["elapsed"]["cb"] = time.time() - t0
            if it % 20 == 0:
                print(f"[cb] C step {state['steps']['c']} B step {state['steps']['b']} "
                      f"A+ step {state['steps']['a_more']} t={state['elapsed']['cb']:.0f}s "
                      f"lossC {lc_avg if lc_avg is None else round(lc_avg, 4)} lossB {lb_avg if lb_avg is None else round(lb_avg, 4)} "
                      f"A psnr {a_psnr if a_psnr is None else round(a_psnr, 2)}", flush=True)
            if time.time() - last_save > args.save_every:
                state["opt"]["A_more"] = optA.state_dict()
                state["opt"]["C"] = optC.state_dict()
                state["opt"]["B"] = optB.state_dict()
                checkpoint()
                last_save = time.time()
        state["opt"]["C"] = optC.state_dict()
        state["opt"]["B"] = optB.state_dict()
        state["opt"]["A_more"] = optA.state_dict()
        checkpoint()
    print("training done", state["steps"], flush=True)


if __name__ == "__main__":
    main()
