#!/usr/bin/env python3
"""Export a Stable Cascade pack of RANDOM weights with the published architectures, in the public
ONNX export's layout and tensor names.

  prior/        Stage C    sample, timestep_ratio, clip_text_pooled, clip_text, clip_img → out_sample
  decoder/      Stage B    sample, timestep_ratio, clip_text_pooled, effnet → out_sample
  vae_decoder/  Stage A    sample → latent_sample (the image in [0,1])
  effnet/       EffNet     pixel_values → image_embeds
  previewer/    previewer  sample → image
  text_encoder/ a CLIP text model of the right width (see text_encoder.py), tokenizer/ and
  vae_encoder/ copied from the random fixture pack.

Weights: fp32, or fp16 behind float32 inputs and outputs as the public export has them (Cast nodes
at the graph's edges). A model whose weights pass 2 GB (or every model, with --external always)
keeps them in model.onnx.data beside model.onnx.

A network over 1 GB is traced without its parameters and the weights are written from the
network's state one tensor at a time, so an export never holds a second copy of it.

Run: nice -n 19 /usr/bin/python3 tools/real/export_pack.py --size small|lite|big --dtype fp32|fp16
         --out DIR [--external auto|always|never] [--only prior,decoder,...] [--seed N]
The big (3.6 B / 1.5 B) networks need --i-have-the-memory: about 15 GB and 6 GB of weights.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from build import build, count_params  # noqa: E402
from cascade_arch import calibrate_batchnorms  # noqa: E402
import configs  # noqa: E402
from text_encoder import ClipText  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RANDOM_PACK = os.path.join(ROOT, "test", "fixtures", "packs", "random")
OPSET = 17
TWO_GB = 2 * 1024 ** 3


def stage_specs(size):
    c = configs.STAGE_C[size]
    b = configs.STAGE_B[size]
    text = c.get("c_clip_text", 1280)
    # Example inputs only fix ranks; every spatial and batch dimension is dynamic.
    return {
        "prior": dict(model="stage_c", inputs={
            "sample": torch.randn(2, 16, 8, 8), "timestep_ratio": torch.rand(2),
            "clip_text_pooled": torch.randn(2, 1, c.get("c_clip_text_pooled", 1280)),
            "clip_text": torch.randn(2, 77, text), "clip_img": torch.randn(2, 1, 768)},
            outputs=["out_sample"],
            dynamic={"sample": {0: "batch", 2: "height", 3: "width"}, "timestep_ratio": {0: "batch"},
                     "clip_text_pooled": {0: "batch"}, "clip_text": {0: "batch", 1: "sequence"}, "clip_img": {0: "batch", 1: "images"},
                     "out_sample": {0: "batch", 2: "height", 3: "width"}}),
        "decoder": dict(model="stage_b", inputs={
            "sample": torch.randn(2, 4, 32, 32), "timestep_ratio": torch.rand(2),
            "clip_text_pooled": torch.randn(2, 1, b.get("c_clip", 1280)), "effnet": torch.randn(2, 16, 8, 8)},
            outputs=["out_sample"],
            dynamic={"sample": {0: "batch", 2: "height", 3: "width"}, "timestep_ratio": {0: "batch"},
                     "clip_text_pooled": {0: "batch"}, "effnet": {0: "batch", 2: "effnet_height", 3: "effnet_width"},
                     "out_sample": {0: "batch", 2: "height", 3: "width"}}),
        "vae_decoder": dict(model="stage_a", inputs={"sample": torch.randn(1, 4, 16, 16)}, outputs=["latent_sample"],
                            dynamic={"sample": {0: "batch", 2: "height", 3: "width"}, "latent_sample": {0: "batch", 2: "image_height", 3: "image_width"}}),
        "effnet": dict(model="effnet", inputs={"pixel_values": torch.randn(2, 3, 128, 128)}, outputs=["image_embeds"],
                       dynamic={"pixel_values": {0: "batch", 2: "height", 3: "width"}, "image_embeds": {0: "batch", 2: "latent_height", 3: "latent_width"}}),
        "previewer": dict(model="previewer", inputs={"sample": torch.randn(2, 16, 8, 8)}, outputs=["image"],
                          dynamic={"sample": {0: "batch", 2: "height", 3: "width"}, "image": {0: "batch", 2: "image_height", 3: "image_width"}}),
    }


def to_fp16_graph(model):
    """Weights and constants to float16; float32 graph inputs and outputs kept, with Cast nodes at
    the edges (the public export's form). Constants that feed a Resize's roi/scales stay float32."""
    g = model.graph
    keep32 = set()
    for node in g.node:
        if node.op_type == "Resize":
            keep32.update(node.input[1:3])
    for node in g.node:
        if node.op_type == "Cast":
            for a in node.attribute:
                if a.name == "to" and a.i == TensorProto.FLOAT:
                    a.i = TensorProto.FLOAT16
        elif node.op_type in ("Constant", "ConstantOfShape") and not (set(node.output) & keep32):
            for a in node.attribute:
                if a.name == "value" and a.t.data_type == TensorProto.FLOAT:
                    arr = numpy_helper.to_array(a.t).astype(np.float16)
                    a.t.CopyFrom(numpy_helper.from_array(arr, a.t.name))
    # Graph edges: float32 in, Cast to float16; float16 out, Cast to float32.
    casts_in, casts_out = [], []
    for inp in g.input:
        if inp.type.tensor_type.elem_type != TensorProto.FLOAT:
            continue
        inner = inp.name + "_fp16"
        for node in g.node:
            for i, name in enumerate(node.input):
                if name == inp.name:
                    node.input[i] = inner
        casts_in.append(helper.make_node("Cast", [inp.name], [inner], to=TensorProto.FLOAT16, name=f"cast_in_{inp.name}"))
    for out in g.output:
        if out.type.tensor_type.elem_type != TensorProto.FLOAT:
            continue
        inner = out.name + "_fp16"
        for node in g.node:
            for names in (node.output, node.input):
                for i, name in enumerate(names):
                    if name == out.name:
                        names[i] = inner
        casts_out.append(helper.make_node("Cast", [inner], [out.name], to=TensorProto.FLOAT, name=f"cast_out_{out.name}"))
    nodes = casts_in + list(g.node) + casts_out
    del g.node[:]
    g.node.extend(nodes)
    del g.value_info[:]


def finish_weights(model, state, folder, dtype, external):
    """Give the graph its weights, one tensor at a time: the traced graph's parameter inputs (an
    export without parameters) become initializers from the network's state, and initializers the
    exporter made are kept; float ones become float16 for an fp16 pack; with `external` every
    tensor is written to model.onnx.data instead of the .onnx file."""
    g = model.graph
    data_path = os.path.join(folder, "model.onnx.data")
    out = open(data_path, "wb") if external else None
    offset = 0

    def place(arr, name):
        nonlocal offset
        if arr.dtype == np.float32 and dtype == "fp16":
            arr = arr.astype(np.float16)
        t = numpy_helper.from_array(np.ascontiguousarray(arr), name)
        if external and len(t.raw_data) >= 1024:
            raw = t.raw_data
            pad = (-offset) % 64
            out.write(b"\0" * pad)
            offset += pad
            out.write(raw)
            t.ClearField("raw_data")
            t.data_location = TensorProto.EXTERNAL
            for k, v in (("location", "model.onnx.data"), ("offset", str(offset)), ("length", str(len(raw)))):
                e = t.external_data.add()
                e.key, e.value = k, v
            offset += len(raw)
        return t

    try:
        made = list(g.initializer)
        del g.initializer[:]
        for t in made:
            g.initializer.append(place(numpy_helper.to_array(t), t.name))
        del made
        for name in [i.name for i in g.input if i.name in state]:
            g.initializer.append(place(state[name].detach().cpu().numpy(), name))
    finally:
        if out:
            out.close()
    kept = [i for i in g.input if i.name not in state]
    del g.input[:]
    g.input.extend(kept)
    return offset


def export_model(folder_name, spec, net, out_dir, dtype, external_mode, extra_state=None):
    folder = os.path.join(out_dir, folder_name)
    os.makedirs(folder, exist_ok=True)
    for f in ("model.onnx", "model.onnx.data"):
        if os.path.exists(os.path.join(folder, f)):
            os.remove(os.path.join(folder, f))
    state = dict(net.state_dict(keep_vars=False))
    weight_bytes = sum(t.numel() * (2 if dtype == "fp16" and t.is_floating_point() else t.element_size()) for t in state.values())
    external = external_mode == "always" or (external_mode == "auto" and weight_bytes > TWO_GB)
    names = list(spec["inputs"])
    # Networks under 1 GB are exported with their parameters (constant folding, BatchNorm fused
    # into convolutions); bigger ones without, their weights added from the state afterwards, so
    # that the export never holds a second copy of them.
    with_params = weight_bytes < 1024 ** 3
    with tempfile.TemporaryDirectory() as tmp:
        graph_file = os.path.join(tmp, "graph.onnx")
        with torch.no_grad():
            torch.onnx.export(net, tuple(spec["inputs"].values()), graph_file, input_names=names, output_names=spec["outputs"],
                              dynamic_axes=spec["dynamic"], opset_version=OPSET, export_params=with_params, do_constant_folding=with_params)
        model = onnx.load(graph_file)
    if with_params:
        state = {}
    if dtype == "fp16":
        to_fp16_graph(model)
    model.producer_name = "sluice tools/real"
    written = finish_weights(model, state, folder, dtype, external)
    del state
    if not external and model.ByteSize() > TWO_GB:
        raise SystemExit(f"{folder_name}: {model.ByteSize()} bytes inline is over protobuf's 2 GB: use --external auto")
    onnx.save_model(model, os.path.join(folder, "model.onnx"))
    onnx.checker.check_model(os.path.join(folder, "model.onnx"))
    size = os.path.getsize(os.path.join(folder, "model.onnx")) + written
    print(f"  {folder_name}/model.onnx: {count_params(net):,} parameters, {dtype}, {size / 1e6:.1f} MB{' (external data)' if external else ''}", flush=True)


def text_encoder_net(size):
    vocab = json.load(open(os.path.join(RANDOM_PACK, "tokenizer", "vocab.json")))
    width = configs.STAGE_C[size].get("c_clip_text", 1280)
    layers, heads = (2, 2) if size == "small" else (2, 20)
    torch.manual_seed(7)
    return ClipText(max(vocab.values()) + 1, width=width, layers=layers, heads=heads).eval(), layers


def manifest(size, layers, name):
    c = configs.STAGE_C[size]
    return {
        "format": "sluice.pack", "version": 1, "name": name,
        "description": f"Random weights in the published Stable Cascade architectures ({size}): a check of the real-size path, not a model.",
        "resolution": {"default": [1024, 1024] if size != "small" else [256, 256], "dynamic": True},
        "textEncoder": {"width": c.get("c_clip_text", 1280), "maxLength": 77, "hiddenOutput": f"hidden_states.{layers}", "pooledOutput": "text_embeds"},
        "stageC": {"channels": 16, "compression": 42.67 if size != "small" else 32, "shift": 2, "steps": 20 if size != "small" else 3, "cfg": 4, "sampler": "ddpm", "clipImgDim": 768},
        "stageB": {"channels": 4, "compression": 4, "shift": 1, "steps": 10 if size != "small" else 2, "cfg": 1.1, "sampler": "ddpm"},
        "stageA": {"scale": 0.43, "upscale": 4},
        "effnet": {"compression": 32},
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", choices=["small", "lite", "big"], required=True)
    p.add_argument("--dtype", choices=["fp32", "fp16"], default="fp32")
    p.add_argument("--out", required=True)
    p.add_argument("--external", choices=["auto", "always", "never"], default="auto")
    p.add_argument("--only", default="", help="comma-separated folders (prior,decoder,vae_decoder,effnet,previewer,text_encoder)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", default=None)
    p.add_argument("--i-have-the-memory", action="store_true")
    a = p.parse_args()
    if a.size == "big" and not a.i_have_the_memory:
        raise SystemExit("the big networks (3.6 B Stage C, 1.5 B Stage B) need about 15 GB and 6 GB of weights: pass --i-have-the-memory")
    size = "big" if a.size == "big" else a.size
    only = [s for s in a.only.split(",") if s]
    os.makedirs(a.out, exist_ok=True)
    arch_size = "big" if size == "lite" else size  # Stage A, EffNet, previewer have one size
    specs = stage_specs(size)
    print(f"exporting {a.size} pack ({a.dtype}) to {a.out}", flush=True)
    for folder, spec in specs.items():
        if only and folder not in only:
            continue
        net_size = size if spec["model"] in ("stage_c", "stage_b") else arch_size
        net = build(spec["model"], net_size, seed=a.seed)
        if spec["model"] in ("effnet", "previewer"):
            calibrate_batchnorms(net, next(iter(spec["inputs"].values())))
        export_model(folder, spec, net, a.out, a.dtype, a.external)
        del net
    if not only or "text_encoder" in only:
        net, layers = text_encoder_net(size)
        L = 77
        te_spec = dict(inputs={"input_ids": torch.zeros(2, L, dtype=torch.long), "attention_mask": torch.ones(2, L, dtype=torch.long)},
                       outputs=["text_embeds", "last_hidden_state"] + [f"hidden_states.{i}" for i in range(layers + 1)],
                       dynamic={"input_ids": {0: "batch"}, "attention_mask": {0: "batch"}})
        export_model("text_encoder", te_spec, net, a.out, a.dtype, a.external)
        for folder in ("tokenizer", "vae_encoder"):
            dst = os.path.join(a.out, folder)
            if os.path.exists(dst):
                shutil.rmtree(dst)
            shutil.copytree(os.path.join(RANDOM_PACK, folder), dst)
        with open(os.path.join(a.out, "manifest.json"), "w") as f:
            json.dump(manifest(size, layers, a.name or f"real-{a.size}-{a.dtype}"), f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
