"""More EffNet-autoencoder steps on a checkpoint (standalone; merged back by merge step)."""
import math, os, sys, time
import torch
import torch.nn.functional as F
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import SceneStream
from tokenizer import Tokenizer
from train import FULL, build
torch.set_num_threads(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
src, dst, minutes = sys.argv[1], sys.argv[2], float(sys.argv[3])
m = build(FULL, Tokenizer().size)
ck = torch.load(src)
enc, dec = m["eff_enc"], m["eff_dec"]
enc.load_state_dict(ck["models"]["eff_enc"]); dec.load_state_dict(ck["models"]["eff_dec"])
params = list(enc.parameters()) + list(dec.parameters())
opt = torch.optim.AdamW(params, lr=1.5e-3)
stream = SceneStream(seed=4242)
enc.train(); dec.train()
t0 = time.time(); step = 0
while time.time() - t0 < minutes * 60:
    frac = (time.time() - t0) / (minutes * 60)
    for g in opt.param_groups: g["lr"] = 1.5e-3 * (1 - 0.8 * frac)
    x, _, _ = stream.batch(32)
    e = enc(x)
    xe = dec(e + torch.randn_like(e) * torch.rand(e.shape[0], 1, 1, 1) * 0.3)
    loss = F.l1_loss(xe, x) + F.mse_loss(xe, x) * 4
    opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(params, 1.0); opt.step(); step += 1
    if step % 25 == 0:
        print(f"[eff] step {step} t={time.time()-t0:.0f}s psnr {-10*math.log10(F.mse_loss(xe.clamp(0,1), x).item()):.2f}", flush=True)
with torch.no_grad():
    bn = enc.norm; bn.reset_running_stats(); bn.momentum = None
    for _ in range(30): enc(stream.batch(64)[0])
    bn.momentum = 0.01
torch.save({"eff_enc": enc.state_dict(), "eff_dec": dec.state_dict()}, dst)
print("done", step, flush=True)
