"""PyTorch weights back from a shipped ONNX file, so fine-tuning starts from the pack that ships.

torch.onnx.export names an initializer after its parameter, except where it rewrote the weight (a
Linear applied to a 3-D input becomes MatMul with the transposed weight, named onnx::MatMul_N). The
names it invents depend only on the graph, so exporting the same architecture again with known,
distinct values tells which parameter each invented name holds and whether it was transposed. The
shipped file's initializers are then copied into those parameters. A parameter the file does not
hold (a part the shipped model lacks) keeps its initialisation and is listed.

usage (a round-trip check): python3 onnx_weights.py ../../models/tiny
"""
import copy
import io
import os
import sys

import onnx
import torch
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def _export_bytes(model, args, inputs, outputs, dynamic, opset=17):
    buf = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(model, args, buf, input_names=inputs, output_names=outputs, dynamic_axes=dynamic,
                          opset_version=opset, do_constant_folding=True)
    return onnx.load_from_string(buf.getvalue())


def _affine(model):
    from export import affine_layernorms
    return affine_layernorms(model)


def initializer_map(model, wrap, args, inputs, outputs, dynamic):
    """-> {initializer name: (parameter name, transposed)} for this architecture's export."""
    probe = _affine(copy.deepcopy(model))
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in probe.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
    params = dict(probe.named_parameters())
    proto = _export_bytes(wrap(probe), args, inputs, outputs, dynamic)
    out = {}
    for init in proto.graph.initializer:
        v = torch.from_numpy(numpy_helper.to_array(init).copy())
        name = init.name.removeprefix("te.")
        if name in params and params[name].shape == v.shape:
            out[init.name] = (name, False)
            continue
        for pn, p in params.items():
            if p.dim() == 2 and p.t().shape == v.shape and torch.equal(p.t(), v):
                out[init.name] = (pn, True)
                break
            if p.shape == v.shape and torch.equal(p, v):
                out[init.name] = (pn, False)
                break
    return out


@torch.no_grad()
def load_onnx_weights(model, onnx_path, wrap, args, inputs, outputs, dynamic):
    """Copies the initializers of onnx_path into model's parameters (and buffers by name).
    -> the names of model's parameters left at their initialisation."""
    mapping = initializer_map(model, wrap, args, inputs, outputs, dynamic)
    shipped = onnx.load(onnx_path)
    own = dict(model.named_parameters())
    bufs = dict(model.named_buffers())
    loaded = set()
    for init in shipped.graph.initializer:
        v = torch.from_numpy(numpy_helper.to_array(init).copy())
        if init.name in mapping:
            pn, tr = mapping[init.name]
            if pn not in own:
                continue  # the identity affine export gives non-affine LayerNorms
            t = v.t() if tr else v
            if own[pn].shape != t.shape:
                raise ValueError(f"{onnx_path}: {init.name} has shape {list(t.shape)}, parameter {pn} {list(own[pn].shape)}")
            own[pn].copy_(t)
            loaded.add(pn)
        else:
            bn = init.name.removeprefix("te.")
            if bn in bufs and bufs[bn].shape == v.shape:
                bufs[bn].copy_(v)
    # the exporter keeps one of several initializers of equal value (an untrained part's zeros) and
    # makes the others Identity nodes of it
    inits = {i.name: i for i in shipped.graph.initializer}
    aliases = {n.output[0]: n.input[0] for n in shipped.graph.node if n.op_type == "Identity" and n.input[0] in inits}
    for name, (pn, tr) in mapping.items():
        if pn in own and pn not in loaded and name in aliases:
            v = torch.from_numpy(numpy_helper.to_array(inits[aliases[name]]).copy())
            own[pn].copy_(v.t() if tr else v)
            loaded.add(pn)
    return [n for n in own if n not in loaded]


# ----------------------------------------------------------------------------- the tiny pack's models
def _Ident(m):
    """Stage C and the EffNet stand-in were exported as they are (no wrapper)."""
    return m


def stage_c_spec(d=128, B=2, h=8):
    from tokenizer import MAX_LEN
    args = (torch.randn(B, 16, h, h), torch.rand(B), torch.randn(B, 1, d), torch.randn(B, MAX_LEN, d), torch.zeros(B, 1, 768))
    inputs = ["sample", "timestep_ratio", "clip_text_pooled", "clip_text", "clip_img"]
    dyn = {"sample": {0: "batch", 2: "height", 3: "width"}, "timestep_ratio": {0: "batch"},
           "clip_text_pooled": {0: "batch"}, "clip_text": {0: "batch", 1: "sequence"}, "clip_img": {0: "batch"},
           "out_sample": {0: "batch", 2: "height", 3: "width"}}
    return args, inputs, ["out_sample"], dyn


