"""Merges the checkpoints of runs that trained different parts side by side (train.py --parts) into one.

usage: python3 merge.py --out checkpoints/final.pt --c checkpoints/runC.pt --ba checkpoints/runBA.pt
Stage C (weights, EMA, optimiser, step count) comes from --c; Stage B and the Stage A decoder from
--ba; everything the runs share (text encoder, fixed PCA encoders) from --c.
"""
import argparse

import torch

ap = argparse.ArgumentParser()
ap.add_argument("--c", required=True)
ap.add_argument("--ba", required=True)
ap.add_argument("--out", required=True)
args = ap.parse_args()

ck = torch.load(args.c)
ba = torch.load(args.ba)
for k in ("B", "B_ema", "ae_dec"):
    ck["models"][k] = ba["models"][k]
for k in ("B", "A_more"):
    if k in ba["opt"]:
        ck["opt"][k] = ba["opt"][k]
for k in ("b", "a_more"):
    ck["steps"][k] = ba["steps"][k]
ck["elapsed"]["a_more"] = ba["elapsed"]["a_more"]
ck["elapsed"]["cb"] = max(ck["elapsed"]["cb"], ba["elapsed"]["cb"])
torch.save(ck, args.out)
print("merged", ck["elapsed"], ck["steps"])
