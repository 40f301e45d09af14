"""One Stage C and one Stage B step (a CFG batch of two) in PyTorch, timed: the framework side of
bench/torch-compare.ts. Loads the tiny pack's training checkpoint (tools/tiny/checkpoints/final.pt),
i.e. the weights models/tiny was exported from. Prints one JSON line.

usage: /usr/bin/python3 bench/torch/step_torch.py --threads N [--runs 30] [--ckpt PATH]
"""
import argparse
import json
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools", "tiny"))
from export import load  # noqa: E402
from tokenizer import MAX_LEN  # noqa: E402


def timed(fn, runs):
    for _ in range(3):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return times[len(times) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--ckpt", default=os.path.join(HERE, "..", "..", "tools", "tiny", "checkpoints", "final.pt"))
    ap.add_argument("--size", type=int, default=8, help="Stage C latent side (Stage B is 2x)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ck, _tok, m = load(args.ckpt)
    D = ck["cfg"]["text"]["d"]
    h = args.size
    g = torch.Generator().manual_seed(0)
    xc = torch.randn(2, 16, h, h, generator=g)
    r = torch.full((2,), 0.5)
    pooled = torch.randn(2, 1, D, generator=g)
    text = torch.randn(2, MAX_LEN, D, generator=g)
    img = torch.zeros(2, 1, 768)
    xb = torch.randn(2, 4, 2 * h, 2 * h, generator=g)
    with torch.no_grad():
        c_ms = timed(lambda: m["C_ema"](xc, r, pooled, text, img), args.runs)
        b_ms = timed(lambda: m["B_ema"](xb, r, pooled, xc), args.runs)
    blas = "unknown"
    try:
        blas = "openblas" if "openblas" in torch.__config__.show().lower() or os.path.exists("/usr/lib/x86_64-linux-gnu/openblas-pthread") else "reference"
    except Exception:
        pass
    print(json.dumps({"torch": torch.__version__, "threads": args.threads, "blas": blas, "stageCMs": c_ms, "stageBMs": b_ms, "textDim": D}))


if __name__ == "__main__":
    main()
