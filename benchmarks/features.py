"""Images per second of brainenc's feature extraction vs a naive one-image-at-a-time loop.

Both run the same open_clip model (random weights) on the same images, in the same process:

- naive: open_clip's PIL transform (from ``open_clip.create_model_and_transforms``) and
  ``model.encode_image`` on one image at a time, under ``torch.no_grad`` (and fp16 autocast on
  CUDA);
- brainenc: :class:`OpenCLIPBackbone` + :func:`extract_features` (batched torch preprocessing,
  inference mode; channels-last and autocast on CUDA).

    python benchmarks/features.py [--model bench-vit] [--n-images 256] [--batch-size 64]
                                  [--device cpu]

The default model ``bench-vit`` is a small custom config (ViT width 256, 6 layers, patch 16,
224 px; about 1 min in all on 2 CPU cores); any open_clip name works, e.g.
``--model ViT-B-16 --device cuda``. Images are random ``uint8`` at NSD's 425 x 425 px. The two
paths take turns on quarters of the images and their times are summed, so that a shared machine's
changing load weighs on both alike.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

BENCH_VIT = {
    "embed_dim": 256,
    "vision_cfg": {"image_size": 224, "patch_size": 16, "width": 256, "layers": 6},
    "text_cfg": {"context_length": 16, "vocab_size": 1000, "width": 64, "heads": 1, "layers": 1},
}
SOURCE_SIZE = 425  # px, NSD's stimuli
WARMUP = 4  # images run by each path before timing
ROUNDS = 4  # the paths alternate on parts of the images, so that both see the same machine load


def naive_loop(model, transform, images: np.ndarray, device: torch.device) -> np.ndarray:
    """One image at a time: PIL transform, then ``encode_image``."""
    from PIL import Image

    autocast = torch.autocast("cuda", dtype=torch.float16, enabled=device.type == "cuda")
    out = []
    with torch.no_grad(), autocast:
        for image in images:
            x = transform(Image.fromarray(image)).unsqueeze(0).to(device)
            out.append(model.encode_image(x, normalize=True).float().cpu().numpy())
    return np.concatenate(out)


def timed(run, device: torch.device) -> float:
    """Wall-clock seconds of ``run()``, waiting for the GPU."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    run()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="bench-vit", help="open_clip model name (random weights)")
    p.add_argument("--n-images", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args(argv)

    import open_clip

    from brainenc.data import ArrayImages
    from brainenc.features import OpenCLIPBackbone, extract_features, register_model_config

    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "bench-vit.json"
        config.write_text(json.dumps(BENCH_VIT))
        register_model_config(config)
        torch.manual_seed(0)
        model, _, transform = open_clip.create_model_and_transforms(args.model)
    model = model.to(device).eval()
    backbone = OpenCLIPBackbone(model, spec=f"open_clip:{args.model}")
    rng = np.random.default_rng(0)
    shape = (args.n_images, SOURCE_SIZE, SOURCE_SIZE, 3)
    images = ArrayImages(rng.integers(0, 256, size=shape, dtype=np.uint8))

    naive_loop(model, transform, images.array[:WARMUP], device)
    extract_features(backbone, images.array[:WARMUP], device=device, progress=False)
    naive_s = ours_s = 0.0
    for part in np.array_split(np.arange(args.n_images), ROUNDS):
        naive_s += timed(partial(naive_loop, model, transform, images[part], device), device)
        ours = partial(extract_features, backbone, images, part, batch_size=args.batch_size)
        ours_s += timed(partial(ours, device=device, progress=False), device)

    n_threads = torch.get_num_threads() if device.type == "cpu" else "-"
    print(
        f"model {args.model}, {args.n_images} images {SOURCE_SIZE} px -> {backbone.input_size} px,"
    )
    print(f"device {device} (torch threads: {n_threads}), batch size {args.batch_size}")
    print(f"{'path':<40} {'img/s':>8}")
    print(f"{'naive (PIL transform, 1 image a call)':<40} {args.n_images / naive_s:>8.1f}")
    print(f"{'brainenc extract_features':<40} {args.n_images / ours_s:>8.1f}")
    print(f"ratio: {naive_s / ours_s:.1f}x")


if __name__ == "__main__":
    main()
