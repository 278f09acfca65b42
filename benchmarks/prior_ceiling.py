"""How much of each region's true activation survives the world prior's autoencoder.

Every image the prior draws is decoded by its autoencoder, so a region's response to decoded
natural images bounds what any sampler reaches with it. Encodes and decodes natural world images
(stream 15,000, the images that calibrate synthesis) and reports, per category region, the
median true activation of the images of its category and of their reconstructions (subject 1),
the reconstruction error, and the truth's two terms (category evidence, contrast energy) of
images and reconstructions::

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
    median true activation of the images of its category and of their reconstructions.

    Beside them, the two terms of the truth: per category, the median category evidence
    (:meth:`~brainenc.world.subjects.WorldSubject.category_evidence`) of its images and of
    their reconstructions (``median_evidence``), and the median contrast energy of all images
    and reconstructions (``median_contrast_energy``), which early areas and the low-level term
    of category regions read."""
    images, labels = bench.natural_images[:n], bench.natural_labels[:n]
    subject = bench.truth.readout
    vae = vae.cpu().eval()
    with torch.no_grad():
        latents = vae.encode(images * 2 - 1).latent_dist.mode()
        decoded = ((vae.decode(latents).sample + 1) / 2).clamp(0, 1)
        batches = (("images", images), ("decoded", decoded))
        record = {"n": n, "mse": float(torch.mean((decoded - images) ** 2)), "median_true": {},
                  "median_evidence": {}}  # fmt: skip
        for roi, category in PREFERRED.items():
            mask = labels == CATEGORIES.index(category)
            record["median_true"][roi] = {
                name: float(np.median(ROI(roi)(bench.truth, batch[mask]).numpy()))
                for name, batch in batches
            }
        for c, category in enumerate(CATEGORIES):
            mask = labels == c
            record["median_evidence"][category] = {
                name: float(np.median(subject.category_evidence(batch[mask])[:, c].numpy()))
                for name, batch in batches
            }
        record["median_contrast_energy"] = {
            name: float(np.median(subject.contrast_energy(batch).mean(1).numpy()))
            for name, batch in batches
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
    for category, row in record["median_evidence"].items():
        print(f"{category:<5} evidence: median {row['images']:.2f}, decoded {row['decoded']:.2f}")
    energy = record["median_contrast_energy"]
    print(f"contrast energy: median {energy['images']:.3f}, decoded {energy['decoded']:.3f}")
    if args.out:
        Path(args.out).write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
