#!/usr/bin/python3
"""PyTorch reference dumps for engine/torchref_test.go.

Two modes, both writing raw little-endian float32 files plus manifest.json into OUT:

  torchref.py random ARCH SEED OUT [--batch N] [--side S]
      Builds ARCH (alexnet, alexnet-bvlc, squeezenet1_1) with weights re-initialized from
      torch.manual_seed(SEED), runs a seeded, image-like random batch (N images of S x S,
      default 2 at the network's own input size) through it in eval mode and writes every
      state_dict tensor, the input, and the output of every named engine layer
      (conv1 ... fc8 / fire2 ... avgpool10) and the logits.

  torchref.py photos WEIGHTS OUT IMAGE...
      Loads torchvision's squeezenet1_1 with the state_dict in WEIGHTS, preprocesses each
      photo the torchvision way (resize 256, center crop 224, normalize) and writes the
      input batch, the logits and every state_dict tensor.

The manifest maps each tensor name to {"file", "shape"} under "params", "activations" and
"inputs"; "layers" lists the named activations in network order.

The named activations follow engine's conventions: a convolution or fully connected layer's
name means its output after the fused ReLU, a fire module's name its concatenated output.
They are taken with forward hooks on the torch module where that activation ends, so the
torch model runs exactly as torchvision defines it.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torchvision


class AlexNetBVLC(nn.Module):
    """The original BVLC AlexNet (Krizhevsky et al. 2012) as engine.AlexNetBVLC describes it:
    96-256-384-384-256 channels, conv2/4/5 in two groups, LRN after conv1 and conv2 ReLUs,
    227x227 input, no adaptive pool. Sequential indices give engine's state_dict keys."""

    def __init__(self, num_classes=1000):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, 11, stride=4),  # 0
            nn.ReLU(inplace=True),  # 1
            nn.LocalResponseNorm(5, 1e-4, 0.75, 1.0),  # 2
            nn.MaxPool2d(3, 2),  # 3
            nn.Conv2d(96, 256, 5, padding=2, groups=2),  # 4
            nn.ReLU(inplace=True),  # 5
            nn.LocalResponseNorm(5, 1e-4, 0.75, 1.0),  # 6
            nn.MaxPool2d(3, 2),  # 7
            nn.Conv2d(256, 384, 3, padding=1),  # 8
            nn.ReLU(inplace=True),  # 9
            nn.Conv2d(384, 384, 3, padding=1, groups=2),  # 10
            nn.ReLU(inplace=True),  # 11
            nn.Conv2d(384, 256, 3, padding=1, groups=2),  # 12
            nn.ReLU(inplace=True),  # 13
            nn.MaxPool2d(3, 2),  # 14
        )
        self.classifier = nn.Sequential(
            nn.Dropout(),  # 0
            nn.Linear(256 * 6 * 6, 4096),  # 1
            nn.ReLU(inplace=True),  # 2
            nn.Dropout(),  # 3
            nn.Linear(4096, 4096),  # 4
            nn.ReLU(inplace=True),  # 5
            nn.Linear(4096, num_classes),  # 6
        )

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


# For each architecture: input side, and engine layer name -> the torch module whose output
# is that activation.
ARCHS = {
    "alexnet": (224, torchvision.models.alexnet, [
        ("conv1", "features.1"), ("pool1", "features.2"),
        ("conv2", "features.4"), ("pool2", "features.5"),
        ("conv3", "features.7"), ("conv4", "features.9"), ("conv5", "features.11"),
        ("pool5", "features.12"), ("avgpool", "avgpool"),
        ("fc6", "classifier.2"), ("fc7", "classifier.5"), ("fc8", "classifier.6"),
    ]),
    "alexnet-bvlc": (227, AlexNetBVLC, [
        ("conv1", "features.1"), ("norm1", "features.2"), ("pool1", "features.3"),
        ("conv2", "features.5"), ("norm2", "features.6"), ("pool2", "features.7"),
        ("conv3", "features.9"), ("conv4", "features.11"), ("conv5", "features.13"),
        ("pool5", "features.14"),
        ("fc6", "classifier.2"), ("fc7", "classifier.5"), ("fc8", "classifier.6"),
    ]),
    "squeezenet1_1": (224, torchvision.models.squeezenet1_1, [
        ("conv1", "features.1"), ("pool1", "features.2"),
        ("fire2", "features.3"), ("fire3", "features.4"), ("pool3", "features.5"),
        ("fire4", "features.6"), ("fire5", "features.7"), ("pool5", "features.8"),
        ("fire6", "features.9"), ("fire7", "features.10"), ("fire8", "features.11"),
        ("fire9", "features.12"),
        ("conv10", "classifier.2"), ("avgpool10", "classifier.3"),
    ]),
}

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


