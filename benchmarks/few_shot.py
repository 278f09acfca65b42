"""The few-shot curve: the in-context encoder against ridge on the same k images, on the world.

For every test subject (never seen in meta-training; ``brainenc.world.training.in_context``)
and every k, the same k training images (the first k of one fixed shuffle of the subject's
training images) go to both encoders:

- in-context: ``InContextEncoder(pretrained="world")`` writes every vertex's readout from the k
  images (no fitting);
- ridge: ``LinearEncoder()`` (one alpha per vertex by generalised cross-validation);

and ridge on all training images is the reference. Scored on the subject's 300 test images over
every ROI vertex: noise-normalised r² (``nnr2``, the estimated noise ceiling), explained
variance (R² against the repeat-averaged test responses) and, from the world's ground truth,
``true_r2`` (squared correlation with the noiseless responses). The per-vertex correlation of
the in-context weights with the weights of ridge on all data (in standardised feature units)
is reported too. Intervals: 95% bootstrap over vertices of the median difference, per subject.

    python benchmarks/few_shot.py [--subjects 1 11 12] [--ks 10 30 100 300 1000]
                                  [--out benchmarks/results/few_shot_world.json]
                                  [--plot docs/images/few_shot_world.png] [--run RUN_DIR]
                                  [--model world|MODEL_DIR]

``--run`` also copies the plot and numbers into ``RUN_DIR/benchmarks/`` so that
``brainenc report RUN_DIR`` shows them.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

from brainenc.encoders import InContextEncoder, LinearEncoder
from brainenc.metrics import r2_score
from brainenc.run import BENCHMARKS
from brainenc.study import MIN_CEILING, evaluate
from brainenc.world import load_world
from brainenc.world.clip import world_embeddings
from brainenc.world.training.in_context import TEST_SUBJECTS

GROUPS = {
    "category": ("OFA", "FFA", "EBA", "OPA", "PPA", "RSC", "VWFA", "food"),
    "early": ("V1", "V2", "V3", "hV4"),
}
ENCODERS = ("in-context", "ridge")
SCORES = ("nnr2", "true_r2", "explained_variance")


def scores(data, columns, predicted) -> dict[str, np.ndarray]:
    """Per-vertex test scores of predictions of ``data``'s test responses at ``columns``:
    :func:`~brainenc.study.evaluate`'s, and the explained variance."""
    out = evaluate(data, predicted, columns=columns)
    reliable = data.noise_ceiling[columns] > MIN_CEILING
    explained = r2_score(data.rows(data.test)[:, columns], predicted)
    return {"nnr2": out["nnr2"], "true_r2": out["true_r2"],
            "explained_variance": np.where(reliable, explained, np.nan)}  # fmt: skip


def median_difference_interval(a, b, rng, n_boot: int = 2000) -> list[float]:
    """95% bootstrap interval (over vertices) of median(a) - median(b), paired."""
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    idx = rng.integers(0, len(a), (n_boot, len(a)))
    diffs = np.median(a[idx], 1) - np.median(b[idx], 1)
    return [float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5))]


def weight_correlation(in_context: InContextEncoder, ridge: LinearEncoder) -> np.ndarray:
    """Per-vertex correlation of the emitted weights and ridge's (both per standardised feature)."""
    a = in_context.coef_
    b = ridge.coef_ * in_context.feature_scale_[:, None]
    a, b = a - a.mean(0), b - b.mean(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * b).sum(0) / np.sqrt((a**2).sum(0) * (b**2).sum(0))


