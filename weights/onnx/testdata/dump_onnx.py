"""Describes ONNX files as JSON, one line per file, with the official onnx package, so that
the Go reader's view of the same files can be compared field by field.

usage: dump_onnx.py FILE...   (.onnx files are ModelProto, others TensorProto)
"""
import json
import sys

import numpy as np
import onnx
from onnx import numpy_helper

INT_TYPES = {onnx.TensorProto.UINT8, onnx.TensorProto.INT8, onnx.TensorProto.UINT16,
             onnx.TensorProto.INT16, onnx.TensorProto.INT32, onnx.TensorProto.INT64,
             onnx.TensorProto.UINT32, onnx.TensorProto.UINT64, onnx.TensorProto.BOOL}
FLOAT_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16}


def tensor(t):
    d = {"name": t.name, "dims": [int(x) for x in t.dims], "data_type": int(t.data_type)}
    if t.data_type in FLOAT_TYPES:
        # float32 bits, little-endian, as hex: exact and NaN-safe
        d["f32"] = numpy_helper.to_array(t).astype("<f4").tobytes().hex()
    elif t.data_type in INT_TYPES:
        d["ints"] = [int(x) for x in numpy_helper.to_array(t).astype(np.int64).ravel()]
    return d


def graph(g):
    return {
        "name": g.name,
        "nodes": [node(n) for n in g.node],
        "initializers": [tensor(t) for t in g.initializer],
        "inputs": [value_info(v) for v in g.input],
        "outputs": [value_info(v) for v in g.output],
    }


def value_info(v):
    d = {"name": v.name, "elem_type": 0, "shape": None}
    if v.type.HasField("tensor_type"):
        tt = v.type.tensor_type
        d["elem_type"] = int(tt.elem_type)
        if tt.HasField("shape"):
            d["shape"] = [[int(x.dim_value), x.dim_param] for x in tt.shape.dim]
    return d


def attribute(a):
    A = onnx.AttributeProto
    d = {"name": a.name, "type": int(a.type)}
    if a.type == A.FLOAT:
        d["value"] = np.array([a.f], "<f4").tobytes().hex()
    elif a.type == A.INT:
        d["value"] = int(a.i)
    elif a.type == A.STRING:
        d["value"] = a.s.hex()
    elif a.type == A.TENSOR:
        d["value"] = tensor(a.t)
    elif a.type == A.GRAPH:
        d["value"] = graph(a.g)
    elif a.type == A.FLOATS:
        d["value"] = np.array(list(a.floats), "<f4").tobytes().hex()
    elif a.type == A.INTS:
        d["value"] = [int(x) for x in a.ints]
    elif a.type == A.STRINGS:
        d["value"] = [s.hex() for s in a.strings]
    elif a.type == A.TENSORS:
        d["value"] = [tensor(t) for t in a.tensors]
    elif a.type == A.GRAPHS:
        d["value"] = [graph(g) for g in a.graphs]
    return d


def node(n):
    return {"op_type": n.op_type, "name": n.name, "domain": n.domain,
            "inputs": list(n.input), "outputs": list(n.output),
            "attributes": [attribute(a) for a in n.attribute]}


def model(m):
    return {"ir_version": int(m.ir_version),
            "opsets": {o.domain: int(o.version) for o in m.opset_import},
            "graph": graph(m.graph)}


for path in sys.argv[1:]:
    with open(path, "rb") as f:
        data = f.read()
    try:
        if path.endswith(".onnx"):
            out = model(onnx.load_from_string(data))
        else:
            t = onnx.TensorProto()
            t.ParseFromString(data)
            out = tensor(t)
    except Exception as e:  # not a tensor (sequence, map or optional test data)
        print(json.dumps({"path": path, "error": str(e)}))
        continue
    print(json.dumps({"path": path, "desc": out}, sort_keys=True))
