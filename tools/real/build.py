"""Build a network of a given configuration, on the meta device (no memory) or for real."""
import contextlib

import torch

import cascade_arch as arch
import configs

BUILDERS = {
    "stage_c": (arch.StageC, configs.STAGE_C),
    "stage_b": (arch.StageB, configs.STAGE_B),
    "stage_a": (arch.StageADecoder, configs.STAGE_A),
    "effnet": (arch.EffNetEncoder, configs.EFFNET),
    "previewer": (arch.Previewer, configs.PREVIEWER),
}


@contextlib.contextmanager
def meta_device():
    """Every tensor made by torch.empty/zeros/ones/randn lands on the meta device: a 3.6 B network
    can be built and counted without allocating its weights (torch 1.13 has no device context)."""
    names = ("empty", "zeros", "ones", "randn")
    saved = {n: getattr(torch, n) for n in names}

    def on_meta(f):
        def make(*args, **kwargs):
            kwargs["device"] = "meta"
            return f(*args, **kwargs)
        return make

    try:
        for n in names:
            setattr(torch, n, on_meta(saved[n]))
        yield
    finally:
        for n, f in saved.items():
            setattr(torch, n, f)


def build(model, size, meta=False, seed=0):
    cls, table = BUILDERS[model]
    if meta:
        with meta_device():
            return cls(**table[size])
    torch.manual_seed(seed)
    return cls(**table[size]).eval()


def count_params(net):
    return sum(p.numel() for p in net.parameters())
