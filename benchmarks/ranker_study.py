"""Which encoder should keep BrainDiVE's best candidates? Rankers compared on one run's candidates.

BrainDiVE draws several candidates per kept image and keeps those its guide scores highest. On
the world, the kept images can score high with the guide and low with the truth. This script
regenerates the guided candidates of a recorded ``braindive_world.py`` run (its guides, scales,
seeds and steps; ``--prior`` as that run's), checks that their true objective matches the
record, and keeps the best ``n`` of them by each ranker below, which were all fixed before the
first run of this script:

- ``guide``: the guide itself (the recorded run's rule);
- ``guide-augmented``: the guide's mean over 8 shifted and mirrored copies of each candidate
  (``pipe.score(objective, out.images, augment=8, seeds=out.seeds)``), which patterns that
  move the encoder at one exact position only do not survive;
- ``linear-9000``: the guide's encoder(s), linear, fitted on 9000 training images (NSD's
  per-subject count) instead of 2000;
- ``routing-vit``: the routing encoder on world-vit patch tokens (another model class);
- ``guide+routing-vit``: the mean of the guide's and the routing encoder's predictions.

Per objective and ranker: the correlation of its score with the true objective over the
candidates, and the kept images' mean true objective (95% interval), judged-preferred and
"none" fractions. The truth and the judge only score, they never choose. The rule, fixed with
the rankers: the ranker with the highest mean, over the objectives, of the kept images' mean
true objective, among those judged preferred at least 80% of the time in every category region
and "none" at most 10% in every objective (``chosen``). As the candidates here are the
record's test seeds, the chosen ranker is then reported on other seeds
(``braindive_world.py --rank-augment`` or ``--rank-with``). With ``RECORD`` the run of the
whole protocol with the adversarial decoder
(``benchmarks/results/braindive_world_adversarial_decoder_protocol_seeds1100-1419.json``) and
``FOLDER`` that decoder's prior (``prior_decoder.py --from-shipped --adversarial 0.05 --save``)::

    python benchmarks/ranker_study.py --record RECORD --prior FOLDER \
        --out benchmarks/results/ranker_study_seeds1100-1419.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from braindive_world import _read_summary, encoder_on, world_objectives

from brainenc.metrics import mean_interval
from brainenc.validation import device_argument
from brainenc.world.synthesis import (
    HEADLINE_JUDGE,
    WorldBench,
    preferred_category,
    world_brain_model,
    world_guidance,
    world_pipeline,
)

RANKERS = ("guide", "guide-augmented", "linear-9000", "routing-vit", "guide+routing-vit")
AUGMENTED_COPIES = 8
LARGE_N_TRAIN = 9000
MIN_PREFERRED, MAX_NONE = 0.8, 0.1  # the world benchmark's judged targets (docs/world.md)


def objectives_of(record: dict) -> dict:
    """The recorded objectives by name."""
    known = {o.name: o for o in world_objectives()}
    return {name: known[name] for name in record["test"]}


def record_parser(description: str) -> argparse.ArgumentParser:
    """The command line of a study of one recorded run's candidates: ``--record``, ``--prior``,
    ``--objectives``, ``--device``, ``--out``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--record", required=True, help="a braindive_world.py summary.json")
    parser.add_argument("--prior", required=True, help="the prior folder the record was made with")
    parser.add_argument("--objectives", nargs="+", default=None, help="default: all recorded")
    parser.add_argument("--device", default="cpu", type=device_argument)
    parser.add_argument("--out", type=Path, required=True)
    return parser


def read_record(parser: argparse.ArgumentParser, args) -> tuple[dict, dict]:
    """The record of ``args.record`` and its objectives (those of ``args.objectives``), or a
    one-line exit if it is unreadable, kept every candidate, records no chosen guides or lacks
    an objective."""
    record = _read_summary(args.record, "--record", "test")
    if record["args"].get("oversample", 1) < 2:  # records older than --oversample kept all
        parser.error("the record kept every candidate (oversample 1): there are no candidates "
                     "to study; give a run made with --oversample 2 or more")  # fmt: skip
    if "chosen" not in record:
        parser.error("the record names no chosen guide and scale per objective; give a run "
                     "that records them (its summary.json has 'chosen')")  # fmt: skip
    objectives = objectives_of(record)
    if args.objectives:
        unknown = set(args.objectives) - set(objectives)
        if unknown:
            parser.error(f"not in the record: {', '.join(sorted(unknown))}")
        objectives = {name: objectives[name] for name in args.objectives}
    return record, objectives


def guide_backbones(record: dict, objectives) -> list[str]:
    """The backbones of the guides the record chose for ``objectives``, each once."""
    guides = (record["chosen"][name]["guide"] for name in objectives)
    return list(dict.fromkeys(b for g in guides for b in g.split("+")))


def guide_pipelines(record: dict, objectives, prior, device: str = "cpu") -> dict:
    """The BrainDiVE pipeline of each guide the record chose for ``objectives``, on ``prior``,
    its encoders fitted as the record's were."""
    run = record["args"]
    models = {b: world_brain_model(run["subject"], backbone=b, encoder=run["encoder"],
                                   progress=False)
              for b in guide_backbones(record, objectives)}  # fmt: skip
    guides = {record["chosen"][name]["guide"] for name in objectives}
    return {g: world_pipeline(encoder_on(g.split("+"), models), prior, device=device)
            for g in guides}  # fmt: skip


