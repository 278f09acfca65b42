"""A stronger world diffusion prior on a GPU, and whether its unguided samples are cleaner.

Trains a wider, deeper autoencoder than the shipped one, with a larger latent and, for its
second half, an adversarial term (``--adversarial``, default 0.05: on the shipped latents such
a decoder lifts every region's synthesis, ``prior_decoder.py``; ``--vae shipped`` keeps the
shipped autoencoder), then a wider, deeper latent denoiser on its latents
(the same images, captions and recipe as :func:`brainenc.world.training.prior.train_vae` and
``train_unet``), writes them as a prior folder, and compares the two priors: how much of each
region's true activation survives their autoencoders (``prior_ceiling.py``), and their unguided
samples (same seeds, stream 2,000) by the world's independent judge: the share judged "none" and
how the five categories are balanced. The folder then plugs into the synthesis benchmark,
scales chosen on other seeds::

    python benchmarks/world_prior_gpu.py --out brainenc_results/world_prior_large
    python benchmarks/braindive_world.py --prior brainenc_results/world_prior_large \
        --backbone world-clip world-vit --select 0.125 0.25 0.5 1 --select-n 16 \
        --oversample 5 --rank-with world-vit --rank-encoder routing --rank-with-guide --n 64 \
        --seed 2000 --steps 25 --device cuda

On a CPU, ``--device cpu --vae-steps 2 --steps 2 --batch-size 4 --n-images 16 --samples 4``
checks the script in about 4 minutes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from diffusers import AutoencoderKL
from prior_ceiling import decoded_truth

from brainenc.features import Backbone
from brainenc.validation import device_argument
from brainenc.world import CATEGORIES, WorldSubject
from brainenc.world.prior import PRIOR_DIR
from brainenc.world.synthesis import (
    HEADLINE_JUDGE,
    WorldBench,
    true_brain,
    world_judges,
    world_pipeline,
)
from brainenc.world.training.prior import RECORD_FILE, save_prior, train_unet, train_vae

LARGE = {"block_out_channels": (64, 128, 256), "layers_per_block": 2, "norm_num_groups": 32}
"""The stronger denoiser: four times the shipped one's width at the bottom, two layers a block."""
LARGE_VAE = {"block_out_channels": (64, 128, 128), "layers_per_block": 2, "norm_num_groups": 32}
"""The stronger autoencoder: four times the shipped one's width, two layers a block, and a
latent of ``--latent-channels`` × 16 × 16. The shipped one loses a fifth of FFA's response to
natural faces, and a wider decoder on its 4-channel latent alone does not win it back
(``prior_decoder.py``)."""
SAMPLE_SEED = 2_000


def unguided_quality(folder, *, n: int, steps: int, device: str) -> dict:
    """The judge's verdicts on ``n`` unguided samples of the prior in ``folder``."""
    pipeline = world_pipeline(true_brain(WorldSubject(1)), folder, device=device)
    out = pipeline(None, n_images=n, seed=SAMPLE_SEED, guidance=None,
                   num_inference_steps=steps, batch_size=64, progress=False)  # fmt: skip
    labels = np.asarray(world_judges(device)[HEADLINE_JUDGE](out.images))
    counts = {c: int(np.sum(labels == c)) for c in (*CATEGORIES, "none")}
    return {"n": n, "none_fraction": counts["none"] / n, "counts": counts}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("brainenc_results/world_prior_large"))
    parser.add_argument("--device", default="cuda", type=device_argument,
                        help="where to train and sample (default: cuda)")  # fmt: skip
    parser.add_argument("--vae", choices=("large", "shipped"), default="large",
                        help="train a larger autoencoder (default) or keep the shipped "
                        "one")  # fmt: skip
    parser.add_argument("--latent-channels", type=int, default=8,
                        help="the larger autoencoder's latent channels (default 8; the shipped "
                        "one has 4)")  # fmt: skip
    parser.add_argument("--adversarial", type=float, default=0.05,
                        help="the larger autoencoder's adversarial weight in its second half "
                        "(default 0.05; 0: reconstruction alone)")  # fmt: skip
    parser.add_argument("--vae-steps", type=int, default=6_000)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--n-images", type=int, default=20_000)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--samples", type=int, default=256, help="unguided samples per prior")
    parser.add_argument("--sample-steps", type=int, default=25)
    args = parser.parse_args(argv)
    if args.adversarial < 0:
        parser.error(f"--adversarial must be at least 0; got {args.adversarial}")
    start = time.perf_counter()
    shipped = json.loads((PRIOR_DIR / RECORD_FILE).read_text())
    shipped_vae = AutoencoderKL.from_pretrained(PRIOR_DIR / "vae")
    if args.vae == "shipped":
        vae, vae_record = shipped_vae, shipped["vae"]
    else:
        config = {**LARGE_VAE, "latent_channels": args.latent_channels}
        vae, vae_record = train_vae(steps=args.vae_steps, batch_size=args.batch_size,
                                    config=config, adversarial=args.adversarial,
                                    device=args.device)  # fmt: skip
        print(f"autoencoder trained in {time.perf_counter() - start:.0f} s", flush=True)
    vae = vae.eval().requires_grad_(False)
    clip = Backbone.from_spec("world-clip")
    channels = vae.config.latent_channels  # the denoiser reads and writes the latent
    unet, record = train_unet(
        vae, lambda texts: clip.embed_text(list(texts)), steps=args.steps,
        batch_size=args.batch_size, n_images=args.n_images, lr=args.lr,
        config={**LARGE, "in_channels": channels, "out_channels": channels}, device=args.device,
    )  # fmt: skip
    folder = save_prior(vae, unet, {"vae": vae_record, "unet": record}, args.out)
    print(f"trained in {time.perf_counter() - start:.0f} s -> {folder}", flush=True)
    result = {"args": {k: str(v) for k, v in vars(args).items()}, "vae": vae_record,
              "unet": record}  # fmt: skip
    bench = WorldBench.build(1)
    for name, prior, autoencoder in (("shipped", PRIOR_DIR, shipped_vae), ("large", folder, vae)):
        ceiling = decoded_truth(autoencoder, bench)
        result[name] = {"decoded": ceiling, **unguided_quality(
            prior, n=args.samples, steps=args.sample_steps, device=args.device)}  # fmt: skip
        faces = ceiling["median_true"]["FFA"]
        print(f"{name}: decoded faces FFA {faces['decoded']:.2f} (images {faces['images']:.2f}), "
              f"judged none {result[name]['none_fraction']:.0%}, {result[name]['counts']}",
              flush=True)  # fmt: skip
    (folder / "comparison.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
