#!/usr/bin/python3
"""Checks an exported head with the onnx package and computes it with numpy, node by node
(Gemm, Relu, Softmax: the only operators a head uses), for weights/onnx/export_test.go.

  run_head.py HEAD.onnx X.f32      prints {"probabilities": [...], "classes": [...]}
"""
import json
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def main(path, xpath):
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    env = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in m.graph.initializer}
    x = np.fromfile(xpath, dtype="<f4").astype(np.float64)
    env[m.graph.input[0].name] = x.reshape(1, -1)
    for n in m.graph.node:
        a = [env[i] for i in n.input]
        if n.op_type == "Gemm":
            attrs = {at.name: at.i for at in n.attribute}
            b = a[1].T if attrs.get("transB") else a[1]
            y = a[0] @ b + a[2]
        elif n.op_type == "Relu":
            y = np.maximum(a[0], 0)
        elif n.op_type == "Softmax":
            e = np.exp(a[0] - a[0].max(axis=-1, keepdims=True))
            y = e / e.sum(axis=-1, keepdims=True)
        else:
            sys.exit("unexpected operator " + n.op_type)
        env[n.output[0]] = y
    meta = {p.key: p.value for p in m.metadata_props}
    print(json.dumps({"probabilities": env[m.graph.output[0].name][0].tolist(), "classes": json.loads(meta["classes"])}))


if __name__ == "__main__":
    main(*sys.argv[1:])
