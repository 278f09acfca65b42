"""``brainenc demo``: the whole pipeline on a simulated subject of the in-silico world.

world subject → backbone features → linear encoder → per-ROI test scores → cortical maps →
images synthesized for chosen ROIs (BrainDiVE) → HTML report, with the simulator's ground truth
beside every estimate.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from . import __version__
from .data.brain_data import BrainData
from .encoders import LinearEncoder
from .features import Backbone, extract_features
from .metrics import noise_normalized_r2, pearson_r, summarize
from .world import load_world

MIN_CEILING = 0.1
"""Targets whose estimated noise ceiling is at most this are left out of normalised scores."""


def evaluate(data: BrainData, predictions: np.ndarray) -> dict[str, np.ndarray]:
    """Per-target test scores of predictions of ``data``'s test responses.

    Returns ``r`` (Pearson), ``nnr2`` (noise-normalised r², NaN where the estimated noise ceiling
    is ≤ :data:`MIN_CEILING`) and, when the data are simulated, ``true_r2``: the squared
    correlation of the predictions with the noiseless responses (the fraction of explainable
    variance the model truly explains).
    """
    r = pearson_r(data.rows(data.test), predictions)
    out = {"r": r, "nnr2": noise_normalized_r2(r, data.noise_ceiling, min_ceiling=MIN_CEILING)}
    if "test_signal" in data.truth:
        true_r = pearson_r(data.truth["test_signal"], predictions)
        out["true_r2"] = np.where(data.noise_ceiling > MIN_CEILING, np.clip(true_r, 0, None) ** 2,
                                  np.nan)  # fmt: skip
    return out


def format_table(tables: dict[str, dict[str, dict]], rois) -> str:
    """A text table: one row per ROI, one column per (backbone, score)."""
    columns = list(tables)
    head = f"{'ROI':<6}{'n':>5}  " + "  ".join(f"{c:>22}" for c in columns)
    lines = [head, "-" * len(head)]
    for roi in rois:
        n = next(iter(tables.values()))[roi]["n"]
        cells = "  ".join(f"{tables[c][roi]['value']:>22.3f}" for c in columns)
        lines.append(f"{roi:<6}{n:>5}  {cells}")
    return "\n".join(lines)


def run_demo(
    out="brainenc_results/demo",
    *,
    subject: int = 1,
    backbones: tuple[str, ...] = ("gabor", "world-clip"),
    n_train: int = 2000,
    n_test: int = 300,
    synthesize: tuple[str, ...] = ("FFA", "PPA"),
    n_synthesized: int = 8,
    quiet: bool = False,
) -> dict:
    """Run the demo and write its results folder; returns the summary (also ``summary.json``).

    Parameters
    ----------
    out : path-like
        Results folder (see :mod:`brainenc.maps.run_dir`): ``summary.json``, a saved encoder per
        backbone, ``maps/`` (see :func:`brainenc.maps.standard.draw_standard_maps`) and
        ``report.html``, the page that shows them all.
    subject : int
        World subject.
    backbones : tuple of str
        Backbone specs to compare (see :meth:`brainenc.features.Backbone.from_spec`).
    n_train, n_test : int
        World images for fitting and testing.
    synthesize : tuple of str
        ROIs to synthesize images for with BrainDiVE, guided by the world-clip encoder (when
        ``"world-clip"`` is among the backbones), into ``synthesis/``.
    n_synthesized : int
        Images per ROI (and as many unguided ones with the same seeds).
    quiet : bool
        No progress bars or printed table.
    """
    from .maps.report import build_report
    from .maps.run_dir import write_summary
    from .maps.standard import draw_standard_maps, file_name

    say = (lambda *a: None) if quiet else print
    out = Path(out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    timings = {}
    t0 = time.perf_counter()
    data = load_world(subject, n_train=n_train, n_test=n_test)
    timings["simulate"] = time.perf_counter() - t0
    say(data.describe())
    unknown = [roi for roi in synthesize if roi not in data.rois]
    if unknown:
        raise KeyError(f"cannot synthesize for unknown ROI {', '.join(unknown)}; the world has: "
                       + ", ".join(data.rois))  # fmt: skip
    nc_corr = float(np.corrcoef(data.noise_ceiling, data.truth["noise_ceiling"])[0, 1])
    say(f"noise ceiling: estimated vs true, Pearson r = {nc_corr:.3f} over all vertices")

    y_train, y_test_rows = data.rows(data.train), data.test
    tables, results, encoders, predictions = {}, {}, {}, {}
    for spec in backbones:
        t0 = time.perf_counter()
        backbone = Backbone.from_spec(spec)
        features = extract_features(backbone, data.images, progress=not quiet)
        timings[f"features[{spec}]"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        say(f"fitting ridge on {features.shape[1]} {spec} features × {data.n_targets} vertices…")
        encoders[spec] = LinearEncoder().fit(features[data.train], y_train)
        timings[f"fit[{spec}]"] = time.perf_counter() - t0
        predictions[spec] = encoders[spec].predict(features[y_test_rows])
        scores = evaluate(data, predictions[spec])
        tables[f"{spec} nnr2"] = summarize(scores["nnr2"], data.rois)
        tables[f"{spec} true r2"] = summarize(scores["true_r2"], data.rois)
        name = file_name(spec)
        encoders[spec].save(out / f"encoder_{name}", metadata={"backbone": spec, **data.meta})
        results[spec] = {
            "roi_median_nnr2": {k: v["value"] for k, v in tables[f"{spec} nnr2"].items()},
            "roi_median_true_r2": {k: v["value"] for k, v in tables[f"{spec} true r2"].items()},
            "map": f"maps/nnr2_{name}.png",
            "encoder": f"encoder_{name}",
        }
    say(format_table(tables, data.rois))
    t0 = time.perf_counter()
    maps = draw_standard_maps(data, out, encoders, predictions, min_ceiling=MIN_CEILING)
    timings["maps"] = time.perf_counter() - t0
    synthesis = {}
    if synthesize and "world-clip" in encoders:
        t0 = time.perf_counter()
        synthesis = _synthesize(data, encoders["world-clip"], synthesize, n_synthesized, out,
                                quiet, say)  # fmt: skip
        timings["synthesis"] = time.perf_counter() - t0
    elif synthesize:
        say("no synthesis: it is guided by the world-clip encoder (add --backbone world-clip)")
    summary = {
        "brainenc_version": __version__,
        "data": data.meta,
        "n_train": len(data.train),
        "n_test": len(data.test),
        "noise_ceiling_vs_truth_r": nc_corr,
        "min_ceiling": MIN_CEILING,
        "rois": {roi: int(mask.sum()) for roi, mask in data.rois.items()},
        "backbones": results,
        "maps": maps,
        "synthesis": synthesis,
        "seconds": {k: round(v, 1) for k, v in timings.items()},
    }
    write_summary(out, summary)
    say(f"results in {out}/; report: {build_report(out)}")
    return summary


def _synthesize(data, encoder, rois, n_images, out: Path, quiet: bool, say) -> dict:
    """BrainDiVE for each ROI; returns the guided and unguided scores against the truth."""
    from .encoders import BrainModel
    from .maps.run_dir import SYNTHESIS
    from .world.synthesis import synthesize_world, world_pipeline

    brain_model = BrainModel.from_encoder(Backbone.from_spec("world-clip"), encoder, data)
    pipeline = world_pipeline(brain_model)
    unguided = pipeline(None, n_images=n_images, guidance=None, progress=not quiet)
    results = {}
    for roi in rois:
        say(f"synthesizing {n_images} images for {roi} (BrainDiVE, world-clip encoder)…")
        summary = synthesize_world(roi, subject=data.meta["subject"], n_images=n_images,
                                   pipeline=pipeline, unguided=unguided, out=out / SYNTHESIS,
                                   progress=not quiet)  # fmt: skip
        results[roi] = {
            run: {k: summary[run][k] for k in ("mean_true", "preferred_fraction")
                  if k in summary[run]}
            for run in ("guided", "unguided")
        }  # fmt: skip
        for key in ("natural_true_p90", "natural_true_median_preferred"):
            results[roi][key] = summary[key]
        guided, unguided_scores = results[roi]["guided"], results[roi]["unguided"]
        say(f"  true {roi} activation: guided {guided['mean_true']:.2f}, unguided "
            f"{unguided_scores['mean_true']:.2f}; natural images: 90th percentile "
            f"{summary['natural_true_p90']:.2f}, median {summary['preferred']} "
            f"{summary['natural_true_median_preferred']:.2f}; judged {summary['preferred']}: "
            f"guided {guided['preferred_fraction']:.0%}, unguided "
            f"{unguided_scores['preferred_fraction']:.0%}")  # fmt: skip
    return results
