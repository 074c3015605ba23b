"""PyTorch CPU baseline for bench/native.sh: one network, batch 1, float32, a fixed number of
threads. Prints one JSON line with the median latency and the process's peak RSS.

Run one configuration per process so that the peak RSS belongs to that configuration.
Weights are random (torchvision models built without pretrained weights): speed does not
depend on their values, and the Go benchmarks use random weights too.
"""
import argparse
import json
import resource
import statistics
import time

import torch
import torch.nn as nn
import torchvision


def bvlc_alexnet():
    # The 2012 network as released by BVLC, in the layer order of engine.AlexNetBVLC:
    # groups on conv2/4/5, LRN after conv1 and conv2, 227x227 input.
    return nn.Sequential(
        nn.Sequential(
            nn.Conv2d(3, 96, 11, 4), nn.ReLU(inplace=True),
            nn.LocalResponseNorm(5, 1e-4, 0.75, 1.0), nn.MaxPool2d(3, 2),
            nn.Conv2d(96, 256, 5, padding=2, groups=2), nn.ReLU(inplace=True),
            nn.LocalResponseNorm(5, 1e-4, 0.75, 1.0), nn.MaxPool2d(3, 2),
            nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, 3, padding=1, groups=2), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1, groups=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),
        ),
        nn.Flatten(),
        nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
        nn.Linear(4096, 4096), nn.ReLU(inplace=True),
        nn.Linear(4096, 1000),
    )


NETS = {
    "alexnet": (lambda: torchvision.models.alexnet(), 224),
    "alexnet-bvlc": (bvlc_alexnet, 227),
    "squeezenet1_1": (lambda: torchvision.models.squeezenet1_1(), 224),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--net", required=True, choices=sorted(NETS))
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--iters", type=int, default=30)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    build, size = NETS[args.net]
    torch.manual_seed(0)
    model = build().eval()
    x = torch.randn(1, 3, size, size)
    times, cpu = [], []
    with torch.inference_mode():
        for _ in range(3):  # warm-up: allocator, caches, lazy initialisation
            model(x)
        for _ in range(args.iters):
            start, cpu0 = time.perf_counter(), time.process_time()
            model(x)
            times.append((time.perf_counter() - start) * 1e3)
            cpu.append((time.process_time() - cpu0) * 1e3)
    print(json.dumps({
        "net": args.net,
        "threads": args.threads,
        "median_ms": statistics.median(times),
        "cpu_ms": statistics.mean(cpu),  # CPU time per pass, all threads together
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
