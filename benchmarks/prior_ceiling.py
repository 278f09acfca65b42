"""How much of each region's true activation survives the world prior's autoencoder.

Every image the prior draws is decoded by its autoencoder, so a region's response to decoded
natural images bounds what any sampler reaches with it. Encodes and decodes natural world images
(stream 15,000, the images that calibrate synthesis) and reports, per category region, the
median true activation of the images of its category and of their reconstructions (subject 1),
and the reconstruction error::

    python benchmarks/prior_ceiling.py [--prior FOLDER] [--n 500] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from brainenc.synthesis import ROI
from brainenc.world import CATEGORIES
from brainenc.world.prior import PRIOR_DIR, load_prior
from brainenc.world.synthesis import PREFERRED, WorldBench


def decoded_truth(vae, bench: WorldBench, n: int = 500) -> dict:
    """Reconstruction MSE of ``n`` natural images of ``bench`` and, per category region, the
    median true activation of the images of its category and of their reconstructions."""
    images, labels = bench.natural_images[:n], bench.natural_labels[:n]
    vae = vae.cpu().eval()
    with torch.no_grad():
        latents = vae.encode(images * 2 - 1).latent_dist.mode()
        decoded = ((vae.decode(latents).sample + 1) / 2).clamp(0, 1)
        record = {"n": n, "mse": float(torch.mean((decoded - images) ** 2)), "median_true": {}}
        for roi, category in PREFERRED.items():
            mask = labels == CATEGORIES.index(category)
            record["median_true"][roi] = {
                name: float(np.median(ROI(roi)(bench.truth, batch[mask]).numpy()))
                for name, batch in (("images", images), ("decoded", decoded))
            }
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prior", default=str(PRIOR_DIR), help="prior folder (default: shipped)")
    parser.add_argument("--n", type=int, default=500, help="natural images (at most 1000)")
    parser.add_argument("--subject", type=int, default=1)
    parser.add_argument("--out", default=None, help="write the numbers as JSON here")
    args = parser.parse_args()
    if not 1 <= args.n <= 1000:
        parser.error(f"--n must lie in 1..1000; got {args.n}")
    record = decoded_truth(load_prior(args.prior).vae, WorldBench.build(args.subject), args.n)
    record.update(subject=args.subject, prior=args.prior)
    print(f"reconstruction MSE {record['mse']:.4f} (images in [0, 1])")
    for roi, row in record["median_true"].items():
        print(f"{roi:<5} ({PREFERRED[roi]}): median true {row['images']:.2f}, "
              f"decoded {row['decoded']:.2f}")  # fmt: skip
    if args.out:
        Path(args.out).write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
