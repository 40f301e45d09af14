"""Configurations of the published Stable Cascade networks, and a small one of the same code for
tests. `published` is the parameter count the release states for each (None where it states none
precisely), checked by param_counts.py."""

STAGE_C = {
    "big": dict(c_hidden=(2048, 2048), nhead=(32, 32), blocks=((8, 24), (24, 8))),
    "lite": dict(c_cond=1536, c_hidden=(1536, 1536), nhead=(24, 24), blocks=((4, 12), (12, 4))),
    # Narrow and shallow, same blocks and names; text width 8 to match the random fixture's encoder.
    "small": dict(c_hidden=(32, 32), nhead=(2, 2), blocks=((1, 2), (2, 1)), c_cond=32, c_r=16,
                  c_clip_text=8, c_clip_text_pooled=8),
}

STAGE_B = {
    "big": dict(c_hidden=(320, 640, 1280, 1280), nhead=(-1, -1, 20, 20), blocks=((2, 6, 28, 6), (6, 28, 6, 2)),
                block_repeat=((1, 1, 1, 1), (3, 3, 2, 2))),
    "lite": dict(c_hidden=(320, 576, 1152, 1152), nhead=(-1, -1, 18, 18), blocks=((2, 4, 14, 4), (4, 14, 4, 2)),
                 block_repeat=((1, 1, 1, 1), (2, 2, 2, 2))),
    "small": dict(c_hidden=(8, 16, 24, 24), nhead=(-1, -1, 2, 2), blocks=((1, 1, 1, 1), (1, 1, 1, 1)),
                  block_repeat=((1, 1, 1, 1), (2, 2, 1, 1)), c_cond=16, c_r=16, c_clip=8),
}

STAGE_A = {"big": dict(), "lite": dict(), "small": dict(c_hidden=16, bottleneck_blocks=2)}
EFFNET = {"big": dict(), "lite": dict(), "small": dict(width=0.25, depth=0.25)}
PREVIEWER = {"big": dict(), "lite": dict(), "small": dict(c_hidden=16)}

# Parameter counts stated by the release (model cards and paper) and how close a count must come:
# the release rounds (3.6 B, 1.5 B), and gives Stage A and the EffNet only as "about 20 M".
PUBLISHED = {
    ("stage_c", "big"): (3.6e9, 0.05), ("stage_c", "lite"): (1.0e9, 0.05),
    ("stage_b", "big"): (1.5e9, 0.05), ("stage_b", "lite"): (0.7e9, 0.05),
    ("stage_a", "big"): (20e6, 0.10), ("effnet", "big"): (20e6, 0.10),
}
