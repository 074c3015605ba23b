#!/usr/bin/python3
"""Attribution written in PyTorch, the same computations as engine/explain, for timing the Go
code beside it (bench/explain.sh).

  python3 bench/explain_torch.py --arch squeezenet1_1 --method gradcam --threads 1 IMAGE
      [--weights squeezenet1_1-imagenet.pth] [--samples N] [--patch 32 --stride 16] [--batch 16]

Methods as engine/explain defines them: gradcam (ReLU(sum_k alpha_k A_k) at the last
convolutional layer before the classifier, alpha_k the spatial mean of the logit's gradient),
saliency (max over colour channels of |d logit / d x|), smoothgrad (saliency averaged over
--samples noisy copies, sigma 0.15 x the input's range, in batches of --batch), occlusion
(the class probability's drop with a grey --patch square every --stride pixels, clipped at
the edges, in batches of --batch), ig (integrated gradients from black, --samples midpoints
in batches of --batch). The class is the top-1. The photo is preprocessed the torchvision
way (resize 256, centre crop 224). Without --weights the weights are torchvision's random
initialization (the cost is the same). One warm-up run precedes the timed one.

Prints one JSON line: arch, method, threads, ms (the timed run, forward pass for the class
included), forward_ms (one forward pass of the photo).
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "engine", "testdata"))
import torchref  # noqa: E402

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def grads(model, x, c):
    x = x.clone().requires_grad_(True)
    y = torch.flatten(model(x), 1)[:, c].sum()
    (g,) = torch.autograd.grad(y, x)
    return g


def run(model, where, layer, x, method, a):
    with torch.no_grad():
        logits = torch.flatten(model(x), 1)
    c = int(logits.argmax())
    if method == "gradcam":
        acts = {}
        h = dict(model.named_modules())[where[layer]].register_forward_hook(lambda _m, _i, y: acts.__setitem__("a", y))
        y = torch.flatten(model(x), 1)[0, c]
        h.remove()
        (g,) = torch.autograd.grad(y, acts["a"])
        return torch.relu((g.mean(dim=(2, 3), keepdim=True) * acts["a"]).sum(1))
    if method == "saliency":
        return grads(model, x, c).abs().amax(1)
    if method == "smoothgrad":
        sigma = 0.15 * float(x.max() - x.min())
        gen = torch.Generator().manual_seed(0)
        total = torch.zeros(x.shape[2:])
        for s in range(0, a.samples, a.batch):
            b = min(a.batch, a.samples - s)
            xb = x.repeat(b, 1, 1, 1) + sigma * torch.randn((b,) + tuple(x.shape[1:]), generator=gen)
            total += grads(model, xb, c).abs().amax(1).sum(0)
        return total / a.samples
    if method == "occlusion":
        h, w = x.shape[2:]
        pos = [(r, q) for r in range(0, h, a.stride) for q in range(0, w, a.stride)]
        p0 = F.softmax(logits, 1)[0, c]
        out = []
        with torch.no_grad():
            for s in range(0, len(pos), a.batch):
                xb = x.repeat(len(pos[s:s + a.batch]), 1, 1, 1)
                for i, (r, q) in enumerate(pos[s:s + a.batch]):
                    xb[i, :, r:r + a.patch, q:q + a.patch] = 0
                out.append(p0 - F.softmax(torch.flatten(model(xb), 1), 1)[:, c])
        return torch.cat(out)
    if method == "ig":
        base = ((torch.zeros(1, 3, 1, 1) - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)).expand_as(x)
        total = torch.zeros_like(x)
        for s in range(0, a.samples, a.batch):
            b = min(a.batch, a.samples - s)
            alpha = ((torch.arange(s, s + b, dtype=torch.float32) + 0.5) / a.samples).view(b, 1, 1, 1)
            total += grads(model, base + alpha * (x - base), c).sum(0, keepdim=True)
        return ((x - base) * total / a.samples).sum(1)
    sys.exit("unknown method %r" % method)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--arch", required=True)
    p.add_argument("--method", required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--weights")
    p.add_argument("--samples", type=int, default=0)
    p.add_argument("--patch", type=int, default=32)
    p.add_argument("--stride", type=int, default=16)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("image")
    a = p.parse_args()
    a.samples = a.samples or {"smoothgrad": 16, "ig": 32}.get(a.method, 1)
    torch.set_num_threads(a.threads)
    _, build, layers = torchref.ARCHS[a.arch]
    model = build()
    if a.weights:
        model.load_state_dict(torch.load(a.weights, map_location="cpu"))
    for m in model.modules():
        if isinstance(m, torch.nn.ReLU):
            m.inplace = False
    model.eval()
    where = dict(layers)
    layer = {"squeezenet1_1": "fire9", "alexnet": "conv5", "alexnet-bvlc": "conv5"}[a.arch]
    from PIL import Image
    import torchvision.transforms as T
    tf = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), T.Normalize(MEAN, STD)])
    x = tf(Image.open(a.image).convert("RGB")).unsqueeze(0)
    run(model, where, layer, x, a.method, a)  # warm-up
    start = time.perf_counter()
    run(model, where, layer, x, a.method, a)
    ms = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    with torch.no_grad():
        model(x)
    fwd = (time.perf_counter() - start) * 1000
    print(json.dumps({"arch": a.arch, "method": a.method, "threads": a.threads, "ms": ms, "forward_ms": fwd}))


if __name__ == "__main__":
    main()
