#!/usr/bin/python3
"""Exports the networks the browser CPU benchmark runs, all from one PyTorch state_dict each:

  OUT/<net>.pth          the state_dict AlexLens loads (torch.save zip, as torchvision's files)
  OUT/<net>.onnx         the same network for onnxruntime-web (torch.onnx.export, opset 13)
  OUT/<net>.tfjs.bin     the same weights for the tfjs graph in page/peers.js: float32,
  OUT/<net>.tfjs.json    conv kernels as HWIO, linear weights as [in, out], in the listed order
  OUT/input.bin          one real photo (skimage's chelsea.png) preprocessed as torchvision
                         does (resize 256, centre crop 224, ImageNet mean/std), float32 NCHW
  OUT/reference.json     PyTorch float32's top-5 and logits per network, for the agreement check

SqueezeNet 1.1 uses the released ImageNet weights (ALEXLENS_SHARED/weights); torchvision
AlexNet has no trained weights on this machine, so it gets seeded He-initialized ones: speed
does not depend on the values and every engine gets the same ones.

Usage: /usr/bin/python3 export.py OUT_DIR SHARED_WEIGHTS_DIR
"""
import json
import os
import sys

import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision import transforms

out, shared = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)

photo = "/usr/lib/python3/dist-packages/skimage/data/chelsea.png"
pre = transforms.Compose([
    transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
    transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
x = pre(Image.open(photo).convert("RGB")).unsqueeze(0).contiguous()
x.numpy().astype("<f4").tofile(os.path.join(out, "input.bin"))

nets = {}
alex = torchvision.models.alexnet()  # torchvision's default init, seeded above
nets["alexnet"] = alex
sq = torchvision.models.squeezenet1_1()
sq_path = os.path.join(shared, "squeezenet1_1-imagenet.pth")
if os.path.exists(sq_path):
    sq.load_state_dict(torch.load(sq_path, map_location="cpu"))
    trained = True
else:
    print("export: %s missing, SqueezeNet gets random weights" % sq_path, file=sys.stderr)
    trained = False
nets["squeezenet1_1"] = sq

reference = {}
for name, net in nets.items():
    net.eval()
    torch.save(net.state_dict(), os.path.join(out, name + ".pth"))
    with torch.no_grad():
        logits = net(x)[0]
    top = torch.topk(logits, 5)
    reference[name] = {
        "top5": top.indices.tolist(),
        "logits": logits.tolist(),
        "trained": name == "squeezenet1_1" and trained,
    }
    torch.onnx.export(net, x, os.path.join(out, name + ".onnx"), opset_version=13,
                      input_names=["input"], output_names=["logits"], do_constant_folding=True)
    # tfjs weights: every parameter in state_dict order, conv kernels OIHW -> HWIO and linear
    # weights [out, in] -> [in, out], so that tf.conv2d and tf.matMul read them directly.
    entries, blobs, off = [], [], 0
    for key, t in net.state_dict().items():
        a = t.detach().numpy().astype("<f4")
        if a.ndim == 4:
            a = a.transpose(2, 3, 1, 0)
        elif a.ndim == 2:
            a = a.transpose(1, 0)
        a = np.ascontiguousarray(a)
        entries.append({"name": key, "shape": list(a.shape), "offset": off})
        blobs.append(a.tobytes())
        off += a.size
    with open(os.path.join(out, name + ".tfjs.bin"), "wb") as f:
        for b in blobs:
            f.write(b)
    with open(os.path.join(out, name + ".tfjs.json"), "w") as f:
        json.dump(entries, f)

with open(os.path.join(out, "reference.json"), "w") as f:
    json.dump(reference, f)
print("export: wrote", ", ".join(sorted(os.listdir(out))))
