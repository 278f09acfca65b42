"""What holds the images BrainDiVE keeps below its best candidates: pool size, or a truth term?

A ``braindive_world.py`` run keeps the best ``n`` of ``n × oversample`` guided candidates by
its ranker and records every candidate's ranker score and true objective. This script asks
two things of it:

- **Would a larger pool help?** From the record alone: the mean true objective of the best
  64, 48, 32 and 16 candidates by the run's ranker, and by the truth. If keeping a smaller
  fraction does not raise the kept mean, drawing more candidates per image (a larger
  ``--oversample``) would not either.
- **Which term of the truth do the kept images lack?** The guided candidates are drawn again
  (as ``ranker_study.py`` does, drift checked), and each image's true objective is split into
  the part that category evidence drives and the part that low-level contrast drives
  (``WorldSubject``'s two terms), with the oracle's evidence for the preferred category; for
  the kept images, the best ``n`` by the truth, and all candidates.

It also reports the truth's own spread on natural faces by the rendered skin tone (stream
15,000, the images that calibrate synthesis): the oracle's face evidence and FFA's true
activation, median per tone. The truth and the judge only score here; nothing is chosen.
With ``RUN`` a run's ``summary.json`` and ``FOLDER`` the prior it was made with::

    python benchmarks/kept_limits.py --record RUN --prior FOLDER --objectives FFA PPA FFA-PPA \
        --out benchmarks/results/kept_limits_seeds2400-2719.json
"""

from __future__ import annotations

import json
import time

import numpy as np
import torch
from ranker_study import guide_pipelines, read_record, record_parser, regenerate

from brainenc.synthesis import ROI
from brainenc.world import CATEGORIES, generate_stimuli
from brainenc.world.stimuli import SKIN_TONES
from brainenc.world.synthesis import NATURAL_SEED, WorldBench, preferred_category

KEPT_COUNTS = (64, 48, 32, 16)
N_NATURAL = 1500


def kept_by_count(score, true, counts=KEPT_COUNTS) -> dict:
    """The mean of ``true`` over the best ``k`` candidates by ``score``, for each ``k``."""
    order = np.argsort(-np.asarray(score), kind="stable")
    true = np.asarray(true)
    return {int(k): float(true[order[:k]].mean()) for k in counts if k <= len(true)}


def truth_terms(bench: WorldBench, objective, images: torch.Tensor) -> tuple[np.ndarray, ...]:
    """``(true, category part, low-level part)`` of ``objective`` on ``images``: the subject's
    response is linear in its two terms, so the parts add up to the true objective."""
    subject = bench.truth.readout
    saved = subject.lowlevel.clone()
    with torch.no_grad():
        true = objective(bench.truth, images).numpy()
        try:
            subject.lowlevel.zero_()
            category = objective(bench.truth, images).numpy()
        finally:
            subject.lowlevel.copy_(saved)
    return true, category, true - category


def split(true, category, lowlevel, evidence, idx) -> dict:
    """Means over the candidates ``idx``."""
    row = {"true": true[idx], "category_term": category[idx], "lowlevel_term": lowlevel[idx]}
    if evidence is not None:
        row["evidence"] = evidence[idx]
    return {key: float(np.mean(value)) for key, value in row.items()}


def faces_by_skin(bench: WorldBench, n: int = N_NATURAL) -> dict:
    """Per rendered skin tone of the natural faces of stream :data:`NATURAL_SEED`: their count,
    the oracle's median face evidence and FFA's median true activation."""
    stim = generate_stimuli(n, NATURAL_SEED)
    tones = stim.skin_tones
    faces = tones >= 0
    images = torch.from_numpy(np.asarray(stim.images[:])[faces]).permute(0, 3, 1, 2) / 255.0
    skins = np.array(SKIN_TONES)[tones[faces]]
    with torch.no_grad():
        evidence = bench.truth.readout.oracle.evidence(images)[:, 0].numpy()
        ffa = ROI("FFA")(bench.truth, images).numpy()
    return {skin: {"n": int((skins == skin).sum()),
                   "evidence_median": float(np.median(evidence[skins == skin])),
                   "ffa_median": float(np.median(ffa[skins == skin]))}
            for skin in SKIN_TONES}  # fmt: skip


def main() -> None:
    parser = record_parser(__doc__.splitlines()[0])
    args = parser.parse_args()
    record, objectives = read_record(parser, args)
    run = record["args"]

    bench = WorldBench.build(run["subject"], judges=False)
    result = {"args": vars(args) | {"out": str(args.out)},
              "faces_by_skin": faces_by_skin(bench), "objectives": {}}  # fmt: skip
    print("natural faces by skin tone: " + ", ".join(
        f"{skin} (n {r['n']}) evidence {r['evidence_median']:.2f}, FFA {r['ffa_median']:.2f}"
        for skin, r in result["faces_by_skin"].items()), flush=True)  # fmt: skip
    pipelines = guide_pipelines(record, objectives, args.prior, args.device)
    for name, objective in objectives.items():
        start = time.perf_counter()
        recorded = record["test"][name]
        candidates = recorded["guided"]["candidates"]
        score = np.asarray(candidates.get("ranked", candidates["predicted"]))
        pipe = pipelines[record["chosen"][name]["guide"]]
        out, _, drift = regenerate(pipe, objective, record, name, bench)
        true, category, lowlevel = truth_terms(bench, objective, out.images)
        preferred = preferred_category(objective)
        evidence = None
        if preferred is not None:
            with torch.no_grad():
                evidence = bench.truth.readout.oracle.evidence(out.images)
            evidence = evidence[:, CATEGORIES.index(preferred)].numpy()
        n = recorded["n_images"]
        groups = {"kept": np.argsort(-score, kind="stable")[:n],
                  "best_by_truth": np.argsort(-true, kind="stable")[:n],
                  "all": np.arange(len(true))}  # fmt: skip
        row = {"kept_by_count": kept_by_count(score, true),
               "best_by_count": kept_by_count(true, true),
               "terms": {g: split(true, category, lowlevel, evidence, idx)
                         for g, idx in groups.items()},
               "max_true_drift_from_record": drift,
               "seconds": round(time.perf_counter() - start, 1)}  # fmt: skip
        result["objectives"][name] = row
        counts = ", ".join(f"{k}: {v:.2f}" for k, v in row["kept_by_count"].items())
        terms = "; ".join(
            f"{g} {t['true']:.2f} = {t['category_term']:.2f} + {t['lowlevel_term']:.2f}"
            + (f" (evidence {t['evidence']:.2f})" if "evidence" in t else "")
            for g, t in row["terms"].items()
        )  # fmt: skip
        print(f"{name}: kept by the ranker, best {counts}; {terms}; drift {drift:.1e}",
              flush=True)  # fmt: skip
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
