"""``draw_standard_maps``: the maps every fitted run gets, drawn into its results folder."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..data.brain_data import BrainData
from ..encoders import Encoder
from ..metrics import pearson_r
from ..run import MAPS, file_name
from . import kinds
from .run_dir import draw_map

#: Views of the categorical maps (ROIs, category preference), whose detail the flat map shows.
ALL_VIEWS = ("lateral", "medial", "ventral", "flat")


def draw_standard_maps(
    data: BrainData,
    run_dir: str | os.PathLike,
    encoders: Mapping[str, Encoder],
    predictions: Mapping[str, np.ndarray],
    *,
    min_ceiling: float = 0.1,
    reference=None,
    features: Mapping[str, np.ndarray] | None = None,
    progress: bool = False,
) -> list[dict]:
    """Draw a run's maps into ``<run_dir>/maps/`` and return their ``summary.json`` entries.

    Drawn, when what they need is there:

    - the ROIs, and the noise ceiling (estimated; also the true one of simulated data);
    - the true category preference, when ``data.truth`` has the noiseless ``test_signal`` and
      the image ``labels`` and ``categories`` (the in-silico world);
    - per model: noise-normalised test r² (with an interactive view on surfaces), the maps
      the encoder draws of what it learned (:meth:`~brainenc.encoders.Encoder.cortical_maps`,
      e.g. the linear encoder's ridge alphas), and the predicted category preference (when the
      image labels are known);
    - each further model compared with the first (A − B noise-normalised r²).

    Every per-target map but the ROIs and noise ceilings is shown only where the estimated noise
    ceiling exceeds ``min_ceiling``.

    Parameters
    ----------
    data : BrainData
        With a noise ceiling.
    run_dir : path
        The results folder.
    encoders : dict of str to Encoder
        Fitted encoders by model name (:attr:`brainenc.run.ModelResult.name`), in the order to
        draw them.
    predictions : dict of str to array of shape (len(data.test), n_targets)
        Each model's predictions of the test images, in ``data.test`` order.
    min_ceiling : float
        Noise-ceiling threshold of the per-target maps.
    reference : path or nibabel image, optional
        Background of volume maps (see :func:`~brainenc.maps.plot_volume`).
    features : dict of str to array, optional
        Per model, its features of the first few test images (in ``data.test`` order), for
        the attention figures.
    progress : bool
        A progress bar naming each map as it is drawn.

    Returns
    -------
    list of dict
        The entries for ``summary.json``'s ``"maps"``, in drawing order.
    """
    if data.noise_ceiling is None:
        raise ValueError(
            "the standard maps need the data's noise ceiling; this dataset has none (it needs "
            "repeated test images)"
        )
    if list(encoders) != list(predictions):
        raise ValueError(
            f"encoders {list(encoders)} and predictions {list(predictions)} must name the same "
            "models in the same order"
        )
    reliable = data.noise_ceiling > min_ceiling
    why = f"noise ceiling > {min_ceiling}"
    truth = data.truth
    labelled = "labels" in truth and "categories" in truth

    bar = tqdm(desc="maps", unit="map", disable=not progress)

    def draw(cortical_map, name, **options):
        bar.set_postfix_str(name)
        entry = draw_map(cortical_map, data, run_dir, name, reference=reference, **options)
        bar.update(1)
        return entry

    entries = []
    if data.rois:
        entries.append(draw(kinds.roi_map(data.rois), "rois", views=ALL_VIEWS))
    entries.append(draw(kinds.noise_ceiling_map(data.noise_ceiling), "noise_ceiling"))
    if "noise_ceiling" in truth:
        true_ceiling = kinds.noise_ceiling_map(truth["noise_ceiling"], source="true")
        entries.append(draw(true_ceiling, "noise_ceiling_true"))
    if labelled:
        labels, categories = truth["labels"][data.test], truth["categories"]
    if labelled and "test_signal" in truth:
        preferred = kinds.preference_map(truth["test_signal"], labels, categories, model="truth")
        entries.append(draw(preferred.where(reliable, why), "preference_truth", views=ALL_VIEWS))

    nnr2 = {}
    for model, encoder in encoders.items():
        name = file_name(model)
        r = pearson_r(data.rows(data.test), predictions[model])
        accuracy = kinds.accuracy_map(r, noise_ceiling=data.noise_ceiling, model=model)
        nnr2[model] = accuracy.values
        entries.append(draw(accuracy.where(reliable, why), f"nnr2_{name}", interactive=True))
        for stem, learned in encoder.cortical_maps(model).items():
            entries.append(draw(learned.where(reliable, why), f"{stem}_{name}"))
        if labelled:
            preferred = kinds.preference_map(predictions[model], labels, categories, model=model)
            entries.append(
                draw(preferred.where(reliable, why), f"preference_{name}", views=ALL_VIEWS)
            )
        if features is not None and model in features:
            entry = _draw_attention(encoder, features[model], data, run_dir, model, reliable)
            if entry is not None:
                entries.append(entry)
                bar.update(1)
    first, *others = list(encoders) or [None]
    for model in others:
        # Unreliable targets are dropped before comparing: their huge ratios (r² over a ceiling
        # near 0) would otherwise set the colour range and wash out the reliable ones.
        a, b = (np.where(reliable, nnr2[m], np.nan) for m in (first, model))
        difference = kinds.comparison_map(a, b, names=(first, model), score="noise-normalised r²")
        shown = difference.where(reliable, why)
        entries.append(draw(shown, f"compare_{file_name(first)}_{file_name(model)}"))
    bar.close()
    return entries


def _draw_attention(encoder: Encoder, features, data: BrainData, run_dir, model: str,
                    reliable) -> dict | None:  # fmt: skip
    """Where each ROI looks in the first test images, for an encoder that routes attention."""
    from .attention import plot_attention

    attention = {}
    for roi, mask in data.rois.items():
        targets = mask & reliable if (mask & reliable).any() else mask
        try:
            attention[roi] = encoder.attention(features, targets)
        except NotImplementedError:
            return None
    if not attention:
        return None
    images = data.images[np.asarray(data.test)[: len(features)]]
    png = Path(MAPS) / f"attention_{file_name(model)}.png"
    title = f"{model}: where each ROI looks (attention over the backbone's tokens)"
    plot_attention(images, attention, title=title, out=Path(run_dir) / png)
    return {"file": png.as_posix(), "title": title}
