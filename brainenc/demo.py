"""``brainenc demo``: the whole pipeline on a simulated subject of the in-silico world.

world subject → backbone features → linear encoder → per-ROI test scores → cortical maps →
images synthesized for chosen ROIs (BrainDiVE) → HTML report, with the simulator's ground truth
beside every estimate.
"""

from __future__ import annotations

import time

import numpy as np

from .study import fit_study, format_seconds, format_table, load_run_encoder
from .world import load_world

SYNTHESIS_BACKBONE = "world-clip"
"""The backbone of the encoder that guides synthesis in the demo."""


def run_demo(
    out="brainenc_results/demo",
    *,
    subject: int = 1,
    backbones: tuple[str, ...] = ("gabor", "world-clip"),
    encoders: tuple[str, ...] = ("linear",),
    n_train: int = 2000,
    n_test: int = 300,
    synthesize: tuple[str, ...] = ("FFA", "PPA"),
    n_synthesized: int = 8,
    progress: bool = True,
):
    """Run the demo and write its results folder; returns the :class:`~brainenc.run.Run`.

    Parameters
    ----------
    out : path-like
        Results folder (see :mod:`brainenc.run`): ``summary.json``, the fitted models in
        ``encoders/``, ``maps/`` (see :func:`brainenc.maps.draw_standard_maps`),
        ``synthesis/`` and ``report.html``, the page that shows them all.
    subject : int
        World subject.
    backbones : tuple of str
        Backbone specs to compare (see :meth:`brainenc.features.Backbone.from_spec`).
    encoders : tuple of str
        Encoder specs fitted on each backbone (see :meth:`brainenc.encoders.Encoder.from_spec`).
    n_train, n_test : int
        World images for fitting and testing.
    synthesize : tuple of str
        ROIs to synthesize images for with BrainDiVE, guided by the first encoder on
        world-clip (when ``"world-clip"`` is among the backbones), into ``synthesis/``.
    n_synthesized : int
        Images per ROI (and as many unguided ones with the same seeds).
    progress : bool
        Progress bars and the printed table and stage lines.
    """
    from .maps.report import build_report

    say = print if progress else (lambda *a: None)
    start = time.perf_counter()
    data = load_world(subject, n_train=n_train, n_test=n_test, progress=progress)
    simulated = time.perf_counter() - start
    say(data.describe())
    unknown = [roi for roi in synthesize if roi not in data.rois]
    if unknown:
        raise KeyError(f"cannot synthesize for unknown ROI {', '.join(unknown)}; the world has: "
                       + ", ".join(data.rois))  # fmt: skip
    nc_corr = float(np.corrcoef(data.noise_ceiling, data.truth["noise_ceiling"])[0, 1])
    say(f"noise ceiling: estimated vs true, Pearson r = {nc_corr:.3f} over all vertices")
    run = fit_study(data, backbones, encoders, out, progress=progress, say=say)
    run.info["noise_ceiling_vs_truth_r"] = nc_corr
    run.info["seconds"] = {"simulate": round(simulated, 1), **run.info["seconds"]}
    say(format_table(run))
    guides = [m for m in run.models if m.backbone == SYNTHESIS_BACKBONE]
    if synthesize and guides:
        start = time.perf_counter()
        encoder = load_run_encoder(run, guides[0], data)
        run.synthesis = _synthesize(data, encoder, synthesize, n_synthesized, run.path,
                                    progress, say)  # fmt: skip
        run.info["seconds"]["synthesis"] = round(time.perf_counter() - start, 1)
    elif synthesize:
        say("no synthesis: it is guided by a world-clip encoder (add --backbone world-clip)")
    run.write()
    say(format_seconds(run))
    say(f"results in {run.path}/; report: {build_report(run.path)}")
    return run


def _synthesize(data, encoder, rois, n_images, out, progress: bool, say) -> dict:
    """BrainDiVE for each ROI; returns the guided and unguided scores against the truth."""
    from .encoders import BrainModel
    from .features import Backbone
    from .run import SYNTHESIS
    from .world.synthesis import synthesize_world, world_pipeline

    brain_model = BrainModel.from_encoder(Backbone.from_spec(SYNTHESIS_BACKBONE), encoder, data)
    pipeline = world_pipeline(brain_model)
    unguided = pipeline(None, n_images=n_images, guidance=None, progress=progress)
    results = {}
    for roi in rois:
        say(f"synthesizing {n_images} images for {roi} (BrainDiVE, {encoder.name} encoder on "
            f"{SYNTHESIS_BACKBONE})…")  # fmt: skip
        summary = synthesize_world(roi, subject=data.meta["subject"], n_images=n_images,
                                   pipeline=pipeline, unguided=unguided, out=out / SYNTHESIS,
                                   progress=progress)  # fmt: skip
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
