"""Time and peak memory of the BrainSCUBA projection (``project_to_bank``) on a random bank.

The bank holds ``--bank`` random unit directions (float16 by default, generated a chunk at a
time) with norms in [0.5, 2); ``--targets`` random readout vectors are projected onto it at the
paper's tau = 150. Peak memory is the process's peak resident set (``ru_maxrss``) before and
after the projection (the bank and the weights are already in memory before) and, on CUDA,
``torch.cuda.max_memory_allocated``; both are compared with the (targets x bank) float32
similarity matrix that a direct softmax would hold.

    python benchmarks/caption_projection.py [--bank 1000000] [--targets 50000] [--width 512]
                                            [--device cpu|cuda] [--dtype float16|float32]
                                            [--out benchmarks/results/caption_projection.json]

The defaults are about 1e14 floating-point operations (two products of targets x bank x width,
plus targets x bank exponentials): tens of minutes on 2 CPU cores (a GPU is the place for it);
``--bank 200000 --targets 5000`` takes about a minute there. The
projection's own memory is mostly one (target chunk x bank chunk) float32 block, 1 GiB at the
default chunk sizes.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np
import torch

from brainenc.captions.bank import EmbeddingBank
from brainenc.captions.projection import project_to_bank

TAU = 150.0
GENERATE_CHUNK = 65536


def random_bank(n: int, width: int, dtype: str, seed: int = 0) -> EmbeddingBank:
    """``n`` random unit directions of ``dtype`` and norms in [0.5, 2), made a chunk at a time."""
    rng = np.random.default_rng(seed)
    directions = np.empty((n, width), dtype)
    for start in range(0, n, GENERATE_CHUNK):
        x = rng.standard_normal((min(GENERATE_CHUNK, n - start), width), dtype=np.float32)
        directions[start : start + len(x)] = x / np.linalg.norm(x, axis=1, keepdims=True)
    norms = rng.uniform(0.5, 2, n).astype(np.float32)
    return EmbeddingBank(directions, norms, {"image_set": "random"})


def peak_rss_gib() -> float:
    """Peak resident set of this process so far (``ru_maxrss`` is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bank", type=int, default=1_000_000, help="embeddings in the bank")
    p.add_argument("--targets", type=int, default=50_000, help="readout vectors to project")
    p.add_argument("--width", type=int, default=512, help="embedding dimension")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--dtype", choices=("float16", "float32"), default="float16")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/caption_projection.json"))
    args = p.parse_args(argv)

    bank = random_bank(args.bank, args.width, args.dtype)
    weights = np.random.default_rng(1).standard_normal((args.targets, args.width), np.float32)
    cuda = args.device == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    rss_before = peak_rss_gib()
    start = time.perf_counter()
    project_to_bank(weights, bank, tau=TAU, device=args.device)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    result = {
        "bank": args.bank,
        "targets": args.targets,
        "width": args.width,
        "dtype": args.dtype,
        "device": torch.cuda.get_device_name() if cuda else "cpu",
        "torch_threads": torch.get_num_threads(),
        "tau": TAU,
        "seconds": round(seconds, 2),
        "peak_rss_before_gib": round(rss_before, 3),
        "peak_rss_after_gib": round(peak_rss_gib(), 3),
        "cuda_peak_allocated_gib": round(torch.cuda.max_memory_allocated() / 2**30, 3)
        if cuda
        else None,
        "full_matrix_gib": round(args.targets * args.bank * 4 / 2**30, 3),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{args.targets} targets x {args.bank} {args.dtype} embeddings ({args.width} wide) on "
        f"{result['device']}: {seconds:.1f} s, peak RSS {result['peak_rss_before_gib']:.2f} -> "
        f"{result['peak_rss_after_gib']:.2f} GiB"
        + (f", CUDA peak {result['cuda_peak_allocated_gib']:.2f} GiB" if cuda else "")
        + f"; the full similarity matrix would be {result['full_matrix_gib']:.1f} GiB"
    )


if __name__ == "__main__":
    main()
