#!/usr/bin/python3
"""Feature visualization written in PyTorch, the same loop as engine/featurevis (RunBatch with
one objective), for timing the Go loop beside it.

Each step, as featurevis.go does: render the Fourier-parameterized image (param.go: a half
spectrum per channel scaled by sqrt(h*w)/max(freq, 1/max(h, w)), divided by 4, irfft2, the
ImageNet colour-decorrelation matrix normalized by its largest column norm, sigmoid); draw
one random affine transform (transform.go's DefaultTransforms: jitter of whole pixels up to
12, zoom in steps of 2% within 10%, rotation in whole degrees up to 10 with extra weight on
none); bilinear-sample the image into the network input (side n = the image size where the
network can run at it), mid grey outside; normalize with the ImageNet mean and std; forward
to the objective's layer only, backward, and one Adam step uphill (lr 0.05). Everything runs
in float32 through torch autograd; the weights take no gradient.

Objectives (engine/grad.go): --layer L --channel C is the mean over positions of channel C of
L's output before its ReLU (PreReLU; --post-relu reads it after); --class K is the logit of
class K. Layer names are engine's (fire6, conv4, ...), mapped to torchvision modules by
engine/testdata/torchref.py.

  python3 bench/featurevis_torch.py --arch squeezenet1_1 --layer fire6 --channel 1 \
      --steps 64 --size 128 --threads 1 [--weights squeezenet1_1-imagenet.pth]
  python3 bench/featurevis_torch.py --arch alexnet --class 1 --steps 64 --size 128 --threads 1

Without --weights the weights are torchvision's random initialization (the cost is the same).
One warm-up step runs on a throwaway image first; then `steps` steps of a fresh one are timed.
Prints one JSON line: arch, objective, steps, size, threads, ms (the whole loop), ms_per_step,
first and last (the objective at the first and last timed step, before its update, under its
transform, as featurevis.Progress.Value).
"""
import argparse
import json
import math
import os
import random
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "engine", "testdata"))
import torchref  # noqa: E402  (architectures and engine layer name -> torch module)

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
COLOR_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
COLOR = COLOR_SQRT / COLOR_SQRT.norm(dim=0).max()  # divided by the largest column norm
JITTER, SCALE_SPAN, ROTATE_DEG, PAD = 12, 0.1, 10, 0.5


def spectrum_scale(h, w):
    """sqrt(h*w) / max(|freq|, 1/max(h, w)) over the h x (w/2+1) half spectrum, with the
    divisor 4 folded in (param.go)."""
    fy = torch.fft.fftfreq(h, dtype=torch.float64).view(h, 1)
    fx = torch.fft.rfftfreq(w, dtype=torch.float64).view(1, -1)
    freq = torch.sqrt(fy * fy + fx * fx).clamp(min=1.0 / max(h, w))
    return (math.sqrt(h * w) / freq / 4).float()


def render(re, im, scale, h, w):
    t = torch.fft.irfft2(torch.complex(re, im) * scale, s=(h, w))  # 3 x h x w, decorrelated
    return torch.sigmoid(torch.einsum("ij,jhw->ihw", COLOR, t))


