#!/usr/bin/env python3
"""Write the committed test fixtures of the real architectures (small configuration):

  test/fixtures/real-packs/real-small/       fp32, weights inside each model.onnx
  test/fixtures/real-packs/real-small-fp16/  fp16 weights behind float32 inputs and outputs, every
                                        model's weights in model.onnx.data (external data)
  test/fixtures/packs/broken-models/layernorm_scale_no_bias.onnx
      a LayerNormalization with a Scale and no Bias: ONNX Runtime 1.30 crashes the process
      creating a session of it; Sluice must refuse it before that.
  test/fixtures/packs/broken-models/layernorm_empty_inputs.onnx
      a LayerNormalization whose Scale and Bias are empty names (torch 1.13's export of a
      LayerNorm without affine parameters), which ONNX Runtime refuses.

Run: nice -n 19 /usr/bin/python3 tools/real/make_fixture_packs.py   (about a minute)
"""
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "..", "test", "fixtures")
PACKS = os.path.join(FIXTURES, "packs")
REAL_PACKS = os.path.join(FIXTURES, "real-packs")


def export(name, *args):
    subprocess.run([sys.executable, os.path.join(HERE, "export_pack.py"), "--size", "small", "--out", os.path.join(REAL_PACKS, name), "--name", name, *args], check=True)


def layernorm_model(path, with_scale_input, bias):
    x = helper.make_tensor_value_info("sample", TensorProto.FLOAT, ["batch", 4, 8])
    y = helper.make_tensor_value_info("out_sample", TensorProto.FLOAT, ["batch", 4, 8])
    inits = [numpy_helper.from_array(np.ones(8, np.float32), "ln.weight")]
    inputs = ["sample", "ln.weight" if with_scale_input else ""]
    if bias == "empty":
        inputs.append("")
    node = helper.make_node("LayerNormalization", inputs, ["out_sample"], name="blocks.0.norm/LayerNormalization", axis=-1, epsilon=1e-6)
    graph = helper.make_graph([node], "layernorm", [x], [y], initializer=inits if with_scale_input else [])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="sluice tools/real")
    model.ir_version = 8
    onnx.save_model(model, path)


def main():
    export("real-small", "--dtype", "fp32", "--external", "never")
    export("real-small-fp16", "--dtype", "fp16", "--external", "always")
    broken = os.path.join(PACKS, "broken-models")
    os.makedirs(broken, exist_ok=True)
    layernorm_model(os.path.join(broken, "layernorm_scale_no_bias.onnx"), True, None)
    layernorm_model(os.path.join(broken, "layernorm_empty_inputs.onnx"), False, "empty")


if __name__ == "__main__":
    main()
