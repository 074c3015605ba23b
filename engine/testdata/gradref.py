#!/usr/bin/python3
"""PyTorch autograd reference for engine/grad_test.go.

Gradients are computed in float64 from float32 values (weights, inputs and upstream
gradients are drawn in float32 and written as such), so the reference carries no float32
rounding of its own: what the Go test measures is the engine's error alone.

  gradref.py ops OUT CASES_JSON
      CASES_JSON is a list of {"name", "op", ...} operator cases (see grad_test.go). For each,
      draws a seeded input x (and weight, bias), runs the operator, draws an upstream gradient
      gy of the output's shape and writes x, w, b, y, gy and gx = d(sum(y*gy))/dx.

  gradref.py net ARCH SEED SIDE OUT OBJECTIVES_JSON
      Builds ARCH with torchref.py's seeded He-normal weights, one image-like SIDE x SIDE
      input, and for each objective {"kind", "layer", "channel", "y", "x", "vector", "cospow"} writes
      its value and the gradient of the input ("prerelu": true reads the layer before its
      ReLU). A neuron with channel -1 is the channel most
      active at (y, x), reported back as "channel".

Output: raw little-endian float32 files and manifest.json mapping names to {"file", "shape"}
(and "value" for objectives).
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torchref  # noqa: E402  (same folder: architectures, weight init, inputs)


class Out:
    def __init__(self, out):
        self.out = out
        self.manifest = {"tensors": {}, "objectives": []}
        os.makedirs(out, exist_ok=True)

    def add(self, name, t):
        a = t.detach().contiguous().cpu().float().numpy().astype("<f4")
        fname = name.replace("/", "_") + ".f32"
        a.tofile(os.path.join(self.out, fname))
        self.manifest["tensors"][name] = {"file": fname, "shape": list(a.shape)}

    def close(self):
        with open(os.path.join(self.out, "manifest.json"), "w") as f:
            json.dump(self.manifest, f, indent=1)


def f32(t):
    """Rounds to float32 and returns float64: the values the engine sees, computed exactly."""
    return t.float().double()


def op_case(c, gen, out):
    name = c["name"]
    x = torch.randn(c["shape"], generator=gen) * c.get("scale", 1.0)
    if c.get("round"):
        x = torch.round(x)  # many exact ties, for max pool's tie rule
    x = f32(x).requires_grad_()
    op = c["op"]
    if op == "conv":
        cin, cout, g = c["shape"][1], c["out"], c.get("groups", 1)
        w = f32(torch.randn(cout, cin // g, c["kh"], c["kw"], generator=gen) * (2.0 / (cin // g * c["kh"] * c["kw"])) ** 0.5)
        b = f32(torch.rand(cout, generator=gen) * 0.2 - 0.1)
        # PyTorch pads symmetrically; asymmetric pads go through F.pad first.
        p = c.get("pad") or [0, 0, 0, 0]
        xp = F.pad(x, (p[1], p[3], p[0], p[2]))
        y = F.conv2d(xp, w, b, stride=c["stride"], dilation=c["dil"], groups=g)
        if c.get("relu"):
            y = F.relu(y)
        out.add(name + "/w", w)
        out.add(name + "/b", b)
    elif op == "maxpool":
        y = F.max_pool2d(x, c["kernel"], c["stride"], c["ppad"], ceil_mode=c.get("ceil", False))
    elif op == "lrn":
        y = F.local_response_norm(x, c["size"], c["alpha"], c["beta"], c["k"])
    elif op == "adaptive":
        y = F.adaptive_avg_pool2d(x, c["outsize"])
    elif op == "linear":
        w = f32(torch.randn(c["out"], c["shape"][1], generator=gen) * (2.0 / c["shape"][1]) ** 0.5)
        b = f32(torch.rand(c["out"], generator=gen) * 0.2 - 0.1)
        y = F.linear(x, w, b)
        if c.get("relu"):
            y = F.relu(y)
        out.add(name + "/w", w)
        out.add(name + "/b", b)
    else:
        sys.exit("unknown op %r" % op)
    gy = f32(torch.randn(y.shape, generator=gen))
    (gx,) = torch.autograd.grad((y * gy).sum(), x)
    out.add(name + "/x", x)
    out.add(name + "/y", y)
    out.add(name + "/gy", gy)
    out.add(name + "/gx", gx)


def ops_mode(out_dir, cases_json):
    out = Out(out_dir)
    gen = torch.Generator().manual_seed(11)
    for c in json.loads(cases_json):
        op_case(c, gen, out)
    out.close()


def objective_value(o, act, logits):
    kind = o["kind"]
    if kind == "class":
        return logits[:, o["channel"]].sum()
    if act.dim() == 2:  # fully connected: F channels of 1x1
        act = act[:, :, None, None]
    if kind == "channel":
        return act[:, o["channel"]].mean(dim=(1, 2)).sum()
    if kind == "neuron":
        return act[:, o["channel"], o["y"], o["x"]].sum()
    if kind == "direction":
        v = torch.tensor(o["vector"], dtype=torch.float32).double()
        if v.numel() == act.shape[1]:
            dot = (act * v.view(1, -1, 1, 1)).sum(dim=1)
            k = o.get("cospow", 0)
            if k:  # Lucid's direction_neuron_cossim, averaged over positions
                cos = dot / (act.norm(dim=1) * v.norm() + 1e-6)
                dot = dot * cos.clamp(min=0.1) ** k
            return dot.mean(dim=(1, 2)).sum()
        return (act.flatten(1) * v.view(1, -1)).sum()
    sys.exit("unknown objective %r" % kind)


def net_mode(arch, seed, side, out_dir, objectives_json):
    _, build, layers = torchref.ARCHS[arch]
    torch.manual_seed(seed)
    model = build()
    torchref.reinit(model)
    if arch == "alexnet-bvlc":
        with torch.no_grad():  # as torchref.py: make LRN matter
            model.features[0].weight.mul_(100)
            model.features[0].bias.mul_(100)
    for m in model.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False  # the hooked activations must stay intact for autograd
    model.eval()
    out = Out(out_dir)
    for k, v in model.state_dict().items():
        out.add("param/" + k, v)
    model.double()
    gen = torch.Generator().manual_seed(seed + 1)
    x = torchref.image_like(1, side, gen)
    out.add("input", x)
    mods = dict(model.named_modules())
    acts = {}
    for layer, mod in layers:
        mods[mod].register_forward_hook(lambda _m, _i, y, layer=layer: acts.__setitem__(layer, y))
        # Pre-ReLU activations: a ReLU module's input, or a fire module's expand outputs.
        if isinstance(mods[mod], nn.ReLU):
            mods[mod].register_forward_hook(lambda _m, i, _y, layer=layer: acts.__setitem__(layer + "/pre", i[0]))
        elif hasattr(mods[mod], "expand1x1"):
            pre = {}
            mods[mod].expand1x1.register_forward_hook(lambda _m, _i, y, pre=pre: pre.__setitem__(1, y))
            mods[mod].expand3x3.register_forward_hook(
                lambda _m, _i, y, pre=pre, layer=layer: acts.__setitem__(layer + "/pre", torch.cat([pre[1], y], 1)))
    xi = f32(x).requires_grad_()
    logits = torch.flatten(model(xi), 1)  # one forward pass, one backward per objective
    for i, o in enumerate(json.loads(objectives_json)):
        if o["kind"] == "neuron" and o["channel"] < 0:
            # The most active channel at (y, x): an inactive neuron has a zero gradient.
            o["channel"] = int(acts[o["layer"]][0, :, o["y"], o["x"]].argmax())
        layer = o.get("layer", "") + ("/pre" if o.get("prerelu") else "")
        v = objective_value(o, acts.get(layer), logits)
        (gx,) = torch.autograd.grad(v, xi, retain_graph=True)
        out.add("grad%d" % i, gx)
        out.manifest["objectives"].append({"value": float(v), "grad": "grad%d" % i, "channel": o["channel"]})
    out.close()


def main(argv):
    torch.set_num_threads(1)
    if len(argv) == 3 and argv[0] == "ops":
        ops_mode(argv[1], argv[2])
    elif len(argv) == 6 and argv[0] == "net":
        net_mode(argv[1], int(argv[2]), int(argv[3]), argv[4], argv[5])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
