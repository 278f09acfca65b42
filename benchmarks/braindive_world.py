"""BrainDiVE on the in-silico world: does guidance find what each region truly prefers?

For each category ROI, synthesizes images guided by a linear world-clip encoder of subject 1
and the same seeds unguided, then scores them against the simulator's truth. Each guidance
recipe runs in turn on the same seeds (default: the robust one and the paper's rule, side by
side). Prints one row per recipe, objective and run, and writes the image grids and JSON scores
to --out/<recipe>/.

    python benchmarks/braindive_world.py --n 16
    python benchmarks/braindive_world.py --n 16 --guidance paper --scale 60
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from brainenc.synthesis import ROI, Contrast
from brainenc.synthesis.world import synthesize_world, world_brain_model, world_guidance


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rois", nargs="+", default=["FFA", "EBA", "PPA", "VWFA", "food"])
    parser.add_argument("--contrast", nargs=2, default=["FFA", "PPA"], metavar=("A", "B"))
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument(
        "--guidance", nargs="+", choices=("robust", "paper"), default=["robust", "paper"]
    )
    parser.add_argument("--scale", type=float, default=None, help="default: robust 1, paper 30")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0, help="first noise seed (default 0)")
    parser.add_argument("--subject", type=int, default=1)
    parser.add_argument("--out", default="brainenc_results/braindive_world")
    args = parser.parse_args()
    if args.scale is not None and len(args.guidance) > 1:
        parser.error("--scale applies to one recipe: name a single --guidance with it")

    brain_model = world_brain_model(args.subject, progress=False)
    objectives = [ROI(r) for r in args.rois] + [Contrast(*args.contrast)]
    rows = {}
    print(f"{'guidance':<14} {'objective':<10} {'run':<9} {'pref. cat.':>10} {'mean true':>10} "
          f"{'top20% true':>12} {'natural p90':>12} {'mean pred':>10}")  # fmt: skip
    for name in args.guidance:
        guidance = world_guidance(name, args.scale)
        label = f"{name} {guidance.scale:g}"
        for objective in objectives:
            start = time.perf_counter()
            summary = synthesize_world(
                objective, subject=args.subject, n_images=args.n, seed=args.seed, guidance=guidance,
                num_inference_steps=args.steps, brain_model=brain_model,
                out=Path(args.out, name), progress=False,
            )  # fmt: skip
            summary["seconds"] = round(time.perf_counter() - start, 1)
            rows.setdefault(name, {})[objective.name] = summary
            for run in ("guided", "unguided"):
                r = summary[run]
                pref = f"{r['preferred_fraction']:.0%}" if "preferred_fraction" in r else "-"
                print(f"{label:<14} {objective.name:<10} {run:<9} {pref:>10} "
                      f"{r['mean_true']:>10.2f} {r['top20_mean_true']:>12.2f} "
                      f"{summary['natural_true_p90']:>12.2f} {r['mean_predicted']:>10.2f}",
                      flush=True)  # fmt: skip
    Path(args.out, "summary.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
