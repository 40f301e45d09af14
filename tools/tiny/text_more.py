"""Extra text-encoder training (pooled scene parse + token-level binding at position words), run
beside the AE phase; the result is merged into the main checkpoint before Stage C/B training."""
import json, os, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import COLOR_NAMES, POS_NAMES, SHAPES, SceneStream, POS_PHRASE
from tokenizer import Tokenizer
from train import FULL, build, parse_targets

torch.set_num_threads(1)
src, dst, minutes = sys.argv[1], sys.argv[2], float(sys.argv[3])
tok = Tokenizer()
m = build(FULL, tok.size)
ck = torch.load(src)
m["te"].load_state_dict(ck["models"]["te"])
m["parse"].load_state_dict(ck["models"]["parse"])
te, parse = m["te"], m["parse"]
d = FULL["text"]["d"]
tok_head = nn.Linear(d, len(COLOR_NAMES) + len(SHAPES))
pos_ids = {tok.vocab[w + "</w>"]: POS_NAMES.index(p) for p, w in
           [(p, POS_PHRASE[p].split()[-1]) for p in POS_NAMES]}
params = list(te.parameters()) + list(parse.parameters()) + list(tok_head.parameters())
opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.05)
items = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench", "heldout-prompts.json")))
hcaps = [i["prompt"] for i in items]
hids, hmask = tok.encode_batch(hcaps)
htb, htc, hts = parse_targets(items, hcaps)

def held():
    te.eval()
    with torch.no_grad():
        p, _, _ = te(hids, hmask)
        pb, pc, ps = parse(p)
    te.train()
    ok = (pc.argmax(-1) == htc).all(-1) & (ps.argmax(-1) == hts).all(-1) & (pb.argmax(-1) == htb)
    return ok[:47].float().mean().item(), ok[47:].float().mean().item()

stream = SceneStream(seed=777)
t0 = time.time(); step = 0
while time.time() - t0 < minutes * 60:
    frac = (time.time() - t0) / (minutes * 60)
    for g in opt.param_groups: g["lr"] = 1e-3 * (1 - 0.8 * frac)
    _, caps, scenes = stream.batch(96)
    ids, mask = tok.encode_batch(caps)
    S = int(mask.sum(1).max()) + 1
    ids, mask = ids[:, :S], mask[:, :S]
    pooled, last, hs = te(ids, mask)
    pb, pc, ps = parse(pooled)
    tb, tc, ts = parse_targets(scenes, caps)
    loss = F.cross_entropy(pb, tb) + F.cross_entropy(pc.reshape(-1, pc.shape[-1]), tc.reshape(-1)) \
        + F.cross_entropy(ps.reshape(-1, ps.shape[-1]), ts.reshape(-1))
    # token-level: at each position word, predict that object's colour and shape
    hsel, tcol, tshp = [], [], []
    for i, sc in enumerate(scenes):
        for j in range(S):
            pid = pos_ids.get(int(ids[i, j]))
            if pid is None: continue
            for o in sc["objects"]:
                if POS_NAMES.index(o["position"]) == pid:
                    hsel.append(hs[-1][i, j]); tcol.append(COLOR_NAMES.index(o["color"])); tshp.append(SHAPES.index(o["shape"]))
    if hsel:
        out = tok_head(torch.stack(hsel))
        loss = loss + F.cross_entropy(out[:, :len(COLOR_NAMES)], torch.tensor(tcol)) + F.cross_entropy(out[:, len(COLOR_NAMES):], torch.tensor(tshp))
    opt.zero_grad(); loss.backward(); opt.step(); step += 1
    if step % 50 == 0:
        print(f"step {step} t={time.time()-t0:.0f}s loss {loss.item():.4f} heldout single/pair {held()}", flush=True)
        torch.save({"te": te.state_dict(), "parse": parse.state_dict()}, dst)
torch.save({"te": te.state_dict(), "parse": parse.state_dict()}, dst)
print("done", held(), flush=True)