def stage_c_control_spec(d, width, n_control, B=2, h=8):
    """The export of a Stage C with image tokens and control inputs (export.py --from-pack)."""
    from tokenizer import MAX_LEN
    ctrl = [f"control_{i}" for i in range(n_control)]
    args = (torch.randn(B, 16, h, h), torch.rand(B), torch.randn(B, 1, d), torch.randn(B, MAX_LEN, d),
            torch.zeros(B, 1, 768), *[torch.zeros(B, width, h, h) for _ in ctrl])
    dyn = {"sample": {0: "batch", 2: "height", 3: "width"}, "timestep_ratio": {0: "batch"},
           "clip_text_pooled": {0: "batch"}, "clip_text": {0: "batch", 1: "sequence"},
           "clip_img": {0: "batch", 1: "image_tokens"}, "out_sample": {0: "batch", 2: "height", 3: "width"}}
    dyn.update({n: {0: "batch", 2: "control_height", 3: "control_width"} for n in ctrl})
    return args, ["sample", "timestep_ratio", "clip_text_pooled", "clip_text", "clip_img", *ctrl], ["out_sample"], dyn


def controlnet_spec(channels, n_control):
    ctrl = [f"control_{i}" for i in range(n_control)]
    return ((torch.rand(1, channels, 64, 64),), ["control_image"], ctrl,
            {"control_image": {0: "batch", 2: "height", 3: "width"},
             **{n: {0: "batch", 2: "latent_height", 3: "latent_width"} for n in ctrl}})


def _prior_paths(onnx_path, hidden=256):
    """Which optional image paths a prior's file holds, told by weight shapes no other part of Stage C
    has (the exporter's own names cannot tell: they are invented per graph, and it merges
    initializers of equal value): the image pooled path's hidden x hidden weight, and the image
    spatial path's first convolution (the 12 values per cell of the image grid, 3x3).
    -> dict(img_pooled=bool, img_spatial=bool)."""
    from models import IMG_GRID_CHANNELS, IMG_SPATIAL_WIDTH
    shapes = {tuple(i.dims) for i in onnx.load(onnx_path, load_external_data=False).graph.initializer}
    return dict(img_pooled=(hidden, hidden) in shapes, img_spatial=(IMG_SPATIAL_WIDTH, IMG_GRID_CHANNELS, 3, 3) in shapes)


def _input_names(path):
    return [i.name for i in onnx.load(path, load_external_data=False).graph.input]


def load_shipped(pack_dir, cfg=None):
    """The shipped pack's text encoder, Stage C and EffNet stand-in as PyTorch modules, and its
    ControlNets where it has them. A prior with control inputs (a pack exported by export.py
    --from-pack) comes back with its image layout path and control blocks.
    -> dict(te, C, eff_enc, tok, nets: {name: ControlNet})."""
    from export import TextWrap
    from models import PatchPCAEncoder, StageC, TextEncoder
    from tokenizer import Tokenizer
    from train import FULL
    cfg = cfg or FULL
    tok = Tokenizer()
    d, L = cfg["text"]["d"], cfg["text"]["layers"]
    te = TextEncoder(tok.size, **cfg["text"])
    ids, mask = tok.encode_batch(["a red circle on the left", ""])
    hs = [f"hidden_states.{i}" for i in range(L + 1)]
    dyn = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
           "text_embeds": {0: "batch"}, "last_hidden_state": {0: "batch", 1: "sequence"}}
    dyn.update({n: {0: "batch", 1: "sequence"} for n in hs})
    left = load_onnx_weights(te, os.path.join(pack_dir, "text_encoder", "model.onnx"), TextWrap, (ids, mask),
                             ["input_ids", "attention_mask"], ["text_embeds", "last_hidden_state"] + hs, dyn)
    assert not left, f"text encoder: not in the file: {left}"
    prior = os.path.join(pack_dir, "prior", "model.onnx")
    n_control = sum(1 for n in _input_names(prior) if n.startswith("control_"))
    if n_control:
        # a prior with the image pooled and spatial paths, or one exported before they existed
        spec = stage_c_control_spec(d, cfg["C"]["c"], n_control)
        C = StageC(c_text=d, img_layout=True, **_prior_paths(prior), control_blocks=tuple(range(n_control)), **cfg["C"])
        left = load_onnx_weights(C, prior, _Ident, *spec)
    else:
        C = StageC(c_text=d, **cfg["C"])
        left = load_onnx_weights(C, prior, _Ident, *stage_c_spec(d))
    assert not left, f"Stage C: not in the file: {left}"
    nets = {}
    root = os.path.join(pack_dir, "controlnet")
    for name in sorted(os.listdir(root)) if os.path.isdir(root) and n_control else []:
        path = os.path.join(root, name, "model.onnx")
        if not os.path.exists(path):
            continue
        graph = onnx.load(path, load_external_data=False).graph
        ch = graph.input[0].type.tensor_type.shape.dim[1].dim_value
        # the width of its body: the first convolution reads the control image's 8x8 patches
        width = next(i.dims[0] for i in graph.initializer if len(i.dims) == 4 and tuple(i.dims[1:]) == (ch * 64, 3, 3))
        from models import ControlNet
        net = ControlNet(ch, c_out=cfg["C"]["c"], w=width, n_out=n_control)
        left = load_onnx_weights(net, path, _Ident, *controlnet_spec(ch, n_control))
        assert not left, f"ControlNet {name}: not in the file: {left}"
        nets[name] = net.eval()
    eff = PatchPCAEncoder(16, 8, 1.0)
    left = load_onnx_weights(eff, os.path.join(pack_dir, "effnet", "model.onnx"), _Ident, (torch.rand(1, 3, 64, 64),),
                             ["pixel_values"], ["image_embeds"],
                             {"pixel_values": {0: "batch", 2: "height", 3: "width"},
                              "image_embeds": {0: "batch", 2: "latent_height", 3: "latent_width"}})
    assert not left, f"EffNet: not in the file: {left}"
    for m in (te, C, eff):
        m.eval()
    return dict(te=te, C=C, eff_enc=eff, tok=tok, nets=nets)


