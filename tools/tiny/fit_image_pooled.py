"""Fits the prior's image pooled path (models.StageC img_pooled): an MLP without biases from an image
prompt's embedding (the CLIP vision stand-in's, summed over the images) to what the scene's caption
adds to the pooled text over the empty prompt's. Stage C reads the pooled text in its modulation,
its pooled tokens and its layout, so an image prompt then conditions it as the caption would.

Regression, not diffusion: the target is the shipped text encoder's own output, so Stage C itself is
left as it ships. A third of the two-object scenes come as two images (one object each, embeddings
summed, as several image prompts sum in the prior): their target is the whole scene's caption.

usage: python3 fit_image_pooled.py --pack ../../models/tiny --out /tmp/image_pooled.pt
       python3 export.py --from-pack ../../models/tiny --extras CKPT --keep-stage-c --image-pooled /tmp/image_pooled.pt --out /tmp/pack
"""
import argparse
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import SceneStream, render  # noqa: E402
from models import StageC, TinyClipVision, clip_vision_input  # noqa: E402
from onnx_weights import load_shipped  # noqa: E402


@torch.no_grad()
def dataset(te, tok, clipv, n, seed, p_two=0.33):
    stream = SceneStream(seed=seed)
    gen = torch.Generator().manual_seed(seed)
    e_ids, e_mask = tok.encode_batch([""])
    base = te(e_ids, e_mask)[0]
    X, Y = [], []
    while sum(x.shape[0] for x in X) < n:
        x, caps, scenes = stream.batch(64, p_nobg=0.0)
        ids, mask = tok.encode_batch(caps)
        Y.append(te(ids, mask)[0] - base)
        emb = clipv(clip_vision_input(x))[0]
        for i, sc in enumerate(scenes):
            if len(sc["objects"]) == 2 and torch.rand(1, generator=gen).item() < p_two:
                parts = torch.stack([render({"background": sc["background"], "objects": [o]}) for o in sc["objects"]])
                emb[i] = clipv(clip_vision_input(parts))[0].sum(0)
        X.append(emb)
        done = sum(x.shape[0] for x in X)
        if done % 1024 == 0:
            print(f"  {done} scenes", flush=True)
    return torch.cat(X)[:n], torch.cat(Y)[:n]


def r2(pred, y):
    return 1 - float(((pred - y) ** 2).sum() / ((y - y.mean(0)) ** 2).sum())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pack", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models", "tiny"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--scenes", type=int, default=4096)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.time()
    shipped = load_shipped(args.pack)
    te, tok = shipped["te"], shipped["tok"]
    clipv = TinyClipVision()
    X, Y = dataset(te, tok, clipv, args.scenes, seed=2024)
    Xv, Yv = dataset(te, tok, clipv, 512, seed=4048)
    print(f"{X.shape[0]} + {Xv.shape[0]} scenes in {time.time() - t0:.0f}s", flush=True)
    mapper = StageC(c_text=te.d, img_pooled=True, depth=1).img_pooled_mapper
    torch.nn.init.normal_(mapper[4].weight, std=1e-3)
    opt = torch.optim.Adam(mapper.parameters(), 1e-3)
    gen = torch.Generator().manual_seed(0)
    for it in range(args.steps):
        for pg in opt.param_groups:
            pg["lr"] = 1e-3 * (1 if it < args.steps * 0.6 else max(0.05, 1 - (it - args.steps * 0.6) / (args.steps * 0.4)))
        idx = torch.randint(0, X.shape[0], (256,), generator=gen)
        loss = ((mapper(X[idx]) - Y[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (it + 1) % 500 == 0:
            with torch.no_grad():
                print(f"step {it + 1} train loss {loss.item():.4f} held-out R^2 {r2(mapper(Xv), Yv):.3f}", flush=True)
    with torch.no_grad():
        report = {"scenes": X.shape[0], "steps": args.steps, "heldout_r2": round(r2(mapper(Xv), Yv), 4),
                  "params": sum(p.numel() for p in mapper.parameters())}
    print(report, f"{time.time() - t0:.0f}s", flush=True)
    torch.save({"mapper": mapper.state_dict(), "report": report}, args.out)


if __name__ == "__main__":
    main()
