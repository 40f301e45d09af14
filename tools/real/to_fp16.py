#!/usr/bin/env python3
"""Make the fp16 form of an exported fp32 model (float16 weights behind float32 inputs and outputs,
as the public export's decoder is), reading and writing one weight at a time: a 4 GB model is
converted with little memory and without building the network again.

Run: nice -n 19 /usr/bin/python3 tools/real/to_fp16.py SRC_DIR/model.onnx DST_DIR [--external auto|always|never]
"""
import argparse
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_pack import TWO_GB, to_fp16_graph  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("dst_dir")
    ap.add_argument("--external", choices=["auto", "always", "never"], default="auto")
    a = ap.parse_args()
    model = onnx.load(a.src, load_external_data=False)
    src_dir = os.path.dirname(os.path.abspath(a.src))
    total = sum(int(np.prod(t.dims)) * 2 for t in model.graph.initializer)
    external = a.external == "always" or (a.external == "auto" and total > TWO_GB)
    inits = list(model.graph.initializer)
    del model.graph.initializer[:]
    to_fp16_graph(model)
    os.makedirs(a.dst_dir, exist_ok=True)
    out = open(os.path.join(a.dst_dir, "model.onnx.data"), "wb") if external else None
    offset = 0
    files = {}
    for t in inits:
        if t.data_location == onnx.TensorProto.EXTERNAL:
            info = {e.key: e.value for e in t.external_data}
            path = os.path.join(src_dir, info["location"])
            f = files.setdefault(path, open(path, "rb"))
            f.seek(int(info.get("offset", 0)))
            raw = f.read(int(info["length"]))
            dtype = onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[t.data_type]
            arr = np.frombuffer(raw, dtype=dtype).reshape(tuple(t.dims))
        else:
            arr = numpy_helper.to_array(t)
        if arr.dtype == np.float32:
            arr = arr.astype(np.float16)
        nt = numpy_helper.from_array(np.ascontiguousarray(arr), t.name)
        if external and len(nt.raw_data) >= 1024:
            pad = (-offset) % 64
            out.write(b"\0" * pad)
            offset += pad
            out.write(nt.raw_data)
            n = len(nt.raw_data)
            nt.ClearField("raw_data")
            nt.data_location = onnx.TensorProto.EXTERNAL
            for k, v in (("location", "model.onnx.data"), ("offset", str(offset)), ("length", str(n))):
                e = nt.external_data.add()
                e.key, e.value = k, v
            offset += n
        model.graph.initializer.append(nt)
    for f in files.values():
        f.close()
    if out:
        out.close()
    onnx.save_model(model, os.path.join(a.dst_dir, "model.onnx"))
    print(f"{a.dst_dir}/model.onnx: fp16, {(os.path.getsize(os.path.join(a.dst_dir, 'model.onnx')) + offset) / 1e6:.1f} MB{' (external data)' if external else ''}")


if __name__ == "__main__":
    main()