def draw(r):
    """One transform as Transforms.draw: scale, then rotation, then the (y, x) shift."""
    steps = round(SCALE_SPAN / 0.02)
    s = 1 + (r.randrange(2 * steps + 1) - steps) * 0.02
    theta, k = 0.0, r.randrange(2 * ROTATE_DEG + 1 + ROTATE_DEG // 2)
    if k <= 2 * ROTATE_DEG:
        theta = (k - ROTATE_DEG) * math.pi / 180
    ty = r.randrange(2 * JITTER + 1) - JITTER
    tx = r.randrange(2 * JITTER + 1) - JITTER
    return s, theta, ty, tx


def sample_grid(s, theta, ty, tx, n, h, w):
    """The grid of transform.go's sampler: network pixel q reads the image at
    M (q - (n-1)/2) + (h-1)/2 + t with M = R(theta)/s. With align_corners=True, -1 and 1 are
    the centres of the first and last pixels, so this is an affine map of normalized
    coordinates; grid_sample's x comes first."""
    sin, cos = math.sin(theta), math.cos(theta)
    m00, m01, m10, m11 = cos / s, -sin / s, sin / s, cos / s  # (y, x) rows as in Go
    oc, cy, cx = (n - 1) / 2, (h - 1) / 2, (w - 1) / 2
    a = torch.tensor([[[m11 * oc / cx, m10 * oc / cx, tx / cx],
                       [m01 * oc / cy, m00 * oc / cy, ty / cy]]], dtype=torch.float32)
    return F.affine_grid(a, (1, 3, n, n), align_corners=True)


def build(arch, weights):
    _, make, layers = torchref.ARCHS[arch]
    model = make()
    if weights:
        model.load_state_dict(torch.load(weights, map_location="cpu"))
    model.eval()
    model.requires_grad_(False)
    return model, dict(layers)


def objective_fn(model, layers, args):
    """A function from the normalized input to the objective's value, running the network only
    as far as the objective's layer (as engine's forwardTape does)."""
    if args.cls is not None:
        return lambda x: torch.flatten(model(x), 1)[0, args.cls]
    mod = layers[args.layer]
    part, idx = mod.split(".")
    if part != "features":
        sys.exit("--layer %s: only layers inside features are supported" % args.layer)
    idx = int(idx)
    target = model.features[idx]
    if args.post_relu:
        act = lambda x: model.features[:idx + 1](x)  # noqa: E731
    elif isinstance(target, torch.nn.ReLU):  # a convolution's ReLU: read the conv's output
        act = lambda x: model.features[:idx](x)  # noqa: E731
    elif hasattr(target, "expand1x1"):  # a fire module: its expand convolutions, before ReLU
        def act(x):
            sq = target.squeeze_activation(target.squeeze(model.features[:idx](x)))
            return torch.cat([target.expand1x1(sq), target.expand3x3(sq)], 1)
    else:
        sys.exit("--layer %s has no ReLU to read before (try --post-relu)" % args.layer)
    return lambda x: act(x)[0, args.channel].mean()


def run(objective, steps, size, n, seed):
    """steps steps of gradient ascent on a fresh image; returns the objective at each."""
    torch.manual_seed(seed)
    rnd = random.Random(seed)
    fw = size // 2 + 1
    re = (0.01 * torch.randn(3, size, fw)).requires_grad_()
    im = (0.01 * torch.randn(3, size, fw)).requires_grad_()
    scale = spectrum_scale(size, size)
    opt = torch.optim.Adam([re, im], lr=0.05)
    values = []
    for _ in range(steps):
        rgb = render(re, im, scale, size, size).unsqueeze(0)
        grid = sample_grid(*draw(rnd), n, size, size)
        seen = F.grid_sample(rgb - PAD, grid, mode="bilinear", padding_mode="zeros", align_corners=True) + PAD
        v = objective((seen - MEAN) / STD)
        opt.zero_grad(set_to_none=True)
        (-v).backward()
        opt.step()
        values.append(float(v))
    return values


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", required=True, choices=["squeezenet1_1", "alexnet"])
    ap.add_argument("--layer")
    ap.add_argument("--channel", type=int, default=0)
    ap.add_argument("--class", dest="cls", type=int)
    ap.add_argument("--post-relu", action="store_true", help="read the layer after its ReLU")
    ap.add_argument("--steps", type=int, default=64)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--weights", help="a torchvision state_dict (.pth); random weights without")
    args = ap.parse_args()
    if (args.cls is None) == (args.layer is None):
        ap.error("give one of --layer (with --channel) or --class")
    torch.set_num_threads(args.threads)
    model, layers = build(args.arch, args.weights)
    objective = objective_fn(model, layers, args)
    if args.cls is not None:
        name = "class %d logit" % args.cls
    else:
        name = "%s channel %d mean%s" % (args.layer, args.channel, "" if args.post_relu else " (pre-ReLU)")

    n = args.size  # networkSide: the image's own size, unless the network cannot run at it
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, n, n))
    except RuntimeError:
        n = torchref.ARCHS[args.arch][0]

    run(objective, 1, args.size, n, args.seed + 1)  # warm-up on a throwaway image
    t0 = time.perf_counter()
    values = run(objective, args.steps, args.size, n, args.seed)
    ms = (time.perf_counter() - t0) * 1000
    print(json.dumps({"arch": args.arch, "objective": name, "steps": args.steps, "size": args.size,
                      "threads": args.threads, "ms": round(ms, 3), "ms_per_step": round(ms / args.steps, 3),
                      "first": values[0], "last": values[-1]}))


if __name__ == "__main__":
    main()
