"""Real PyTorch files and the values they hold, for the Go tests of weights/pth.

usage:
  torchgen.py batch DIR [REAL.pth...]                   everything below at once (one torch start-up):
      DIR/<name>.pth + DIR/<name>.json for squeezenet1_1, alexnet, zoo2, zoo4, zoo5,
      checkpoint, and legacy_squeezenet1_1, legacy_zoo, legacy_checkpoint in the pre-1.6
      format; DIR/real<i>.json describing each REAL.pth
  torchgen.py model NAME SEED OUT.pth MANIFEST.json   torchvision NAME(), seeded, torch.save(state_dict)
  torchgen.py zoo OUT.pth MANIFEST.json [PROTOCOL]      every tensor layout the reader must handle
  torchgen.py checkpoint OUT.pth MANIFEST.json         weights nested in a training checkpoint
  torchgen.py legacy OUT.pth MANIFEST.json             the zoo in the pre-1.6 (non-zip) format
  torchgen.py load IN.pth MANIFEST.json                 torch.load a file (checks the Go writer)
  torchgen.py manifest IN.pth MANIFEST.json             torch.load and describe any state_dict

A manifest maps each floating-point tensor a reader should return to its shape and the
SHA-256 of its float32 little-endian bytes (the exact values, with no tolerance), plus the
first values for readable failures. "order" is the file's key order; "skipped" lists the
integer tensors a reader must leave out.
"""
import collections
import hashlib
import json
import sys

import torch
import torchvision


def describe(sd):
    tensors, order, skipped = {}, [], []
    for k, v in sd.items():
        if not isinstance(v, torch.Tensor):
            continue
        if not v.is_floating_point():
            skipped.append(k)
            continue
        f = v.detach().to(torch.float32).contiguous()
        raw = f.numpy().astype("<f4").tobytes()
        tensors[k] = {
            "shape": list(f.shape),
            "sha256": hashlib.sha256(raw).hexdigest(),
            "head": [float(x) for x in f.flatten()[:4].tolist()],
        }
        order.append(k)
    return {"tensors": tensors, "order": order, "skipped": skipped,
            "type": type(sd).__name__}


def write_manifest(path, man):
    with open(path, "w") as f:
        json.dump(man, f)


def zoo():
    """A state_dict with every layout torch.save produces for weights."""
    g = torch.Generator().manual_seed(7)
    base = torch.randn(64, generator=g)
    conv = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    torch.manual_seed(3)
    for p in conv.parameters():
        torch.nn.init.normal_(p)
    sd = conv.state_dict()  # has num_batches_tracked (int64) and _metadata
    sd["view.offset"] = base[5:17].view(3, 4)  # shares base's storage, offset 5
    sd["view.whole"] = base  # the same storage again
    sd["view.transposed"] = base[:12].view(3, 4).t()  # non-contiguous
    sd["view.strided"] = base[::3][:10]  # stride 3
    sd["view.expanded"] = torch.randn(1, 3, generator=g).expand(2, 3)  # stride 0
    sd["half"] = torch.randn(5, 2, generator=g).half()
    sd["half.special"] = torch.tensor([0.0, -0.0, 6e-8, -6e-5, 65504, float("inf"), float("-inf"), 1 / 3], dtype=torch.float16)
    sd["bfloat16"] = torch.randn(7, generator=g).bfloat16()
    sd["double"] = torch.randn(2, 3, generator=g, dtype=torch.float64)
    sd["scalar"] = torch.tensor(2.5)
    sd["empty"] = torch.zeros(0, 3)
    sd["param"] = torch.nn.Parameter(torch.randn(3, generator=g))
    sd["int32"] = torch.arange(4, dtype=torch.int32)
    sd["bool"] = torch.tensor([True, False])
    sd["uint8"] = torch.arange(3, dtype=torch.uint8)
    return sd


def save_model(name, seed, out, man, legacy=False):
    torch.manual_seed(seed)
    sd = getattr(torchvision.models, name)().state_dict()
    torch.save(sd, out, _use_new_zipfile_serialization=not legacy)
    write_manifest(man, describe(sd))


def save_zoo(out, man, protocol, legacy=False):
    sd = zoo()
    torch.save(sd, out, pickle_protocol=protocol, _use_new_zipfile_serialization=not legacy)
    write_manifest(man, describe(sd))


def save_checkpoint(out, man, legacy=False):
    """A training checkpoint: the weights nested under "state_dict", DataParallel names."""
    torch.manual_seed(5)
    inner = torch.nn.Linear(3, 2).state_dict()
    wrapped = collections.OrderedDict(("module." + k, v) for k, v in inner.items())
    torch.save({"epoch": 3, "lr": 0.01, "arch": "linear", "state_dict": wrapped,
                "optimizer": {"state": {}, "param_groups": [{"lr": 0.01, "params": [0, 1]}]}}, out,
               _use_new_zipfile_serialization=not legacy)
    write_manifest(man, describe(inner))


def main():
    mode = sys.argv[1]
    if mode == "batch":
        d = sys.argv[2]
        for name in ("squeezenet1_1", "alexnet"):
            save_model(name, 42, f"{d}/{name}.pth", f"{d}/{name}.json")
        for protocol in (2, 4, 5):
            save_zoo(f"{d}/zoo{protocol}.pth", f"{d}/zoo{protocol}.json", protocol)
        save_checkpoint(f"{d}/checkpoint.pth", f"{d}/checkpoint.json")
        # The same in the legacy (pre-1.6) format.
        save_model("squeezenet1_1", 42, f"{d}/legacy_squeezenet1_1.pth", f"{d}/legacy_squeezenet1_1.json", legacy=True)
        save_zoo(f"{d}/legacy_zoo.pth", f"{d}/legacy_zoo.json", 2, legacy=True)
        save_checkpoint(f"{d}/legacy_checkpoint.pth", f"{d}/legacy_checkpoint.json", legacy=True)
        for i, path in enumerate(sys.argv[3:]):
            write_manifest(f"{d}/real{i}.json", describe(torch.load(path, map_location="cpu")))
    elif mode == "seeds":  # the small files the fuzz targets start from
        d = sys.argv[2]
        for protocol in (2, 4):
            save_zoo(f"{d}/zoo{protocol}.pth", f"{d}/zoo{protocol}.json", protocol)
        save_checkpoint(f"{d}/checkpoint.pth", f"{d}/checkpoint.json")
        save_zoo(f"{d}/legacy_zoo.pth", f"{d}/legacy_zoo.json", 2, legacy=True)
    elif mode == "model":
        save_model(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
    elif mode == "zoo":
        save_zoo(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 2)
    elif mode == "checkpoint":
        save_checkpoint(sys.argv[2], sys.argv[3])
    elif mode == "legacy":  # the zoo in the legacy format
        save_zoo(sys.argv[2], sys.argv[3], 2, legacy=True)
    elif mode in ("load", "manifest"):
        sd = torch.load(sys.argv[2], map_location="cpu")
        write_manifest(sys.argv[3], describe(sd))
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
