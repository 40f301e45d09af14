"""Reference DDPM sampler (CASCADE.md) over a checkpoint, and the held-out evaluation.

usage: python3 sample.py --ckpt checkpoints/main.pt --out /tmp/ev [--cfg-c 4 --steps-c 20 ...] [--limit N]
Writes <out>.bin (N x 64 x 64 x 3 uint8) and <out>.json (the expectations), then scores them with
bench/scorer.ts through tools/tiny/score.ts (node + tsx).
"""
import argparse
import json
import os
import subprocess
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from export import load  # noqa: E402
from models import ab_r  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))


def ddpm(model_fn, shape, steps, shift, cfg, gen, t_start=1.0, x_init=None):
    """model_fn(x, r, cond: bool) -> eps. Returns the x0 of the last step."""
    x = torch.randn(shape, generator=gen) if x_init is None else x_init
    ts = torch.linspace(t_start, 0, steps + 1)
    x0 = x
    for i in range(steps):
        t, tn = ts[i:i + 1], ts[i + 1:i + 2]
        a, b, r = ab_r(t, shift)
        an, bn, _ = ab_r(tn, shift)
        rb = r.expand(shape[0])
        if cfg == 1.0:
            eps = model_fn(x, rb, True)
        else:
            eu, ec = model_fn(torch.cat([x, x]), torch.cat([rb, rb]), None).chunk(2)
            eps = eu + cfg * (ec - eu)
        x0 = (x - b * eps) / a
        sigma = (bn / b) * torch.sqrt(torch.clamp(1 - a ** 2 / an ** 2, min=0))
        x = an * x0 + torch.sqrt(torch.clamp(bn ** 2 - sigma ** 2, min=0)) * eps + sigma * torch.randn(shape, generator=gen)
    return x0


@torch.no_grad()
def generate(m, tok, scale, prompts, seed=0, steps_c=20, cfg_c=4.0, shift_c=2.0, steps_b=10, cfg_b=1.1, shift_b=1.0,
             size=64, batch=32, mode="full", real=None, ema=True):
    """mode: full (text -> C -> B -> A), c_only (C latent through the EffNet decoder),
    recon (real images -> EffNet -> B -> A: the B/A ceiling), a_only (real images -> Stage A encoder -> decoder)."""
    te, dec = m["te"], m["ae_dec"]
    C, B = (m["C_ema"], m["B_ema"]) if ema else (m["C"], m["B"])
    ids, mask = tok.encode_batch([""])
    up, _, uh = te(ids, mask)
    u_pool, u_txt = up[:, None], uh[-1]
    outs = []
    gen = torch.Generator().manual_seed(seed)
    for s in range(0, len(prompts), batch):
        ps = prompts[s:s + batch]
        n = len(ps)
        ids, mask = tok.encode_batch(ps)
        cp, _, ch = te(ids, mask)
        c_pool, c_txt = cp[:, None], ch[-1]
        pool2 = torch.cat([u_pool.expand(n, -1, -1), c_pool])
        txt2 = torch.cat([u_txt.expand(n, -1, -1), c_txt])
        img0 = torch.zeros(2 * n, 1, 768)

        def fc(x, r, cond):
            if cond is None:
                return C(x, r, pool2, txt2, img0)
            return C(x, r, c_pool, c_txt, img0[:n])

        if mode == "a_only":
            outs.append(dec(m["ae_enc"](real[s:s + batch])).clamp(0, 1))
            continue
        if mode == "recon":
            lat_c = m["eff_enc"](real[s:s + batch])
        else:
            lat_c = ddpm(fc, (n, 16, size // 8, size // 8), steps_c, shift_c, cfg_c, gen)
        if mode == "c_only":
            outs.append(m["eff_dec"](lat_c).clamp(0, 1))
            continue
        eff2 = torch.cat([torch.zeros_like(lat_c), lat_c])

        def fb(x, r, cond):
            if cond is None:
                return B(x, r, pool2, eff2)
            return B(x, r, c_pool, lat_c)

        lat_b = ddpm(fb, (n, 4, size // 4, size // 4), steps_b, shift_b, cfg_b, gen)
        outs.append(dec(lat_b * scale).clamp(0, 1))
    return torch.cat(outs)


def write_images(imgs, path):
    u8 = (imgs * 255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()
    with open(path, "wb") as f:
        f.write(u8.numpy().tobytes())


def score(base, size=64):
    r = subprocess.run(["node", "--import", "tsx", os.path.join(HERE, "score.ts"), base, str(size)], cwd=ROOT,
                       capture_output=True, text=True)
    return r.stdout.strip() + (("\n" + r.stderr.strip()) if r.returncode else "")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default=os.path.join(HERE, "checkpoints", "main.pt"))
    ap.add_argument("--out", default="/tmp/tiny_eval")
    ap.add_argument("--prompts", default=os.path.join(ROOT, "bench", "heldout-prompts.json"))
    ap.add_argument("--steps-c", type=int, default=20)
    ap.add_argument("--cfg-c", type=float, nargs="+", default=[4.0])
    ap.add_argument("--shift-c", type=float, default=2.0)
    ap.add_argument("--steps-b", type=int, default=10)
    ap.add_argument("--cfg-b", type=float, default=1.1)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--mode", default="full", choices=["full", "c_only", "recon", "a_only"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--raw", action="store_true", help="the raw (not EMA) weights of Stage C and B")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ck, tok, m = load(args.ckpt)
    items = json.load(open(args.prompts))
    if args.limit:
        items = items[:args.limit]
    with open(args.out + ".json", "w") as f:
        json.dump(items, f)
    real = None
    if args.mode in ("recon", "a_only"):
        import random as _r
        from data import JITTER, R_MAX, R_MIN, render
        rng = _r.Random(args.seed)
        real = torch.stack([render({"background": i["background"], "objects": [
            dict(o, dx=rng.uniform(-JITTER, JITTER), dy=rng.uniform(-JITTER, JITTER), r=rng.uniform(R_MIN, R_MAX))
            for o in i["objects"]]}) for i in items])
    for cfg in args.cfg_c:
        t = time.time()
        imgs = generate(m, tok, ck["a_scale"], [i["prompt"] for i in items], seed=args.seed, steps_c=args.steps_c,
                        cfg_c=cfg, shift_c=args.shift_c, steps_b=args.steps_b, cfg_b=args.cfg_b, mode=args.mode,
                        real=real, ema=not args.raw)
        base = f"{args.out}"
        write_images(imgs, base + ".bin")
        print(f"[{args.mode}] cfg {cfg} steps C {args.steps_c} B {args.steps_b} ({time.time() - t:.0f}s, steps {ck['steps']}):\n"
              + score(base), flush=True)


if __name__ == "__main__":
    main()
