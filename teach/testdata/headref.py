#!/usr/bin/python3
"""PyTorch reference for teach.Head: the logits of nn.Linear (and ReLU, then nn.Linear) with
the head's float32 weights, computed in float64.

  headref.py DIR '{"n": N, "dim": D, "hidden": H, "classes": K}'

DIR holds x.f32 (N x D embeddings), w1.f32, b1.f32 and, with a hidden layer, w2.f32, b2.f32
(little-endian float32, row-major, PyTorch's [out, in] layout). Prints the N x K logits as JSON.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn


def load(d, name, shape):
    return torch.from_numpy(np.fromfile(os.path.join(d, name), dtype="<f4").reshape(shape).astype("float64"))


def main(d, meta):
    m = json.loads(meta)
    n, dim, hidden, k = m["n"], m["dim"], m["hidden"], m["classes"]
    x = load(d, "x.f32", (n, dim))
    out1 = hidden if hidden else k
    fc1 = nn.Linear(dim, out1).double()
    with torch.no_grad():
        fc1.weight.copy_(load(d, "w1.f32", (out1, dim)))
        fc1.bias.copy_(load(d, "b1.f32", (out1,)))
    layers = [fc1]
    if hidden:
        fc2 = nn.Linear(hidden, k).double()
        with torch.no_grad():
            fc2.weight.copy_(load(d, "w2.f32", (k, hidden)))
            fc2.bias.copy_(load(d, "b2.f32", (k,)))
        layers += [nn.ReLU(), fc2]
    with torch.no_grad():
        y = nn.Sequential(*layers)(x)
    print(json.dumps(y.tolist()))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
