"""Does the world prior's denoiser gain from more training? Its unguided samples, judged.

The shipped denoiser saw 20,000 images (stream 7,000) for 10,000 steps of batch 32. This
script trains the denoiser of a prior folder (``--prior``, default the shipped one) on for
``--steps`` more, on 20,000 images it has not seen (stream 7,000 + ``--seed``), with the same
loss, caption dropout and moving average (:func:`~brainenc.world.training.prior.train_unet`
with ``unet=``), at a lower peak learning rate. It writes ``--save``, a prior folder with the
same autoencoder and the new denoiser, and judges both priors' unguided samples (same seeds,
stream 2,000) by the world's judge: the share judged "none" and the five categories' balance.
No guide, truth or synthesis result takes part, and every setting was fixed before the first
run. ``--save`` then plugs into ``braindive_world.py --prior``. With ``FOLDER`` the prior of
the adversarial decoder (``prior_decoder.py --from-shipped --adversarial 0.05 --save``),
about 35 min on 2 cores::

    python benchmarks/prior_denoiser.py --prior FOLDER --save FOLDER2 \
        --out benchmarks/results/prior_denoiser.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from diffusers import AutoencoderKL, UNet2DConditionModel
from world_prior_gpu import unguided_quality

from brainenc.features import Backbone
from brainenc.validation import device_argument
from brainenc.world.prior import PRIOR_DIR, check_prior
from brainenc.world.training.prior import RECORD_FILE, save_prior, train_unet


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prior", type=Path, default=PRIOR_DIR,
                        help="the prior whose denoiser trains on (default: shipped)")  # fmt: skip
    parser.add_argument("--save", type=Path, required=True, help="the new prior folder")
    parser.add_argument("--steps", type=int, default=8_000)
    parser.add_argument("--lr", type=float, default=2e-4, help="peak learning rate")
    parser.add_argument("--seed", type=int, default=1,
                        help="image stream 7,000 + SEED (the shipped one saw 7,000)")  # fmt: skip
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--n-images", type=int, default=20_000)
    parser.add_argument("--samples", type=int, default=256, help="unguided samples per prior")
    parser.add_argument("--sample-steps", type=int, default=25)
    parser.add_argument("--device", default="cpu", type=device_argument)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.seed == 0:
        parser.error("--seed 0 is the stream the shipped denoiser was trained on; give another")
    if args.steps < 1:
        parser.error(f"--steps must be at least 1; got {args.steps}")
    try:
        check_prior(args.prior)
    except FileNotFoundError as error:
        parser.error(str(error))
    if args.save.resolve() == args.prior.resolve():
        parser.error("--save must be another folder than --prior")
    start = time.perf_counter()
    vae = AutoencoderKL.from_pretrained(args.prior / "vae").eval().requires_grad_(False)
    base = UNet2DConditionModel.from_pretrained(args.prior / "unet")
    clip = Backbone.from_spec("world-clip")
    unet, record = train_unet(
        vae, lambda texts: clip.embed_text(list(texts)), steps=args.steps,
        batch_size=args.batch_size, n_images=args.n_images, lr=args.lr, seed=args.seed,
        device=args.device, unet=base,
    )  # fmt: skip
    prior_record = json.loads((args.prior / RECORD_FILE).read_text())
    folder = save_prior(vae, unet, {**prior_record, "unet_continued": record}, args.save)
    print(f"denoiser trained on in {time.perf_counter() - start:.0f} s -> {folder}", flush=True)
    result = {"args": {k: str(v) for k, v in vars(args).items()}, "unet_continued": record}
    for name, prior in (("before", args.prior), ("after", folder)):
        result[name] = unguided_quality(prior, n=args.samples, steps=args.sample_steps,
                                        device=args.device)  # fmt: skip
        print(f"{name}: judged none {result[name]['none_fraction']:.0%}, "
              f"{result[name]['counts']}", flush=True)  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
