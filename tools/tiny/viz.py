"""Saves a PNG grid: real scenes, Stage A reconstructions, EffNet-AE reconstructions, and optional samples."""
import sys, os
import torch
from PIL import Image
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export import load
from data import SceneStream
torch.set_num_threads(1)
ck, tok, m = load(sys.argv[1])
x, caps, _ = SceneStream(seed=5).batch(8)
with torch.no_grad():
    a = m["ae_dec"](m["ae_enc"](x)).clamp(0, 1)
    e = m["eff_dec"](m["eff_enc"](x)).clamp(0, 1)
rows = [x, a, e]
if len(sys.argv) > 3:
    raw = open(sys.argv[3], "rb").read()
    n = min(8, len(raw) // (64 * 64 * 3))
    g = torch.frombuffer(bytearray(raw[: n * 64 * 64 * 3]), dtype=torch.uint8).view(n, 64, 64, 3).permute(0, 3, 1, 2).float() / 255
    rows.append(torch.cat([g, torch.zeros(8 - n, 3, 64, 64)]))
grid = torch.cat([torch.cat(list(r), dim=2) for r in rows], dim=1)
Image.fromarray((grid.permute(1, 2, 0) * 255).round().byte().numpy()).resize((grid.shape[2] * 2, grid.shape[1] * 2), Image.NEAREST).save(sys.argv[2])
