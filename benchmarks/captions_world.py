"""BrainSCUBA on the world: region and vertex captions against the truth, and images drawn from
the region captions next to BrainDiVE's.

Subject 1, a linear world-clip encoder fitted on its 2000 training images; the bank is 20,000
world images of their own stream; the shipped world captioner; reliable vertices only (noise
ceiling > 0.1). Reported:

- each region's caption and its dominant noun, and the confusion table: for every ROI, the share
  of its vertices whose caption's dominant noun names each category;
- for the five category regions, images the world prior draws from the region's caption
  (classifier-free guidance scale chosen among ``--scales`` on seeds 1000+, reported on seeds
  ``--seed``...), scored by the subject's true responses and by the independent judge (95%
  intervals), next to BrainDiVE's guided images of the same seeds and steps from
  ``--braindive`` (``benchmarks/braindive_world.py``), against the median of 1000 natural
  world images and the median of those of the region's category.

    python benchmarks/captions_world.py [--n 32] [--seed 100] [--steps 25]
        [--braindive benchmarks/results/braindive_world_seeds100-131.json]
        [--out benchmarks/results/captions_world.json]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from brainenc.captions import caption_regions
from brainenc.encoders import BrainModel, LinearEncoder
from brainenc.features import Backbone, extract_features
from brainenc.study import MIN_CEILING
from brainenc.synthesis import ROI
from brainenc.world import CATEGORIES, WORLD_NOUNS, load_world, load_world_captioner
from brainenc.world.captioner import world_bank
from brainenc.world.synthesis import PREFERRED, WorldBench, images_from_caption, world_pipeline

FIVE = ("FFA", "EBA", "PPA", "VWFA", "food")
HEADLINE = "judge"


def fitted_model(subject: int):
    data = load_world(subject)
    backbone = Backbone.from_spec("world-clip")
    features = extract_features(backbone, data.images, data.train)
    encoder = LinearEncoder().fit(features, data.rows(data.train))
    encoder.metadata_ = {"backbone": "world-clip", **data.meta}
    return data, encoder, BrainModel.from_encoder(backbone, encoder, data)


def draw(pipe, bench, found, regions, scale, n, seed, steps, subject) -> dict:
    out = {}
    for region in regions:
        scores, _ = images_from_caption(
            found[region].caption, ROI(region), pipeline=pipe, subject=subject, n_images=n,
            seed=seed, text_scale=scale, num_inference_steps=steps, bench=bench, progress=False,
        )  # fmt: skip
        keep = ("mean_true", "mean_true_ci95", "fractions", "true", "natural_true_median",
                "natural_true_median_preferred")  # fmt: skip
        out[region] = {k: scores[k] for k in keep}
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subject", type=int, default=1)
    parser.add_argument("--n", type=int, default=32, help="images per region caption")
    parser.add_argument("--seed", type=int, default=100, help="first seed of the reported images")
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 3.0, 6.0])
    parser.add_argument("--select-seed", type=int, default=1000)
    parser.add_argument("--select-n", type=int, default=12)
    parser.add_argument(
        "--braindive",
        type=Path,
        default=Path("benchmarks/results/braindive_world_seeds100-131.json"),
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/captions_world.json"))
    args = parser.parse_args(argv)
    start = time.perf_counter()

    data, encoder, brain_model = fitted_model(args.subject)
    reliable = np.nan_to_num(data.noise_ceiling) > MIN_CEILING
    regions = {r: m & reliable for r, m in data.rois.items() if (m & reliable).any()}
    found, _ = caption_regions(encoder, world_bank(), load_world_captioner(), regions,
                                        lexicon=WORLD_NOUNS, progress=True)  # fmt: skip
    result = {"args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
              "regions": {r: asdict(c) for r, c in found.items()},
              "preferred": {r: PREFERRED.get(r) for r in found}}  # fmt: skip
    print("| ROI | caption | noun | " + " | ".join(CATEGORIES) + " | no noun |")
    print("|---|---|---|" + "---|" * (len(CATEGORIES) + 1))
    for r, c in found.items():
        shares = [c.noun_shares.get(k, 0.0) for k in CATEGORIES]
        print(f"| {r} | {c.caption} | {c.noun} | " + " | ".join(f"{s:.0%}" for s in shares)
              + f" | {1 - sum(shares):.0%} |")  # fmt: skip

    pipe = world_pipeline(brain_model)
    bench = WorldBench.shared(args.subject)
    selection = {}
    for scale in args.scales:
        drawn = draw(pipe, bench, found, FIVE, scale, args.select_n, args.select_seed,
                     args.steps, args.subject)  # fmt: skip
        selection[scale] = float(np.mean(
            [drawn[r]["fractions"][HEADLINE]["preferred"]["fraction"] for r in FIVE]))  # fmt: skip
        print(f"text scale {scale}: judged preferred {selection[scale]:.0%} (selection seeds)")
    chosen = max(selection, key=selection.get)
    reported = draw(pipe, bench, found, FIVE, chosen, args.n, args.seed, args.steps, args.subject)
    braindive = json.loads(args.braindive.read_text())["test"] if args.braindive.is_file() else {}
    result.update(selection=selection, text_scale=chosen, images=reported)
    print(f"\nimages from the region captions, text scale {chosen}, seeds {args.seed}.."
          f"{args.seed + args.n - 1}, {args.steps} steps:")  # fmt: skip
    print("| ROI | from | judged preferred | judged none | mean true [95% CI] | natural median "
          "| natural median of category |\n|---|---|---|---|---|---|---|")  # fmt: skip
    for r in FIVE:
        rows = [("caption", reported[r])]
        if r in braindive:
            rows.append(("BrainDiVE", braindive[r]["guided"]))
        for name, s in rows:
            f = s["fractions"][HEADLINE]
            lo, hi = s["mean_true_ci95"]
            print(f"| {r} | {name} | {f['preferred']['fraction']:.0%} "
                  f"[{f['preferred']['ci95'][0]:.0%}, {f['preferred']['ci95'][1]:.0%}] | "
                  f"{f['none']['fraction']:.0%} | {s['mean_true']:.2f} [{lo:.2f}, {hi:.2f}] | "
                  f"{reported[r]['natural_true_median']:.2f} | "
                  f"{reported[r]['natural_true_median_preferred']:.2f} |")  # fmt: skip
    result["seconds"] = round(time.perf_counter() - start)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out} ({result['seconds']} s)")
    return result


if __name__ == "__main__":
    main()
