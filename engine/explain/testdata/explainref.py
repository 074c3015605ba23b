#!/usr/bin/python3
"""PyTorch reference for engine/explain: Grad-CAM, saliency and interventions, computed with
autograd and forward hooks, in float64 from the same float32 values the engine sees.

  explainref.py ARCH WEIGHTS INPUT OUT REQUESTS_JSON

ARCH is one of engine's architectures (torchref.ARCHS). WEIGHTS is either a seed (the
architecture with torchref.py's seeded He-normal weights, written to OUT as param.NAME.f32
files so the engine can load the very same values) or a torchvision state_dict file. INPUT is
a raw little-endian float32 1 x 3 x S x S normalized photo. Each request is
  {"method": "gradcam", "class": C, "layer": L, "edits": [...]}
  {"method": "saliency", "class": C, "edits": [...]}
  {"method": "forward", "edits": [...]}     (the logits)
and an edit {"op": "set"|"scale"|"add", "layer": L, "channel": C, "value": V, "vector": [...]}
rewrites layer L's activation with a forward hook, as engine.Edit does.

Output: OUT/manifest.json {"params": {...}, "results": [{"file", "shape", "logit"}]} and raw
float32 files.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "testdata"))
import torchref  # noqa: E402


def build(arch, weights, out, manifest):
    _, make, layers = torchref.ARCHS[arch]
    if weights.isdigit():
        torch.manual_seed(int(weights))
        model = make()
        torchref.reinit(model)
        for k, v in model.state_dict().items():
            name = "param.%s.f32" % k
            v.detach().float().numpy().astype("<f4").tofile(os.path.join(out, name))
            manifest["params"][k] = {"file": name, "shape": list(v.shape)}
    else:
        model = make()
        model.load_state_dict(torch.load(weights, map_location="cpu"))
    for m in model.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False  # hooked activations must stay intact for autograd
    model.eval()
    model.double()
    return model, dict(layers)


def edit_hook(e):
    def hook(_m, _i, y):
        y = y.clone()
        if e["op"] == "set":
            y[:, e["channel"]] = e["value"]
        elif e["op"] == "scale":
            y[:, e["channel"]] = y[:, e["channel"]] * e["value"]
        else:
            v = torch.tensor(e["vector"], dtype=torch.float32).double()
            shape = [1, -1] + [1] * (y.dim() - 2)
            y = y + e["value"] * v.view(shape)
        return y
    return hook


def run(model, where, x, req):
    mods = dict(model.named_modules())
    handles = [mods[where[e["layer"]]].register_forward_hook(edit_hook(e)) for e in req.get("edits", [])]
    acts = {}
    if req["method"] == "gradcam":  # registered after the edits, so it sees the edited output
        handles.append(mods[where[req["layer"]]].register_forward_hook(
            lambda _m, _i, y: acts.__setitem__("a", y)))
    xi = x.clone().requires_grad_(req["method"] == "saliency")
    logits = torch.flatten(model(xi), 1)
    for h in handles:
        h.remove()
    if req["method"] == "forward":
        return logits[0], None
    y = logits[0, req["class"]]
    if req["method"] == "gradcam":
        a = acts["a"]
        (g,) = torch.autograd.grad(y, a)
        alpha = g.mean(dim=(2, 3), keepdim=True)
        return torch.relu((alpha * a).sum(dim=1))[0], float(y)
    (g,) = torch.autograd.grad(y, xi)
    return g.abs().amax(dim=1)[0], float(y)


def main(argv):
    if len(argv) != 5:
        sys.exit(__doc__)
    arch, weights, input_path, out, requests = argv
    torch.set_num_threads(1)
    os.makedirs(out, exist_ok=True)
    manifest = {"params": {}, "results": []}
    model, where = build(arch, weights, out, manifest)
    side = int(round((os.path.getsize(input_path) // 12) ** 0.5))
    x = torch.from_numpy(np.fromfile(input_path, dtype="<f4").reshape(1, 3, side, side)).double()
    for i, req in enumerate(json.loads(requests)):
        r, logit = run(model, where, x, req)
        name = "result%d.f32" % i
        r.detach().float().numpy().astype("<f4").tofile(os.path.join(out, name))
        manifest["results"].append({"file": name, "shape": list(r.shape), "logit": logit})
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1:])
