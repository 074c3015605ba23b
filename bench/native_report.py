"""Turns the raw results of bench/native.sh into the "Native CPU" section of BENCHMARKS.md.

Input lines (one per configuration):
  go <kernel> <max RSS KiB> BenchmarkForward/<net>/<prec>/threads=<t>-<procs> <N> <v> ns/op <v> <unit> ...
  torch {"net": ..., "threads": ..., "median_ms": ..., "max_rss_mb": ..., "torch": ...}
The section lies between two HTML comment markers, so other sections of the file are kept.
"""
import argparse
import json
import os
import re

BEGIN, END = "<!-- native-cpu:begin -->", "<!-- native-cpu:end -->"
NETS = ["alexnet", "alexnet-bvlc", "squeezenet1_1"]
KERNELS = {"simd": "Go AVX-512 (GOEXPERIMENT=simd)", "portable": "Go portable"}


def parse(path):
    gos, torches = [], {}
    for line in open(path):
        kind, rest = line.split(" ", 1)
        if kind == "torch":
            r = json.loads(rest)
            torches[(r["net"], r["threads"])] = r
            continue
        kernel, rss, name, _n, *metrics = rest.split()
        m = re.match(r"BenchmarkForward/([^/]+)/([^/]+)/threads=(\d+)(-\d+)?$", name)
        vals = {unit: float(v) for v, unit in zip(metrics[0::2], metrics[1::2])}
        gos.append({"kernel": kernel, "net": m[1], "prec": m[2], "threads": int(m[3]),
                    "rss_mb": int(rss) / 1024, "metrics": vals})
    return gos, torches


def render(args, gos, torches):
    L = []
    L.append("## Native CPU\n")
    L.append("Batch 1, random weights, median of %d forward passes per configuration (%d for the "
             "portable kernel), each configuration in its own process. Reproduce with "
             "`bench/native.sh` (`make bench`).\n" % (args.iters, args.portable_iters))
    L.append("- Machine: %s, %s cores; Go %s; load average before / after the run: %s "
             "(other work on the machine makes the numbers noisy: compare rows of one run only)."
             % (args.cpu, args.cores, args.go, args.load))
    tv = next((t["torch"] for t in torches.values()), None)
    L.append("- PyTorch %s CPU, float32, `torch.set_num_threads` = threads; torchvision alexnet and "
             "squeezenet1_1, BVLC AlexNet as an equivalent nn.Sequential (bench/torch_bench.py)."
             % tv if tv else "- " + (args.note or "no PyTorch rows"))
    L.append("- AlexLens int8: int8 weights (per output channel scale), float32 activations. "
             "Ratio = AlexLens median / PyTorch float32 median at the same thread count "
             "(below 1 = AlexLens faster). CPU ms = process CPU time per pass, all threads "
             "together: on a shared, loaded machine it is the steadier measure (with 1 thread it is "
             "what the latency would be on an idle core). Go heap = heap in use after a pass (model, packed "
             "weights); max RSS is the whole process's peak.\n")
    odd = [k for k, t in torches.items() if k[1] == 1 and t["cpu_ms"] > 1.1 * t["median_ms"]]
    if odd:
        L.append("- PyTorch's CPU time exceeded its wall time at 1 thread for %s: some of its work "
                 "runs on threads that `torch.set_num_threads(1)` does not limit, so its 1-thread "
                 "latency is not strictly single-core.\n" % ", ".join(sorted(k[0] for k in odd)))
    L.append("| network | weights | threads | AlexLens kernel | AlexLens ms | PyTorch f32 ms | ratio | "
             "AlexLens CPU ms | PyTorch CPU ms | CPU ratio | AlexLens max RSS MB | Go heap MB | PyTorch max RSS MB |")
    L.append("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    order = {n: i for i, n in enumerate(NETS)}
    for g in sorted(gos, key=lambda g: (order.get(g["net"], 9), g["threads"], g["kernel"] != "simd", g["prec"])):
        t = torches.get((g["net"], g["threads"]))
        ms, cpu = g["metrics"]["median-ms"], g["metrics"].get("cpu-ms/op", 0)
        L.append("| %s | %s | %d | %s | %.1f | %s | %s | %.1f | %s | %s | %.0f | %.0f | %s |" % (
            g["net"], g["prec"], g["threads"], KERNELS.get(g["kernel"], g["kernel"]), ms,
            "%.1f" % t["median_ms"] if t else "-", "%.2f" % (ms / t["median_ms"]) if t else "-",
            cpu, "%.1f" % t["cpu_ms"] if t else "-", "%.2f" % (cpu / t["cpu_ms"]) if t else "-",
            g["rss_mb"], g["metrics"].get("heap-MB", 0), "%.0f" % t["max_rss_mb"] if t else "-"))
    L.append("")
    L.append("### Per layer (AlexLens AVX-512 kernel, median ms)\n")
    for net in NETS:
        rows = [g for g in gos if g["net"] == net and g["kernel"] == "simd"]
        if not rows:
            continue
        rows.sort(key=lambda g: (g["threads"], g["prec"]))
        layers = sorted(u for u in rows[0]["metrics"] if re.match(r"L\d+-.*-ms$", u))
        L.append("**%s**\n" % net)
        L.append("| layer | " + " | ".join("%s %dT" % (g["prec"], g["threads"]) for g in rows) + " |")
        L.append("|---|" + "---:|" * len(rows))
        for layer in layers:
            L.append("| %s | " % layer[4:-3] + " | ".join("%.2f" % g["metrics"].get(layer, 0) for g in rows) + " |")
        L.append("| **total** | " + " | ".join("%.1f" % g["metrics"]["median-ms"] for g in rows) + " |")
        L.append("")
    return "\n".join(L)


def main():
    ap = argparse.ArgumentParser()
    for a in ["results", "cpu", "cores", "go", "load", "note", "markdown"]:
        ap.add_argument("--" + a, default="")
    ap.add_argument("--iters", type=int)
    ap.add_argument("--portable-iters", type=int)
    args = ap.parse_args()
    gos, torches = parse(args.results)
    section = BEGIN + "\n" + render(args, gos, torches) + "\n" + END
    text = open(args.markdown).read() if os.path.exists(args.markdown) else "# AlexLens benchmarks\n\n"
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + section + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    open(args.markdown, "w").write(text)
    print(section)


if __name__ == "__main__":
    main()
