"""Channels-last and half precision on a CUDA GPU: speed, and what they change in the answers.

Run on a machine with CUDA: `python scripts/gpu_precision.py [--json]`. For each model it
times a bare forward (fp32; fp32 channels-last; fp16; fp16 channels-last) and, on the bundled
sample photos, compares the fp16 probabilities with fp32 ones: the largest probability
change and whether any top-1 or top-5 changed. It also times the live update path (the
lab with the layer explorer open, cnnviz.cli.bench.live_updates) on the GPU, per second.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from cnnviz.cli.bench import live_updates
from cnnviz.core.engine import Engine
from cnnviz.core.images import load_image
from cnnviz.resources_path import samples


def _timed(fn, repeat: int = 50) -> float:
    for _ in range(5):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def forward_variants(arch: str) -> dict[str, float]:
    engine = Engine.load(arch, device="cuda")
    size = engine.spec.input_size
    model = engine.model.eval()
    x = torch.rand(1, 3, size, size, device="cuda")
    out: dict[str, float] = {}
    for name, dtype, memory in (
        ("fp32", torch.float32, torch.contiguous_format),
        ("fp32 channels-last", torch.float32, torch.channels_last),
        ("fp16", torch.float16, torch.contiguous_format),
        ("fp16 channels-last", torch.float16, torch.channels_last),
    ):
        m = model.to(dtype=dtype, memory_format=memory)
        xi = x.to(dtype=dtype).contiguous(memory_format=memory)

        def run(m=m, xi=xi) -> None:
            with torch.inference_mode():
                m(xi)

        out[name] = round(_timed(run), 3)
    model.to(dtype=torch.float32, memory_format=torch.contiguous_format)
    return out


def half_precision_change(arch: str) -> dict[str, object]:
    engine = Engine.load(arch, device="cuda")
    photos = [p for _, p in samples() if p.suffix.lower() == ".jpg"]
    batch = torch.stack([engine.to_tensor(load_image(p)) for p in photos]).cuda()
    with torch.inference_mode():
        p32 = torch.softmax(engine.model(batch).float(), dim=1)
        half = engine.model.half()
        p16 = torch.softmax(half(batch.half()).float(), dim=1)
        engine.model.float()
    top5_32, top5_16 = p32.topk(5).indices, p16.topk(5).indices
    return {
        "photos": len(photos),
        "max_abs_probability_change": float((p32 - p16).abs().max()),
        "top1_changed": int((top5_32[:, 0] != top5_16[:, 0]).sum()),
        "top5_sets_changed": int(
            sum(set(a.tolist()) != set(b.tolist()) for a, b in zip(top5_32, top5_16, strict=True))
        ),
    }


def live_rate(arch: str) -> dict[str, float]:
    engine, update = live_updates(arch, "cuda")
    for _ in range(5):
        update()
    times = []
    for _ in range(40):
        start = time.perf_counter()
        update()
        times.append((time.perf_counter() - start) * 1000)
    median = statistics.median(times)
    return {"live_update_median_ms": round(median, 2), "updates_per_second": round(1000 / median)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    report: dict[str, object] = {"device": torch.cuda.get_device_name(0)}
    for arch in ("efficientnet_lite0", "resnet50"):
        report[arch] = {
            "forward_ms": forward_variants(arch),
            "live": live_rate(arch),
            "half_precision": half_precision_change(arch),
        }
    print(json.dumps(report, indent=2) if args.json else report)


if __name__ == "__main__":
    main()