class Writer:
    def __init__(self, out):
        self.out = out
        self.manifest = {"params": {}, "activations": {}, "inputs": {}, "layers": []}
        os.makedirs(out, exist_ok=True)

    def add(self, section, name, t):
        a = t.detach().contiguous().cpu().numpy().astype("<f4")
        fname = "%s.%s.f32" % (section, name)
        a.tofile(os.path.join(self.out, fname))
        self.manifest[section][name] = {"file": fname, "shape": list(a.shape)}

    def close(self, **extra):
        self.manifest.update(extra)
        with open(os.path.join(self.out, "manifest.json"), "w") as f:
            json.dump(self.manifest, f, indent=1)


def reinit(model):
    """Re-initializes every parameter from the global torch generator so that activations keep
    their scale through the depth of the network (He-normal weights) and biases are nonzero
    (torchvision's SqueezeNet init zeroes them, which would hide bias bugs)."""
    for name, p in model.named_parameters():
        with torch.no_grad():
            if name.endswith(".weight"):
                fan_in = p[0].numel()
                p.normal_(0.0, (2.0 / fan_in) ** 0.5)
            else:
                p.uniform_(-0.1, 0.1)


def image_like(n, side, gen):
    """Smooth random pictures: coarse uniform noise in [0,1] upsampled bilinearly, then
    normalized with the ImageNet mean and std, like a preprocessed photo."""
    coarse = torch.rand(n, 3, side // 16, side // 16, generator=gen)
    img = nn.functional.interpolate(coarse, size=(side, side), mode="bilinear", align_corners=False)
    img = img + 0.05 * torch.randn(n, 3, side, side, generator=gen)  # a little texture
    return ((img.clamp(0, 1) - MEAN) / STD).contiguous()


def run_with_hooks(model, layers, x, w):
    mods = dict(model.named_modules())
    acts = {}
    handles = []
    for layer, mod in layers:
        def hook(_m, _inp, out, layer=layer):
            acts[layer] = out.detach().clone()  # clone: a later in-place ReLU may overwrite it
        handles.append(mods[mod].register_forward_hook(hook))
    with torch.no_grad():
        logits = model(x)
    for h in handles:
        h.remove()
    for layer, _ in layers:
        w.add("activations", layer, acts[layer])
        w.manifest["layers"].append(layer)
    return logits


def random_mode(arch, seed, out, batch, side=0):
    native, build, layers = ARCHS[arch]
    side = side or native
    torch.manual_seed(seed)
    model = build()
    reinit(model)
    if arch == "alexnet-bvlc":
        # At unit activation scale LRN (alpha 1e-4) is nearly the identity and a broken LRN
        # would pass unseen. Scale conv1 like the Caffe network, whose input is in 0-255, so
        # that norm1 and norm2 divide by about 2.
        with torch.no_grad():
            model.features[0].weight.mul_(100)
            model.features[0].bias.mul_(100)
    model.eval()
    gen = torch.Generator().manual_seed(seed + 1)
    x = image_like(batch, side, gen)
    w = Writer(out)
    for k, v in model.state_dict().items():
        w.add("params", k, v)
    w.add("inputs", "input", x)
    logits = run_with_hooks(model, layers, x, w)
    w.add("activations", "logits", torch.flatten(logits, 1))
    w.close(arch=arch, seed=seed, torch=torch.__version__)


def photos_mode(weights, out, images):
    from PIL import Image
    import torchvision.transforms as T

    model = torchvision.models.squeezenet1_1()
    model.load_state_dict(torch.load(weights, map_location="cpu"))
    model.eval()
    tf = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(),
                    T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    x = torch.stack([tf(Image.open(p).convert("RGB")) for p in images])
    w = Writer(out)
    for k, v in model.state_dict().items():
        w.add("params", k, v)
    w.add("inputs", "input", x)
    with torch.no_grad():
        logits = torch.flatten(model(x), 1)
    w.add("activations", "logits", logits)
    w.close(arch="squeezenet1_1", images=[os.path.basename(p) for p in images], torch=torch.__version__)


def main(argv):
    if len(argv) >= 4 and argv[0] == "random":
        opts = {"--batch": 2, "--side": 0}
        rest = argv[4:]
        while rest:
            if len(rest) < 2 or rest[0] not in opts:
                sys.exit(__doc__)
            opts[rest[0]] = int(rest[1])
            rest = rest[2:]
        if argv[1] not in ARCHS:
            sys.exit("unknown arch %r (known: %s)" % (argv[1], ", ".join(sorted(ARCHS))))
        random_mode(argv[1], int(argv[2]), argv[3], opts["--batch"], opts["--side"])
    elif len(argv) >= 4 and argv[0] == "photos":
        photos_mode(argv[1], argv[2], argv[3:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    torch.set_num_threads(1)
    main(sys.argv[1:])
