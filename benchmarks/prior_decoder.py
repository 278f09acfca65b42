"""Is it the prior's latent or its decoder that blurs faces? A new decoder on frozen latents.

The shipped autoencoder's decoded natural faces drive FFA less than the faces themselves
(``prior_ceiling.py``). This trains a decoder on the shipped encoder's latents, which stay as
they are (so the shipped denoiser stays valid), on the autoencoder's own training stream, and
reports every ``--every`` steps what ``prior_ceiling.py`` reports: per category region, the
median true activation of decoded natural images of its category, and the reconstruction
error. The decoder is new and wider (``--channels``, ``--layers``), or the shipped one trained
further (``--from-shipped``). Its loss is the autoencoder's own (L1 + MSE) or, with
``--adversarial W``, that plus W times a hinge loss against a small patch critic trained with it
from scratch (:class:`~brainenc.world.training.prior.AdversarialLoss`; the critic is the only
other network, and neither guide, judge nor truth takes part). If the
new decoder's faces beat the shipped decoder's, the decoder (or its loss) is the limit; if they
stay at the shipped decoder's level as its error falls below the shipped one, the latent is::

    python benchmarks/prior_decoder.py [--channels 16 64 128] [--steps 1500] [--batch-size 16]
                                       [--every 250] [--out FILE]
    python benchmarks/prior_decoder.py --from-shipped --adversarial 0.05 [--save FOLDER]

``--save FOLDER`` (with ``--from-shipped``) writes the shipped prior with this autoencoder in
place of its own, a prior folder for ``braindive_world.py --prior FOLDER`` (the denoiser is the
shipped one: the latents are unchanged); its ``record.json`` notes the new decoder's training
and its error on the natural images.
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from diffusers.models.autoencoders.vae import Decoder
from prior_ceiling import decoded_truth
from torch.nn import functional as F
from tqdm.auto import tqdm

from brainenc.world.prior import PRIOR_DIR, VAE_CONFIG, load_prior
from brainenc.world.stimuli import generate_stimuli
from brainenc.world.synthesis import WorldBench
from brainenc.world.training.prior import TRAIN_SEED, AdversarialLoss, _pixels


def shipped_decoder(vae):
    """A copy of ``vae`` whose encoder is frozen and whose decoder trains on."""
    vae = copy.deepcopy(vae).requires_grad_(False)
    vae.decoder.requires_grad_(True)
    vae.post_quant_conv.requires_grad_(True)
    return vae


CHANNELS = [16, 64, 128]
"""The wider decoder's default channels (the shipped one has 16, 32, 32)."""