def reexport_matches(model, wrap, spec, onnx_path):
    """Exports model again and compares every initializer with the shipped file's, by name.
    -> (count compared, largest difference)."""
    proto = _export_bytes(wrap(_affine(copy.deepcopy(model))), *spec)
    shipped = {i.name: numpy_helper.to_array(i) for i in onnx.load(onnx_path).graph.initializer}
    worst, n = 0.0, 0
    for init in proto.graph.initializer:
        v = numpy_helper.to_array(init)
        if init.name not in shipped or shipped[init.name].shape != v.shape:
            raise ValueError(f"{onnx_path}: the re-export has {init.name} {list(v.shape)}, the file does not")
        worst = max(worst, float(abs(shipped[init.name] - v).max()) if v.size else 0.0)
        n += 1
    return n, worst


def main():
    pack = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "models", "tiny")
    torch.set_num_threads(1)
    m = load_shipped(pack)
    from models import StageC
    from train import FULL
    C0 = m["C"]
    spec = stage_c_control_spec(128, C0.c, len(C0.control_blocks)) if C0.control_blocks else stage_c_spec()
    n, worst = reexport_matches(C0, _Ident, spec, os.path.join(pack, "prior", "model.onnx"))
    print(f"Stage C: {n} initializers re-exported from the loaded weights, largest difference {worst:.2e}")
    for name, net in m["nets"].items():
        ch = net.body[1].in_channels // 64
        k, w = reexport_matches(net, _Ident, controlnet_spec(ch, len(net.heads)), os.path.join(pack, "controlnet", name, "model.onnx"))
        print(f"ControlNet {name}: {k} initializers, largest difference {w:.2e}")
        worst = max(worst, w)
    if C0.control_blocks:
        ok = worst == 0.0
        print("round trip OK" if ok else "round trip FAILED")
        sys.exit(0 if ok else 1)
    # a Stage C with new parts starts exactly where the shipped one is (zero-initialised additions)
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 16, 8, 8, generator=gen)
    r = torch.tensor([0.3, 0.8])
    ids, mask = m["tok"].encode_batch(["a red circle on the left", "a blue square at the top"])
    C2 = StageC(c_text=128, img_layout=True, control_blocks=(0, 1, 2, 3, 4), **FULL["C"])
    missing, unexpected = C2.load_state_dict(m["C"].state_dict(), strict=False)
    with torch.no_grad():
        pooled, _, hs = m["te"](ids, mask)
        args = (x, r, pooled[:, None], hs[-1], torch.zeros(2, 1, 768))
        d2 = float((C2(*args, *[torch.zeros(2, 160, 8, 8)] * 5) - m["C"](*args)).abs().max())
    print(f"new parts {missing}: Stage C unchanged by them: max diff {d2:.2e}")
    ok = worst == 0.0 and d2 < 1e-5 and not unexpected
    print("round trip OK" if ok else "round trip FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
