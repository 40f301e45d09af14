"""Dumps Python-rendered scenes for tools/tiny/render_check.ts (checks bench/scorer.ts renders alike)."""
import json
import random
import sys

import torch

from data import render, sample_scene

rng = random.Random(5)
scenes = [sample_scene(rng, allow_heldout=True) for _ in range(200)]
imgs = torch.stack([render(s, 64) for s in scenes])
u8 = (imgs * 255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()
out = sys.argv[1]
open(out + ".bin", "wb").write(u8.numpy().tobytes())
json.dump(scenes, open(out + ".json", "w"))
