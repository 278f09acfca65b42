"""Retrain the world's category oracle with other settings and measure it beside the shipped one.

    python benchmarks/oracle_retrain.py --save ORACLE.safetensors \
        --out benchmarks/results/oracle_retrain.json

The oracle is the world's truth (``docs/world.md``). For the shipped oracle and the retrained
one, side by side, this reports:

- held-out 5-way accuracy, the 99th percentile of off-manifold evidence, and the median face
  evidence of each skin tone on held-out faces (stream 2,000);
- on the natural images that calibrate synthesis (stream 15,000): each category's median
  evidence, and the natural faces by skin tone (face evidence and true FFA of subject 1);
- the off-manifold battery of ``--subjects`` (``--n`` probes each): probe × region pairs above
  the natural p90 and above the natural maximum, and which region and probe kind they are;
- subject 1's simulated experiment (``load_world``): the estimated noise ceiling against the
  true one, and linear encoders on Gabor and world-clip features (median noise-normalised R² per
  region), the double dissociation the demo shows.

Only the oracle changes; every other model of the world is the shipped one. ``--load`` measures
a saved oracle instead of training one. About 25 min on 2 cores, 12 of them training.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from kept_limits import faces_by_skin
from tqdm.auto import tqdm

from brainenc.world import CATEGORIES, WorldSubject, load_oracle, load_world, run_battery
from brainenc.world.battery import CATEGORY_ROIS
from brainenc.world.oracle import ORACLE_FILE, CategoryOracle
from brainenc.world.synthesis import WorldBench
from brainenc.world.training.oracle import (
    MINE_POOL,
    off_manifold_evidence,
    oracle_accuracy,
    save_oracle,
    tone_evidence,
    train_oracle,
)

FIT_ROIS = ("V1", "V2", "FFA", "EBA", "PPA", "VWFA", "food")


def battery(subject: WorldSubject, n: int) -> dict:
    """Pairs above each region's natural p90 and maximum, with the offending kinds."""
    result = run_battery(subject, n_probes=n, n_natural=1000)
    above = result.above_p90()
    offenders: dict[str, int] = {}
    for i, j in zip(*np.nonzero(above), strict=True):
        key = f"{result.rois[j]}: {result.kinds[i]}"
        offenders[key] = offenders.get(key, 0) + 1
    ratio = result.probes / result.natural_p90
    return {
        "pairs": int(above.size),
        "above_p90": int(above.sum()),
        "above_max": int((result.probes > result.natural.max(0)).sum()),
        "offenders": dict(sorted(offenders.items(), key=lambda kv: -kv[1])),
        "strongest_over_p90": {
            roi: float(ratio[:, j].max()) for j, roi in enumerate(CATEGORY_ROIS)
        },
    }


def natural(subject: WorldSubject) -> dict:
    """Median own-category evidence on stream 15,000, and its faces by skin tone."""
    bench = WorldBench.build(subject, judges=False)
    with torch.no_grad():
        evidence = subject.oracle.evidence(bench.natural_images).numpy()
    own = evidence[np.arange(len(evidence)), bench.natural_labels]
    return {
        "median_evidence": {
            c: float(np.median(own[bench.natural_labels == k])) for k, c in enumerate(CATEGORIES)
        },
        "faces_by_skin": faces_by_skin(bench),
    }


def experiment(subject: WorldSubject) -> dict:
    """A subject's simulated experiment: noise ceiling recovery and Gabor vs world-clip fits."""
    from brainenc.study import fit_study

    data = load_world(subject)
    nc_r = float(np.corrcoef(data.noise_ceiling, data.truth["noise_ceiling"])[0, 1])
    with tempfile.TemporaryDirectory() as out:
        run = fit_study(data, ("gabor", "world-clip"), ("linear",), out, maps=False,
                        progress=False, say=lambda *a: None)  # fmt: skip
        nnr2 = {m.backbone: {roi: float(m.scores["nnr2"][roi]) for roi in FIT_ROIS}
                for m in run.models}  # fmt: skip
    return {"noise_ceiling_vs_truth_r": nc_r, "median_nnr2": nnr2}


def measure(oracle: CategoryOracle, subjects: list[int], n: int, name: str) -> dict:
    start = time.perf_counter()
    models = {s: WorldSubject(s, oracle=oracle) for s in dict.fromkeys([1, *subjects])}
    bar = tqdm(total=3 + len(subjects), desc=f"measuring the {name} oracle")
    result = {
        "heldout_accuracy": oracle_accuracy(oracle),
        "off_manifold_evidence_p99": off_manifold_evidence(oracle),
        "heldout_face_evidence_by_tone": tone_evidence(oracle),
    }
    bar.update()
    result["natural"] = natural(models[1])
    bar.update()
    result["battery"] = {}
    for s in subjects:
        result["battery"][str(s)] = battery(models[s], n)
        bar.update()
    result["experiment"] = experiment(models[1])
    bar.close()
    total = sum(b["above_p90"] for b in result["battery"].values())
    pairs = sum(b["pairs"] for b in result["battery"].values())
    tones = result["natural"]["faces_by_skin"]
    print(f"{name}: accuracy {result['heldout_accuracy']:.3f}, battery {total} of {pairs} "
          f"pairs above p90; natural faces light/tan/dark evidence "
          + "/".join(f"{tones[t]['evidence_median']:.2f}" for t in tones) + ", FFA "
          + "/".join(f"{tones[t]['ffa_median']:.2f}" for t in tones)
          + f"; noise ceiling r {result['experiment']['noise_ceiling_vs_truth_r']:.3f} "
          f"({time.perf_counter() - start:.0f} s)", flush=True)  # fmt: skip
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--hard-steps", type=int, default=800,
                        help="hard-negative steps (the shipped oracle: 400)")  # fmt: skip
    parser.add_argument("--worst-tone", type=float, default=0.03,
                        help="weight of the worst skin tone's face loss (the shipped oracle: "
                        "0)")  # fmt: skip
    parser.add_argument("--mine-pool", type=int, default=MINE_POOL,
                        help="hard-negative candidates drawn per negative kept (the shipped "
                        f"oracle: {MINE_POOL})")  # fmt: skip
    parser.add_argument("--hidden", type=int, default=0,
                        help="width of the read-out's hidden layer (the shipped oracle: 0, "
                        "linear)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--save", type=Path, help="where to write the retrained oracle")
    group.add_argument("--load", type=Path, help="measure this saved oracle instead")
    parser.add_argument("--subjects", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--n", type=int, default=1000, help="battery probes per subject")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.save is not None and args.save.resolve() == ORACLE_FILE.resolve():
        parser.error("--save would overwrite the shipped oracle; choose another path")
    if args.load is not None and not args.load.is_file():
        parser.error(f"--load {args.load} is not a file; give an oracle checkpoint (--save "
                     "writes one)")  # fmt: skip

    if args.load is not None:
        retrained = load_oracle(args.load)
        training = None
    else:
        retrained, training = train_oracle(steps=args.steps, hard_steps=args.hard_steps,
                                           worst_tone=args.worst_tone,
                                           mine_pool=args.mine_pool, hidden=args.hidden,
                                           seed=args.seed)  # fmt: skip
        save_oracle(retrained, training, args.save)
        print(f"retrained oracle -> {args.save}: {json.dumps(training)}", flush=True)
    result = {
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "training": training,
        "shipped": measure(load_oracle(), args.subjects, args.n, "shipped"),
        "retrained": measure(retrained, args.subjects, args.n, "retrained"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
