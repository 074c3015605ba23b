"""Writes ONNX models and PyTorch's outputs for weights/onnx's import tests.

usage: make_import_models.py OUTDIR SEED PHOTO [SQUEEZENET_PTH [BVLC_CONV1_PTH]]

OUTDIR/bvlc_zoo.onnx  the BVLC AlexNet (Caffe input convention, seeded random weights),
                      exported by torch.onnx.export with its initializers renamed to the
                      ONNX model zoo's names (conv1_w_0 ... fc8_b_0)
OUTDIR/bvlc_input.pb  batch of 2: the photo and seeded noise, 227x227, torchvision-normalized RGB
OUTDIR/bvlc_logits.pb PyTorch's logits for that batch, fed to the network in Caffe's
                      convention (BGR, 0-255, minus the ILSVRC mean)
OUTDIR/squeezenet.onnx, squeezenet_input.pb, squeezenet_logits.pb
                      torchvision's squeezenet1_1 with the real weights of SQUEEZENET_PTH
                      (engine state_dict names), when that file is given
OUTDIR/conv1_{raw,folded}_{w,b}.pb
                      the raw Caffe conv1 blobs of BVLC_CONV1_PTH and their folded versions
"""
import io
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torchvision
from onnx import numpy_helper
from PIL import Image

out, seed, photo = sys.argv[1], int(sys.argv[2]), sys.argv[3]
torch.manual_seed(seed)

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
CAFFE_MEAN_BGR = torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)


def bvlc_alexnet():
    m = nn.Module()
    m.features = nn.Sequential(
        nn.Conv2d(3, 96, 11, stride=4), nn.ReLU(), nn.LocalResponseNorm(5, 1e-4, 0.75, 1.0),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(96, 256, 5, padding=2, groups=2), nn.ReLU(), nn.LocalResponseNorm(5, 1e-4, 0.75, 1.0),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 384, 3, padding=1, groups=2), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1, groups=2), nn.ReLU(),
        nn.MaxPool2d(3, 2))
    m.classifier = nn.Sequential(
        nn.Dropout(), nn.Linear(9216, 4096), nn.ReLU(), nn.Dropout(),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, 1000))

    def forward(x):
        return m.classifier(torch.flatten(m.features(x), 1))
    m.forward = forward
    # Weights that keep the signal alive through eight layers (He init; conv1 sized for
    # 0-255 input), so that every layer, the fold included, shows in the logits.
    for mod in m.modules():
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(mod.weight, nonlinearity="relu")
            nn.init.normal_(mod.bias, std=0.05)
    with torch.no_grad():
        m.features[0].weight.mul_(1 / 60.0)
    return m.eval()


def photo_batch(size):
    img = Image.open(photo).convert("RGB").resize((size, size), Image.BILINEAR)
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255).permute(2, 0, 1).unsqueeze(0)
    noise = torch.rand(1, 3, size, size)
    return (torch.cat([x, noise]) - MEAN) / STD


def save_tensor(t, path):
    with open(path, "wb") as f:
        f.write(numpy_helper.from_array(t.detach().numpy().astype(np.float32)).SerializeToString())


ZOO = {"features.0": "conv1", "features.4": "conv2", "features.8": "conv3", "features.10": "conv4",
       "features.12": "conv5", "classifier.1": "fc6", "classifier.4": "fc7", "classifier.6": "fc8"}

model = bvlc_alexnet()
x = photo_batch(227)
caffe_x = (255 * (x * STD + MEAN)).flip(1) - CAFFE_MEAN_BGR  # RGB -> BGR, 0-255, minus mean
with torch.no_grad():
    logits = model(caffe_x)
exported = io.BytesIO()
torch.onnx.export(model, caffe_x, exported, opset_version=12,
                  input_names=["data_0"], output_names=["fc8_1"])
g = onnx.load_from_string(exported.getvalue())
del exported
rename = {}
for init in g.graph.initializer:
    layer, kind = init.name.rsplit(".", 1)
    rename[init.name] = "%s_%s_0" % (ZOO[layer], "w" if kind == "weight" else "b")
    init.name = rename[init.name]
for node in g.graph.node:
    for i, name in enumerate(node.input):
        if name in rename:
            node.input[i] = rename[name]
for vi in g.graph.input:
    if vi.name in rename:
        vi.name = rename[vi.name]
onnx.checker.check_model(g)
onnx.save(g, out + "/bvlc_zoo.onnx")
save_tensor(x, out + "/bvlc_input.pb")
save_tensor(logits, out + "/bvlc_logits.pb")
print("bvlc initializers:", sorted(rename.values()))

if len(sys.argv) > 4:
    sq = torchvision.models.squeezenet1_1()
    sq.load_state_dict(torch.load(sys.argv[4]))
    sq.eval()
    x = photo_batch(224)
    with torch.no_grad():
        logits = sq(x)
    torch.onnx.export(sq, x, out + "/squeezenet.onnx", opset_version=12)
    save_tensor(x, out + "/squeezenet_input.pb")
    save_tensor(logits, out + "/squeezenet_logits.pb")
    print("squeezenet top-1:", int(logits[0].argmax()))

if len(sys.argv) > 5:
    sd = torch.load(sys.argv[5])
    save_tensor(sd["caffe.conv1.weight_bgr_raw"], out + "/conv1_raw_w.pb")
    save_tensor(sd["caffe.conv1.bias_raw"], out + "/conv1_raw_b.pb")
    save_tensor(sd["features.0.weight"], out + "/conv1_folded_w.pb")
    save_tensor(sd["features.0.bias"], out + "/conv1_folded_b.pb")