def regenerate(pipe, objective, record: dict, name: str, bench: WorldBench):
    """The guided candidates of objective ``name`` in ``record`` (a ``braindive_world.py``
    summary), drawn again with ``pipe`` (the record's guide): ``(out, true, drift)``, with
    their true objective and its largest difference from the recorded one."""
    run, chosen, recorded = record["args"], record["chosen"][name], record["test"][name]
    out = pipe(objective, n_images=recorded["n_images"] * run["oversample"],
               seed=recorded["seed"], guidance=world_guidance(run["guidance"], chosen["scale"]),
               num_inference_steps=run["steps"], batch_size=run["batch_size"],
               progress=False)  # fmt: skip
    with torch.no_grad():
        true = objective(bench.truth, out.images).numpy()
    drift = float(np.abs(true - np.array(recorded["guided"]["candidates"]["true"])).max())
    return out, true, drift


def kept_scores(order, true, judged, preferred, n) -> dict:
    """The kept images' mean true objective (95% interval) and judged fractions."""
    kept = order[:n]
    labels = np.asarray(judged)[kept]
    row = {"mean_true": float(true[kept].mean()), "mean_true_ci95": mean_interval(true[kept]),
           "none": float(np.mean(labels == "none"))}  # fmt: skip
    if preferred is not None:
        row["preferred"] = float(np.mean(labels == preferred))
    return row


def choose_ranker(objectives: dict) -> tuple[dict, str]:
    """Each ranker's mean over objectives of the kept mean true objective, and the highest among
    the rankers judged preferred ≥ 80% in every category region and "none" ≤ 10% in every
    objective (else the guide)."""
    means = {r: float(np.mean([o["rankers"][r]["mean_true"] for o in objectives.values()]))
             for r in RANKERS}  # fmt: skip
    judged_ok = [r for r in RANKERS if all(
        o["rankers"][r].get("preferred", 1) >= MIN_PREFERRED and o["rankers"][r]["none"] <= MAX_NONE
        for o in objectives.values()
    )]  # fmt: skip
    return means, max(judged_ok, key=means.get, default="guide")


def main() -> None:
    parser = record_parser(__doc__.splitlines()[0])
    args = parser.parse_args()
    record, objectives = read_record(parser, args)
    run = record["args"]
    subject, encoder = run["subject"], run["encoder"]
    pipelines = guide_pipelines(record, objectives, args.prior, args.device)
    large = {b: world_brain_model(subject, backbone=b, encoder=encoder, n_train=LARGE_N_TRAIN,
                                  progress=False).to(args.device)
             for b in guide_backbones(record, objectives)}  # fmt: skip
    routing = world_brain_model(subject, backbone="world-vit", encoder="routing",
                                progress=False).to(args.device)  # fmt: skip
    bench = WorldBench.shared(subject, device=args.device)
    result = {"args": vars(args) | {"out": str(args.out)}, "rankers": list(RANKERS),
              "objectives": {}}  # fmt: skip
    for name, objective in objectives.items():
        start = time.perf_counter()
        chosen, recorded = record["chosen"][name], record["test"][name]
        pipe = pipelines[chosen["guide"]]
        n = recorded["n_images"]
        out, true, drift = regenerate(pipe, objective, record, name, bench)
        judged = bench.judges[HEADLINE_JUDGE](out.images)
        scores = {
            "guide": out.scores,
            "guide-augmented": pipe.score(objective, out.images, augment=AUGMENTED_COPIES,
                                          seeds=out.seeds),
            "linear-9000": pipe.score(objective, out.images,
                                      brain_model=encoder_on(chosen["guide"].split("+"), large)),
            "routing-vit": pipe.score(objective, out.images, brain_model=routing),
        }  # fmt: skip
        scores["guide+routing-vit"] = (scores["guide"] + scores["routing-vit"]) / 2
        preferred = preferred_category(objective)
        rows = {}
        for ranker, score in scores.items():
            rows[ranker] = kept_scores(np.argsort(-score), true, judged, preferred, n)
            rows[ranker]["r_true"] = float(np.corrcoef(score, true)[0, 1])
        oracle = kept_scores(np.argsort(-true), true, judged, preferred, n)
        result["objectives"][name] = {"rankers": rows, "best_possible": oracle,
                                      "max_true_drift_from_record": drift,
                                      "natural_true_median_preferred":
                                          recorded.get("natural_true_median_preferred"),
                                      "natural_true_p90": recorded["natural_true_p90"],
                                      "seconds": round(time.perf_counter() - start, 1)}  # fmt: skip
        line = ", ".join(f"{r} {v['mean_true']:.2f} (r {v['r_true']:.2f})" for r, v in rows.items())
        print(f"{name}: {line}; best possible {oracle['mean_true']:.2f}; drift {drift:.1e}",
              flush=True)  # fmt: skip
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))
    result["mean_over_objectives"], result["chosen"] = choose_ranker(result["objectives"])
    args.out.write_text(json.dumps(result, indent=1))
    print("mean kept true over objectives: "
          + ", ".join(f"{r} {v:.3f}" for r, v in result["mean_over_objectives"].items())
          + f"; chosen: {result['chosen']}")  # fmt: skip


if __name__ == "__main__":
    main()
