"""Synthetic captioned scenes of coloured shapes (the tiny pack's training data).

The geometry here is mirrored exactly by renderScene() in bench/scorer.ts: keep them in sync.
All coordinates are in units of a 64-pixel canvas and scaled by size/64.
"""
import json
import math
import random

import torch

COLORS = {
    "red": (220, 30, 30),
    "green": (30, 170, 50),
    "blue": (30, 60, 220),
    "yellow": (240, 220, 30),
    "purple": (150, 50, 200),
    "orange": (250, 130, 20),
    "white": (245, 245, 245),
    "black": (15, 15, 15),
}
BACKGROUNDS = {
    "gray": (128, 128, 128),
    "white": (245, 245, 245),
    "black": (15, 15, 15),
}
COLOR_NAMES = list(COLORS)
BG_NAMES = list(BACKGROUNDS)
SHAPES = ["circle", "square", "triangle"]
POSITIONS = {
    "left": (13.0, 32.0),
    "right": (51.0, 32.0),
    "top": (32.0, 13.0),
    "bottom": (32.0, 51.0),
    "center": (32.0, 32.0),
}
POS_NAMES = list(POSITIONS)
POS_PHRASE = {
    "left": "on the left",
    "right": "on the right",
    "top": "at the top",
    "bottom": "at the bottom",
    "center": "in the center",
}
R_MIN, R_MAX = 6.0, 8.5
JITTER = 1.5


def is_heldout(color, shape, position):
    """Colour+shape+position triples never rendered in training."""
    ci, si, pi = COLOR_NAMES.index(color), SHAPES.index(shape), POS_NAMES.index(position)
    return (ci + 2 * si + 3 * pi) % 7 == 3


def triple_index(o):
    return (COLOR_NAMES.index(o["color"]) * len(SHAPES) + SHAPES.index(o["shape"])) * len(POS_NAMES) \
        + POS_NAMES.index(o["position"])


def is_heldout_pair(o1, o2):
    """Pairs of (training) objects never shown together in training."""
    i, j = sorted((triple_index(o1), triple_index(o2)))
    return (i * 131 + j * 71) % 9 == 4


HELDOUT_TRIPLES = [(c, s, p) for c in COLOR_NAMES for s in SHAPES for p in POS_NAMES if is_heldout(c, s, p)]


def caption(scene, rng=None, with_bg=True, comma=False):
    parts = [f"a {o['color']} {o['shape']} {POS_PHRASE[o['position']]}" for o in scene["objects"]]
    text = " and ".join(parts)
    if with_bg:
        text += ("," if comma else "") + f" on a {scene['background']} background"
    return text


def sample_scene(rng, allow_heldout=False, n_objects=None, p_single=0.45):
    while True:
        n = n_objects or (1 if rng.random() < p_single else 2)
        bg = rng.choice(BG_NAMES)
        colors = [c for c in COLOR_NAMES if c != bg]
        cs = rng.sample(colors, n)
        ps = rng.sample(POS_NAMES, n)
        objs = []
        for c, p in zip(cs, ps):
            objs.append({"color": c, "shape": rng.choice(SHAPES), "position": p})
        if not allow_heldout and any(is_heldout(o["color"], o["shape"], o["position"]) for o in objs):
            continue
        if not allow_heldout and len(objs) == 2 and is_heldout_pair(objs[0], objs[1]):
            continue
        for o in objs:
            o["dx"] = rng.uniform(-JITTER, JITTER)
            o["dy"] = rng.uniform(-JITTER, JITTER)
            o["r"] = rng.uniform(R_MIN, R_MAX)
        return {"background": bg, "objects": objs}


def shape_mask(shape, cx, cy, r, px, py):
    """px, py: pixel-centre coordinates in 64-px units (tensors). Mirrors bench/scorer.ts."""
    if shape == "circle":
        return (px - cx) ** 2 + (py - cy) ** 2 <= r * r
    if shape == "square":
        h = 0.9 * r
        return ((px - cx).abs() <= h) & ((py - cy).abs() <= h)
    # triangle, apex up
    y0 = cy - 1.1 * r
    y1 = cy + 1.0 * r
    w = 1.15 * r
    t = (py - y0) / (y1 - y0)
    return (py >= y0) & (py <= y1) & ((px - cx).abs() <= w * t)


def render(scene, size=64):
    """-> float tensor [3,size,size] in [0,1]."""
    k = 64.0 / size
    idx = torch.arange(size, dtype=torch.float64)
    py = ((idx + 0.5) * k).view(size, 1).expand(size, size)
    px = ((idx + 0.5) * k).view(1, size).expand(size, size)
    img = torch.empty(3, size, size, dtype=torch.float64)
    bg = BACKGROUNDS[scene["background"]]
    for ch in range(3):
        img[ch].fill_(bg[ch])
    for o in scene["objects"]:
        cx0, cy0 = POSITIONS[o["position"]]
        m = shape_mask(o["shape"], cx0 + o.get("dx", 0.0), cy0 + o.get("dy", 0.0), o.get("r", (R_MIN + R_MAX) / 2), px, py)
        col = COLORS[o["color"]]
        for ch in range(3):
            img[ch][m] = col[ch]
    return (img / 255.0).float()


class SceneStream:
    def __init__(self, seed=0, size=64, p_single=0.45):
        self.rng = random.Random(seed)
        self.size = size
        self.p_single = p_single

    def batch(self, n, p_nobg=0.15, p_comma=0.3):
        scenes, caps, imgs = [], [], []
        for _ in range(n):
            s = sample_scene(self.rng, p_single=self.p_single)
            scenes.append(s)
            caps.append(caption(s, with_bg=self.rng.random() >= p_nobg, comma=self.rng.random() < p_comma))
            imgs.append(render(s, self.size))
        return torch.stack(imgs), caps, scenes


def heldout_prompts(seed=1234):
    rng = random.Random(seed)
    out = []
    for (c, s, p) in HELDOUT_TRIPLES:
        for bg in BG_NAMES:
            if bg == c:
                continue
            sc = {"background": bg, "objects": [{"color": c, "shape": s, "position": p}]}
            out.append(sc)
    singles = out
    pairs = []
    seen = set()
    while len(pairs) < 64:
        bg = rng.choice(BG_NAMES)
        cs = rng.sample([x for x in COLOR_NAMES if x != bg], 2)
        ps = rng.sample(POS_NAMES, 2)
        objs = [{"color": c, "shape": rng.choice(SHAPES), "position": p} for c, p in zip(cs, ps)]
        if any(is_heldout(o["color"], o["shape"], o["position"]) for o in objs) or not is_heldout_pair(*objs):
            continue
        key = json.dumps([bg, objs])
        if key in seen:
            continue
        seen.add(key)
        pairs.append({"background": bg, "objects": objs})
    res = []
    for sc in singles + pairs:
        res.append({"prompt": caption(sc), "background": sc["background"], "objects": sc["objects"]})
    return res


if __name__ == "__main__":
    import sys
    hp = heldout_prompts()
    print(len(HELDOUT_TRIPLES), "held-out triples;", len(hp), "prompts",
          sum(1 for h in hp if len(h["objects"]) == 1), "single")
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as f:
            json.dump(hp, f, indent=1)
            f.write("\n")
