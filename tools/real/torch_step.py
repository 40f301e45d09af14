#!/usr/bin/env python3
"""One diffusion step of Stage C or Stage B in PyTorch eager, on the same random weights the
exporter writes (same seed, same code): the framework side of bench/real.bench.ts. Counts the
step's floating-point operations (multiply-adds of every Linear, Conv and attention product, x2)
with forward hooks on the warm-up run. Prints one JSON line.

Run: /usr/bin/python3 tools/real/torch_step.py --model stage_c|stage_b --size lite --image 1024 --steps 3
"""
import argparse
import json
import math
import os
import resource
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import configs  # noqa: E402
from build import build  # noqa: E402


def step_inputs(model, size, image):
    g = torch.Generator().manual_seed(0)
    if model == "stage_c":
        c = configs.STAGE_C[size]
        h = math.ceil(image / 42.67)
        return dict(sample=torch.randn(2, 16, h, h, generator=g), timestep_ratio=torch.full((2,), 0.5),
                    clip_text_pooled=torch.randn(2, 1, c.get("c_clip_text_pooled", 1280), generator=g),
                    clip_text=torch.randn(2, 77, c.get("c_clip_text", 1280), generator=g), clip_img=torch.zeros(2, 1, 768))
    b = configs.STAGE_B[size]
    return dict(sample=torch.randn(2, 4, image // 4, image // 4, generator=g), timestep_ratio=torch.full((2,), 0.5),
                clip_text_pooled=torch.randn(2, 1, b.get("c_clip", 1280), generator=g),
                effnet=torch.randn(2, 16, math.ceil(image / 42.67), math.ceil(image / 42.67), generator=g))


def count_flops(net, inputs):
    total = [0]

    def linear(m, inp, out):
        total[0] += 2 * inp[0].numel() // inp[0].shape[-1] * m.in_features * m.out_features

    def conv(m, inp, out):
        k = m.kernel_size[0] * m.kernel_size[1]
        total[0] += 2 * out.numel() * (m.in_channels // m.groups) * k

    def convt(m, inp, out):
        k = m.kernel_size[0] * m.kernel_size[1]
        total[0] += 2 * inp[0].numel() * (m.out_channels // m.groups) * k

    def mha(m, inp, out):
        q, kv = inp[0], inp[1]
        b, lq, d = q.shape
        lk = kv.shape[1]
        # projections (q from lq tokens, k and v from lk), QK^T and AV, output projection
        total[0] += 2 * b * d * d * (lq + 2 * lk) + 2 * 2 * b * lq * lk * d + 2 * b * lq * d * d

    hooks = []
    for m in net.modules():
        if isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear))
        elif isinstance(m, nn.ConvTranspose2d):
            hooks.append(m.register_forward_hook(convt))
        elif isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv))
        elif isinstance(m, nn.MultiheadAttention):
            hooks.append(m.register_forward_hook(mha))
    with torch.no_grad():
        net(**inputs)
    for h in hooks:
        h.remove()
    return total[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["stage_c", "stage_b"], required=True)
    ap.add_argument("--size", default="lite")
    ap.add_argument("--image", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    t = time.perf_counter()
    net = build(a.model, a.size, seed=0)
    build_ms = (time.perf_counter() - t) * 1000
    inputs = step_inputs(a.model, a.size, a.image)
    flops = count_flops(net, inputs)  # also the warm-up run
    times = []
    with torch.no_grad():
        for _ in range(a.steps):
            t = time.perf_counter()
            out = net(**inputs)
            times.append((time.perf_counter() - t) * 1000)
    print(json.dumps(dict(engine="pytorch", model=a.model, size=a.size, image=a.image, stepMs=times, buildMs=build_ms, flops=flops,
                          peakRssBytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, threads=a.threads,
                          outMean=float(out.abs().mean()), torch=torch.__version__)))


if __name__ == "__main__":
    main()
