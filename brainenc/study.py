"""``fit_study``: fit, score, save and map every (backbone, encoder) model of one subject.

The loop every study runs — features per backbone, each encoder fitted (out of core where the
encoder can), test scores per ROI, the standard maps, ``summary.json`` and the report — in one
place, used by ``brainenc fit``, ``brainenc demo`` and scripts alike.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

import numpy as np

from . import __version__
from .data.brain_data import BrainData
from .encoders import Encoder, load_encoder
from .features import Backbone, extract_features
from .metrics import noise_normalized_r2, pearson_r, summarize
from .run import ModelResult, Run

MIN_CEILING = 0.1
"""Targets whose estimated noise ceiling is at most this are left out of normalised scores."""
ATTENTION_IMAGES = 4
"""Test images whose attention maps the run draws for encoders that route attention."""


def evaluate(data: BrainData, predictions: np.ndarray, min_ceiling: float = MIN_CEILING, *,
             columns=None) -> dict:  # fmt: skip
    """Per-target test scores of predictions of ``data``'s test responses.

    Returns ``r`` (Pearson), ``nnr2`` (noise-normalised r², NaN where the estimated noise ceiling
    is ≤ ``min_ceiling``; only when the data have a noise ceiling) and, when the data are
    simulated, ``true_r2``: the squared correlation of the predictions with the noiseless
    responses (the fraction of explainable variance the model truly explains).

    ``columns`` (indices or a boolean mask of ``data``'s targets) says which targets the
    predictions' columns are, when they are not all of them.
    """
    columns = slice(None) if columns is None else np.asarray(columns)
    r = pearson_r(data.rows(data.test)[:, columns], predictions)
    out = {"r": r}
    if data.noise_ceiling is not None:
        ceiling = data.noise_ceiling[columns]
        out["nnr2"] = noise_normalized_r2(r, ceiling, min_ceiling=min_ceiling)
    if "test_signal" in data.truth:
        true_r = pearson_r(data.truth["test_signal"][:, columns], predictions)
        reliable = data.noise_ceiling[columns] > min_ceiling
        out["true_r2"] = np.where(reliable, np.clip(true_r, 0, None) ** 2, np.nan)
    return out


def fit_study(
    data: BrainData,
    backbones: Sequence[str] = ("gabor",),
    encoders: Sequence[str | Encoder] = ("linear",),
    out: str | os.PathLike = "brainenc_results/study",
    *,
    device: str = "cpu",
    memory: str | int | None = None,
    min_ceiling: float = MIN_CEILING,
    maps: bool = True,
    reference=None,
    progress: bool = True,
    say=print,
) -> Run:
    """Fit every encoder on every backbone's features of ``data``, score, save and map them.

    Parameters
    ----------
    data : BrainData
        The subject (train and test split; a noise ceiling for the normalised scores and maps).
    backbones : sequence of str
        Backbone specs (:meth:`~brainenc.features.Backbone.from_spec`).
    encoders : sequence of str or Encoder
        Encoder specs (:meth:`~brainenc.encoders.Encoder.from_spec`) or unfitted encoders
        (cloned, never modified). Each reads the backbone output it declares (pooled or tokens).
    out : path-like
        The run folder (see :mod:`brainenc.run`); models are saved in ``encoders/<model>/``.
    device : str
        Where features are extracted and, for encoders with a ``device`` hyperparameter, fitted.
    memory : str or int, optional
        Memory budget of encoders that fit out of core (the linear encoder; default 4GB).
    min_ceiling : float
        Noise-ceiling threshold of the normalised scores and the maps.
    maps : bool
        Draw the standard maps (:func:`~brainenc.maps.draw_standard_maps`).
    reference : path or nibabel image, optional
        Background of volume maps.
    progress : bool
        Progress bars.
    say : callable
        Where the stage lines go (``print``; a no-op to silence them).

    Returns
    -------
    Run
        Written to ``out/summary.json`` (the report is left to the caller:
        :func:`~brainenc.maps.build_report`).
    """
    from sklearn.base import clone

    run = Run(out, data=dict(data.meta), rois={k: int(v.sum()) for k, v in data.rois.items()})
    run.info.update(
        brainenc_version=__version__,
        space=data.space.to_dict(),
        n_train=len(data.train),
        n_test=len(data.test),
        min_ceiling=min_ceiling,
    )
    seconds = run.info.setdefault("seconds", {})
    fitted, predictions, shown = {}, {}, {}
    draw_maps = maps and data.noise_ceiling is not None
    templates = [e if isinstance(e, Encoder) else Encoder.from_spec(e) for e in encoders]
    folders = [ModelResult(b, t.spec).folder for b in backbones for t in templates]
    repeated = sorted({f for f in folders if folders.count(f) > 1})
    if repeated:
        raise ValueError(
            f"two models would share the folder {', '.join(repeated)}; give each (backbone, "
            "encoder) pair once"
        )
    for spec in backbones:
        backbone, features = Backbone.from_spec(spec), {}
        for template in templates:
            encoder, model = clone(template), ModelResult(spec, template.spec)
            if "device" in encoder.get_params():  # where it runs is not part of the model's name
                encoder.set_params(device=device)
            if encoder.feature_type not in features:
                start = time.perf_counter()
                features[encoder.feature_type] = extract_features(
                    backbone, data.images, feature_type=encoder.feature_type, device=device,
                    progress=progress,
                )  # fmt: skip
                key = f"features[{spec}]"
                seconds[key] = seconds.get(key, 0.0) + time.perf_counter() - start
            x = features[encoder.feature_type]
            say(f"fitting {model.name} on {x.shape[0]} images × {data.n_targets} targets…")
            start = time.perf_counter()
            folder = encoder.fit_to_directory(
                x[data.train], data.responses, run.path / model.folder, rows=data.train,
                metadata={"backbone": spec, **data.meta}, memory=memory, rois=data.rois,
                progress=progress,
            )  # fmt: skip
            seconds[f"fit[{model.name}]"] = time.perf_counter() - start
            if not encoder.is_fitted:  # fitted straight to disk (out of core)
                encoder = load_encoder(folder)
            prediction = encoder.predict(x[data.test])
            if draw_maps:  # kept for the maps only: a whole-brain model can be large
                fitted[model.name], predictions[model.name] = encoder, prediction
                shown[model.name] = x[data.test[:ATTENTION_IMAGES]]
            scores = evaluate(data, prediction, min_ceiling)
            model.scores = {
                score: {
                    roi: _finite(row["value"]) for roi, row in summarize(values, data.rois).items()
                }
                for score, values in scores.items()
            }
            run.models.append(model)
    if draw_maps:
        from .maps.standard import draw_standard_maps

        start = time.perf_counter()
        say(f"drawing maps into {run.path / 'maps'}…")
        run.maps = draw_standard_maps(data, run.path, fitted, predictions, min_ceiling=min_ceiling,
                                      reference=reference, features=shown,
                                      progress=progress)  # fmt: skip
        seconds["maps"] = time.perf_counter() - start
    run.info["seconds"] = {k: round(v, 1) for k, v in seconds.items()}
    run.write()
    return run


def load_run_encoder(run: Run, model: ModelResult, data: BrainData | None = None) -> Encoder:
    """The fitted encoder of ``model``, checked to belong to ``data``'s subject when given."""
    encoder = load_encoder(run.encoder_dir(model))
    if data is None:
        return encoder
    for key in ("dataset", "subject"):
        if key in encoder.metadata_ and encoder.metadata_[key] != data.meta.get(key):
            raise ValueError(
                f"{run.encoder_dir(model)} was fitted to {key} {encoder.metadata_[key]!r} but "
                f"the data are {key} {data.meta.get(key)!r}; pick the subject it was fitted to"
            )
    for key, n in (("n_train", len(data.train)), ("n_test", len(data.test))):
        if run.info.get(key, n) != n:
            raise ValueError(
                f"{run.path} was fitted with {run.info[key]} {key.removeprefix('n_')} images but "
                f"the data have {n}: the test images would not be the run's; pass the run's "
                f"split (--{key.replace('_', '-')} {run.info[key]})"
            )
    return encoder


def predict_test(run: Run, data: BrainData, *, device: str = "cpu",
                 progress: bool = True) -> tuple[dict, dict, dict]:  # fmt: skip
    """Every model of ``run`` loaded, its predictions of ``data``'s test images and its
    features of the first :data:`ATTENTION_IMAGES` of them: ``({name: encoder},
    {name: predictions}, {name: features})``, in the run's order."""
    encoders, predictions, features, shown = {}, {}, {}, {}
    for model in run.models:
        encoder = load_run_encoder(run, model, data)
        key = (model.backbone, encoder.feature_type)
        if key not in features:
            features[key] = extract_features(
                Backbone.from_spec(model.backbone), data.images, data.test,
                feature_type=encoder.feature_type, device=device, progress=progress,
            )  # fmt: skip
        encoders[model.name] = encoder
        predictions[model.name] = encoder.predict(features[key])
        shown[model.name] = features[key][:ATTENTION_IMAGES]
    return encoders, predictions, shown


def format_table(run: Run, scores: Sequence[str] = ("nnr2", "true_r2")) -> str:
    """A text table of ``run``: one row per ROI, one column per (model, score)."""
    columns = [(m.name, s, m.scores[s]) for m in run.models for s in scores if s in m.scores]
    width = max([22, *(len(f"{name} {s}") for name, s, _ in columns)])
    head = f"{'ROI':<6}{'n':>6}  " + "  ".join(f"{f'{n} {s}':>{width}}" for n, s, _ in columns)
    lines = [head, "-" * len(head)]
    for roi, size in run.rois.items():
        cells = "  ".join(f"{_number(values.get(roi)):>{width}}" for *_, values in columns)
        lines.append(f"{roi:<6}{size:>6}  {cells}")
    return "\n".join(lines)


def format_seconds(run: Run) -> str:
    """The run's stage times in one line: ``"stages: simulate 2 s · features[gabor] 31 s · …"``."""
    seconds = run.info.get("seconds", {})
    return "stages: " + " · ".join(f"{k} {v:.0f} s" for k, v in seconds.items())


def _finite(value: float) -> float | None:
    """``value``, or None for NaN (JSON has no NaN)."""
    return None if value != value else value


def _number(value) -> str:
    return "-" if value is None or value != value else f"{value:.3f}"
