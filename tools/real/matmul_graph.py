#!/usr/bin/env python3
"""A MatMul-only ONNX graph (x [M,K] float32 times a weight [K,N]): what ONNX Runtime's own GEMM
kernels reach on this machine, the peak bench/real.bench.ts compares the stages' GFLOP/s with.

Run: /usr/bin/python3 tools/real/matmul_graph.py OUT.onnx [M K N]
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
m, k, n = (int(v) for v in sys.argv[2:5]) if len(sys.argv) >= 5 else (4096, 1536, 6144)
w = numpy_helper.from_array((np.random.default_rng(0).standard_normal((k, n)) * 0.02).astype(np.float32), "w")
graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="matmul")], "matmul",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [m, k])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, n])], initializer=[w])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="sluice tools/real")
model.ir_version = 8
onnx.save_model(model, out)
