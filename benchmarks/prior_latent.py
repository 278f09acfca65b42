"""Does a larger latent lift the prior's ceiling? An autoencoder of the shipped width and
training, with more latent channels.

``prior_ceiling.py`` shows that the shipped autoencoder (4 × 16 × 16 latent) blurs faces:
decoded natural faces drive FFA less than the faces do. ``prior_decoder.py`` shows that a
wider decoder on the same latents does not help. This trains the autoencoder of
:data:`~brainenc.world.prior.VAE_CONFIG` with ``--latent-channels`` channels (its shipped
training: 4000 steps of batch 32 unless told otherwise) and reports, with ``prior_ceiling``'s
measure, the median true activation of decoded natural images beside the shipped
autoencoder's::

    python benchmarks/prior_latent.py --latent-channels 8 [--steps 4000] [--out FILE] [--save DIR]

``--save`` writes the trained autoencoder as a diffusers folder (``AutoencoderKL``), for a
denoiser to be trained on its latents.

About 42 min on 2 CPU cores at 4000 steps.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from prior_ceiling import decoded_truth

from brainenc.world.prior import PRIOR_DIR, load_prior
from brainenc.world.synthesis import WorldBench
from brainenc.world.training.prior import train_vae


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latent-channels", type=int, default=8)
    parser.add_argument("--steps", type=int, default=4000, help="training steps (default 4000)")
    parser.add_argument("--n", type=int, default=500, help="natural images (at most 1000)")
    parser.add_argument("--out", default=None, help="write the numbers as JSON here")
    parser.add_argument("--save", default=None, help="write the trained autoencoder here")
    args = parser.parse_args()
    if args.latent_channels < 1 or args.steps < 1:
        parser.error("--latent-channels and --steps must be at least 1")
    if not 1 <= args.n <= 1000:
        parser.error(f"--n must lie in 1..1000; got {args.n}")
    bench = WorldBench.build(1)
    vae, training = train_vae(steps=args.steps, config={"latent_channels": args.latent_channels})
    record = {
        "latent_channels": args.latent_channels,
        "steps": args.steps,
        "training": training,
        "new": decoded_truth(vae, bench, args.n),
        "shipped": decoded_truth(load_prior(PRIOR_DIR).vae, bench, args.n),
    }
    for name in ("shipped", "new"):
        row = record[name]
        regions = ", ".join(f"{roi} {r['decoded']:.2f}" for roi, r in row["median_true"].items())
        print(f"{name:<7} MSE {row['mse']:.4f}; median true of decoded images: {regions}")
    shipped = record["shipped"]["median_true"].items()
    images = ", ".join(f"{roi} {r['images']:.2f}" for roi, r in shipped)
    print(f"images  median true: {images}")
    if args.out:
        Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
    if args.save:
        vae.save_pretrained(args.save)


if __name__ == "__main__":
    main()