def wider_decoder(vae, channels: tuple[int, ...], layers: int):
    """A copy of ``vae`` whose decoder is new and has ``channels`` (high to low resolution
    reversed, as diffusers orders them) and ``layers`` per block; its encoder is frozen."""
    vae = copy.deepcopy(vae).requires_grad_(False)
    vae.decoder = Decoder(
        in_channels=vae.config.latent_channels, out_channels=vae.config.out_channels,
        up_block_types=("UpDecoderBlock2D",) * len(channels), block_out_channels=channels,
        layers_per_block=layers, norm_num_groups=vae.config.norm_num_groups,
        mid_block_add_attention=False,
    )  # fmt: skip
    vae.post_quant_conv.requires_grad_(True)
    return vae


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, nargs="+", default=CHANNELS)
    parser.add_argument("--layers", type=int, default=1, help="layers per decoder block")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--n-images", type=int, default=10_000, help="training images")
    parser.add_argument("--from-shipped", action="store_true",
                        help="train the shipped decoder on, not a new, wider one")  # fmt: skip
    parser.add_argument("--adversarial", type=float, default=0.0, metavar="W",
                        help="add W times a patch critic's hinge loss (default: 0)")  # fmt: skip
    parser.add_argument("--every", type=int, default=250, help="measure every this many steps")
    parser.add_argument("--n", type=int, default=500, help="natural images measured")
    parser.add_argument("--out", default=None, help="write the numbers as JSON here")
    parser.add_argument("--save", default=None,
                        help="write the shipped prior with this autoencoder here")  # fmt: skip
    args = parser.parse_args()
    if args.adversarial < 0:
        parser.error(f"--adversarial must be at least 0; got {args.adversarial}")
    if args.from_shipped and (args.channels != CHANNELS or args.layers != 1):
        parser.error("--channels and --layers shape a new decoder; --from-shipped trains the "
                     "shipped one")  # fmt: skip
    if args.save and not args.from_shipped:
        parser.error("--save needs --from-shipped: a wider decoder does not fit the shipped "
                     "autoencoder's configuration")  # fmt: skip
    if len(args.channels) != len(VAE_CONFIG["block_out_channels"]):
        parser.error(f"--channels needs {len(VAE_CONFIG['block_out_channels'])} values: the "
                     "latent's resolution is set by the number of blocks")  # fmt: skip
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    shipped = load_prior().vae.eval().requires_grad_(False)
    bench = WorldBench.build(1)
    images = generate_stimuli(args.n_images, TRAIN_SEED).images[:]
    with torch.no_grad():  # the frozen encoder's posterior of every training image
        posteriors = [shipped.encode(_pixels(images[i : i + 500])).latent_dist
                      for i in range(0, args.n_images, 500)]  # fmt: skip
        means = torch.cat([p.mean for p in posteriors])
        stds = torch.cat([p.std for p in posteriors])
    if args.from_shipped:
        vae, lr = shipped_decoder(shipped), 2e-4  # already trained: a gentler rate
    else:
        vae, lr = wider_decoder(shipped, tuple(args.channels), args.layers), 1e-3
    params = [p for p in vae.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=args.steps)
    adversary = AdversarialLoss(args.adversarial) if args.adversarial else None
    record = {"args": vars(args), "shipped": decoded_truth(shipped, bench, args.n), "trained": []}
    print(f"shipped decoder: {_line(record['shipped'])}", flush=True)
    start = time.perf_counter()
    for step in tqdm(range(1, args.steps + 1), desc="decoder", unit="step"):
        idx = torch.from_numpy(rng.choice(args.n_images, args.batch_size, replace=False))
        z = means[idx] + stds[idx] * torch.randn_like(means[idx])
        x = _pixels(images[idx.numpy()])
        recon = vae.decode(z).sample
        loss = F.l1_loss(recon, x) + F.mse_loss(recon, x)
        if adversary is not None:
            loss = loss + adversary.loss(recon)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if adversary is not None:
            adversary.update(x, recon)
        if step % args.every == 0 or step == args.steps:
            row = {"step": step, "seconds": round(time.perf_counter() - start),
                   **decoded_truth(vae, bench, args.n)}  # fmt: skip
            vae.train()  # decoded_truth put it in eval mode
            record["trained"].append(row)
            tqdm.write(f"step {step} ({row['seconds']} s): {_line(row)}")
    if args.out:
        Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
    if args.save:
        shutil.copytree(PRIOR_DIR, args.save, dirs_exist_ok=True)
        vae.save_pretrained(Path(args.save, "vae"))
        trained = json.loads(Path(args.save, "record.json").read_text())
        settings = {k: v for k, v in vars(args).items() if k not in ("channels", "layers")}
        trained["vae"]["decoder"] = {"trained_by": "benchmarks/prior_decoder.py", **settings,
                                     "natural_mse": record["trained"][-1]["mse"]}  # fmt: skip
        Path(args.save, "record.json").write_text(json.dumps(trained, indent=1) + "\n")


def _line(record: dict) -> str:
    medians = ", ".join(f"{roi} {row['decoded']:.2f}" for roi, row in record["median_true"].items())
    return f"MSE {record['mse']:.4f}; median true of decoded: {medians}"


if __name__ == "__main__":
    main()