def run_subject(subject: int, ks, say, model: str = "world") -> dict:
    data = load_world(subject)
    features = world_embeddings(data.images)
    masks = {g: np.any([data.roi(r) for r in rois], 0) for g, rois in GROUPS.items()}
    columns = np.flatnonzero(np.any(list(masks.values()), 0))
    rois = {**{g: m[columns] for g, m in masks.items()},
            **{r: data.roi(r)[columns] for rois in GROUPS.values() for r in rois}}  # fmt: skip
    train = np.random.default_rng([subject, 5]).permutation(data.train)
    responses = data.rows(train)[:, columns]
    x_train, x_test = features[train], features[data.test]
    rng = np.random.default_rng(subject)

    def summary(per_vertex):
        return {roi: float(np.nanmedian(per_vertex[m])) for roi, m in rois.items()}

    ridge_all = LinearEncoder().fit(x_train, responses)
    out = {"subject": subject, "n_vertices": len(columns), "curve": [],
           "ridge_all": {s: summary(v) for s, v in
                         scores(data, columns, ridge_all.predict(x_test)).items()}}  # fmt: skip
    for k in ks:
        start = time.perf_counter()
        fitted = {
            "in-context": InContextEncoder(pretrained=model, max_context=max(ks)).fit(
                x_train[:k], responses[:k]
            ),
            "ridge": LinearEncoder().fit(x_train[:k], responses[:k]),
        }
        per_vertex = {n: scores(data, columns, e.predict(x_test)) for n, e in fitted.items()}
        point = {"k": k, **{n: {s: summary(v) for s, v in per_vertex[n].items()} for n in ENCODERS}}
        point["nnr2_difference_interval"] = {
            g: median_difference_interval(per_vertex["in-context"]["nnr2"][rois[g]],
                                          per_vertex["ridge"]["nnr2"][rois[g]], rng)
            for g in GROUPS
        }  # fmt: skip
        point["weight_correlation_with_ridge_all"] = summary(
            weight_correlation(fitted["in-context"], ridge_all)
        )
        out["curve"].append(point)
        say(f"subject {subject} k={k:5d}: category nnr2 in-context "
            f"{point['in-context']['nnr2']['category']:.3f} ridge "
            f"{point['ridge']['nnr2']['category']:.3f} (all data "
            f"{out['ridge_all']['nnr2']['category']:.3f}); "
            f"{time.perf_counter() - start:.0f} s")  # fmt: skip
    return out


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = [p["k"] for p in results["subjects"][0]["curve"]]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    colours = {"in-context": "#c0392b", "ridge": "#2c7fb8"}
    for ax, group in zip(axes, GROUPS, strict=True):
        for name in ENCODERS:
            for score, style in (("nnr2", "-o"), ("true_r2", "--")):
                values = np.mean([[p[name][score][group] for p in s["curve"]]
                                  for s in results["subjects"]], 0)  # fmt: skip
                label = f"{name} ({'estimated nnr²' if score == 'nnr2' else 'true r²'})"
                ax.plot(ks, values, style, color=colours[name], label=label, ms=4)
        for score, style in (("nnr2", "-"), ("true_r2", "--")):
            level = np.mean([s["ridge_all"][score][group] for s in results["subjects"]])
            ax.axhline(level, ls=style, color="grey", lw=1,
                       label=f"ridge, all {results['n_train']} images ({score})")  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel("context / training images (k)")
        ax.set_title(f"{group} ROIs, median over vertices")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("score (mean over test subjects)")
    axes[1].legend(fontsize=7, loc="lower right")
    fig.suptitle(f"Few-shot encoders on the world (test subjects {results['test_subjects']})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subjects", type=int, nargs="+", default=list(TEST_SUBJECTS))
    parser.add_argument("--ks", type=int, nargs="+", default=[10, 30, 100, 300, 1000])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/few_shot_world.json"))
    parser.add_argument("--plot", type=Path, default=Path("docs/images/few_shot_world.png"))
    parser.add_argument("--run", type=Path, help="also put the plot into this run's report")
    parser.add_argument(
        "--model",
        default="world",
        help="the meta-trained model: 'world' (shipped) or its directory",
    )
    args = parser.parse_args(argv)
    bad = sorted(set(args.subjects) - set(TEST_SUBJECTS))
    if bad:
        parser.error(f"subjects {bad} were used to meta-train; test on {list(TEST_SUBJECTS)}")
    results = {
        "test_subjects": args.subjects, "ks": args.ks, "n_train": 2000,
        "model": InContextEncoder(pretrained=args.model).spec, "min_ceiling": MIN_CEILING,
        "subjects": [run_subject(s, args.ks, print, args.model) for s in args.subjects],
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    plot(results, args.plot)
    if args.run is not None:
        folder = args.run / BENCHMARKS
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(args.plot, folder / "few_shot.png")
        caption = (f"Few-shot curve on the world: in-context encoder vs ridge on the same k "
                   f"images, test subjects {args.subjects} ({args.out.name}).")  # fmt: skip
        (folder / "few_shot.json").write_text(json.dumps({"caption": caption}) + "\n")
    print(f"wrote {args.out} and {args.plot}")
    return results


if __name__ == "__main__":
    main()
