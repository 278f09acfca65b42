"""Map kinds: functions that turn results into a :class:`CorticalMap` with a fitting style.

Each kind computes one value per target and picks the colormap, colour range and labelled units
that suit it. A new kind (per-vertex caption words, routing attention, ...) is one more function
returning a :class:`CorticalMap`; the drawing functions need no change. Thresholding by noise
ceiling is :meth:`CorticalMap.where`: ``m.where(data.noise_ceiling > 0.1, "noise ceiling > 0.1")``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.colors import ListedColormap

from ..features.backbone import token_grid_side
from ..metrics import noise_normalized_r2
from .cortical_map import CATEGORY_CMAP, ROI_COLORS, CorticalMap

#: Accuracy scores of :func:`accuracy_map`: title and colour-bar label of each.
SCORES = {
    "r": ("test r", "Pearson r of predicted and measured test responses"),
    "r2": ("test r²", "r² (squared test-set Pearson r; negative r counts as 0)"),
    "nnr2": ("noise-normalised test r²", "noise-normalised r² (fraction of explainable variance)"),
}

#: Percentile of the absolute differences that bounds the colour range of :func:`comparison_map`.
COMPARISON_PERCENTILE = 98.0
#: Colormap of :func:`alpha_map`: no grey anywhere along it, so that no alpha looks like the
#: cortex behind the map (cividis, the earlier choice, is grey in the middle).
ALPHA_CMAP = "plasma"


def _named(title: str, model: str | None) -> str:
    return f"{model}: {title}" if model else title


def accuracy_map(
    r, *, score: str = "nnr2", noise_ceiling=None, model: str | None = None
) -> CorticalMap:
    """Prediction accuracy of an encoder on held-out images.

    Parameters
    ----------
    r : array of shape (n_targets,)
        Pearson correlation of each target's predicted and measured test responses.
    score : {"r", "r2", "nnr2"}
        ``"r"``; ``"r2"``, r² with negative r counted as 0; or ``"nnr2"``, that r² divided by the
        noise ceiling (:func:`brainenc.metrics.noise_normalized_r2`).
    noise_ceiling : array of shape (n_targets,), optional
        Needed for ``"nnr2"``; targets with a ceiling of 0 are missing.
    model : str, optional
        Named in the title.

    Returns
    -------
    CorticalMap
        Colour range 0-1 (inferno); values beyond it take the end colours.
    """
    if score not in SCORES:
        raise ValueError(f"unknown score {score!r}; choose one of {sorted(SCORES)}")
    r = np.asarray(r, dtype=float)
    if score == "r":
        values = r
    elif score == "r2":
        values = np.clip(r, 0, None) ** 2
    elif noise_ceiling is None:
        raise ValueError("score='nnr2' needs noise_ceiling= (e.g. data.noise_ceiling)")
    else:
        values = noise_normalized_r2(r, noise_ceiling)
    title, label = SCORES[score]
    return CorticalMap(values, title=_named(title, model), colorbar_label=label, vmin=0.0, vmax=1.0)


def noise_ceiling_map(noise_ceiling, *, source: str = "estimated") -> CorticalMap:
    """The noise ceiling: the fraction of the response variance that the stimulus drives.

    Parameters
    ----------
    noise_ceiling : array of shape (n_targets,)
        Values in 0-1 (``data.noise_ceiling``; ``data.truth["noise_ceiling"]`` for simulations).
    source : str
        How it was obtained (``"estimated"``, ``"true"``), named in the title.
    """
    return CorticalMap(
        noise_ceiling,
        title=f"noise ceiling ({source})",
        colorbar_label="noise ceiling (fraction of variance)",
        cmap="viridis",
        vmin=0.0,
        vmax=1.0,
    )


def alpha_map(best_alphas, *, alphas=None, model: str | None = None) -> CorticalMap:
    """The ridge regularisation chosen for each target, on a log scale.

    Parameters
    ----------
    best_alphas : array of shape (n_targets,)
        Chosen alpha of each target (``LinearEncoder.best_alphas_``); NaN for unfitted targets.
    alphas : array of shape (n_alphas,), optional
        The candidate grid (``LinearEncoder.alphas``): the colour range spans it, so that
        targets stuck at an end of the grid show. Default: the range of ``best_alphas``.
    model : str, optional
        Named in the title.
    """
    best = np.asarray(best_alphas, dtype=float)
    if (best <= 0).any():
        raise ValueError(f"ridge alphas must be positive; got {float(best[best <= 0][0])}")
    grid = np.log10(np.asarray(alphas, dtype=float)) if alphas is not None else None
    return CorticalMap(
        np.log10(best),
        title=_named("chosen ridge alpha", model),
        colorbar_label="log₁₀ ridge alpha",
        cmap=ALPHA_CMAP,
        vmin=None if grid is None else float(grid.min()),
        vmax=None if grid is None else float(grid.max()),
    )


def preference_map(
    predictions, labels, categories: Sequence[str], *, model: str | None = None
) -> CorticalMap:
    """Category preference: each target coloured by the category it is predicted to prefer.

    The BrainDiVE / BrainSCUBA style map: the preferred category of a target is the one whose
    images get the highest mean predicted response.

    Parameters
    ----------
    predictions : array of shape (n_images, n_targets)
        Predicted responses to a set of images (e.g. the test images).
    labels : int array of shape (n_images,)
        Category of each image, an index into ``categories``.
    categories : sequence of str
        Category names; every category needs at least one image.
    model : str, optional
        Named in the title.

    Returns
    -------
    CorticalMap
        Categorical; targets whose predictions are not finite are missing.
    """
    predictions = np.asarray(predictions, dtype=float)
    labels = np.asarray(labels)
    categories = tuple(categories)
    if predictions.ndim != 2 or labels.shape != (predictions.shape[0],):
        raise ValueError(
            f"predictions has shape {predictions.shape} and labels {labels.shape}; give "
            "predictions of shape (n_images, n_targets) and one label per image"
        )
    counts = np.bincount(labels, minlength=len(categories)) if labels.size else np.zeros(0)
    if len(counts) != len(categories) or (counts == 0).any():
        raise ValueError(
            f"labels must index categories {categories} and cover each of them; counts per "
            f"label: {counts.tolist()}"
        )
    means = np.stack([predictions[labels == i].mean(axis=0) for i in range(len(categories))])
    values = np.where(np.isfinite(means).all(axis=0), np.argmax(means, axis=0), np.nan)
    return CorticalMap(
        values,
        title=_named("preferred category", model),
        colorbar_label="category with the highest mean predicted response",
        cmap=CATEGORY_CMAP,
        categories=categories,
    )


def comparison_map(
    a, b, *, names: tuple[str, str] = ("A", "B"), score: str = "score"
) -> CorticalMap:
    """Model comparison: ``a - b`` per target on a diverging colormap centred at 0.

    Parameters
    ----------
    a, b : array of shape (n_targets,)
        The same score of two models.
    names : (str, str)
        The two models, for the title and label.
    score : str
        What was compared, with units (``"noise-normalised r²"``).

    Returns
    -------
    CorticalMap
        Red where ``a`` is higher, blue where ``b`` is. The range is symmetric about 0 and
        spans the :data:`COMPARISON_PERCENTILE` th percentile of the absolute differences, so
        that a few extreme targets do not wash out the others; larger differences take the end
        colours (the colour bar's arrows).
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"a has shape {a.shape} but b has {b.shape}; compare the same targets")
    difference = a - b
    finite = np.abs(difference[np.isfinite(difference)])
    bound = float(np.percentile(finite, COMPARISON_PERCENTILE)) if finite.size else 0.0
    if bound == 0:  # (nearly) all equal: fall back to the largest difference, or to 1
        bound = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    return CorticalMap(
        difference,
        title=f"{names[0]} − {names[1]}",
        colorbar_label=f"{score}: {names[0]} − {names[1]}",
        cmap="RdBu_r",
        vmin=-bound,
        vmax=bound,
    )


def roi_map(rois: Mapping[str, np.ndarray]) -> CorticalMap:
    """The regions of interest, each filled with its colour (:data:`ROI_COLORS`).

    Parameters
    ----------
    rois : dict of str to bool array of shape (n_targets,)
        A target in several regions shows the smallest of them (V1v rather than V1, V1 rather
        than a whole stream); targets in none are missing.
    """
    if not rois:
        raise ValueError("roi_map needs at least one ROI; this dataset has none")
    names = tuple(rois)
    masks = [np.asarray(rois[name], dtype=bool) for name in names]
    values = np.full(len(masks[0]), np.nan)
    for i in sorted(range(len(names)), key=lambda i: -masks[i].sum()):  # largest first
        values[masks[i]] = i
    colors = [ROI_COLORS[i % len(ROI_COLORS)] for i in range(len(names))]
    return CorticalMap(
        values,
        title="regions of interest",
        colorbar_label="region",
        cmap=ListedColormap(colors, name="rois"),
        categories=names,
    )


def caption_noun_map(
    nouns: Sequence[str | None], *, labels: Sequence[str] | None = None, model: str | None = None
) -> CorticalMap:
    """BrainSCUBA's word map: each target coloured by the dominant noun of its caption.

    Parameters
    ----------
    nouns : sequence of str or None, one per target
        The label of each target's caption's dominant noun
        (:func:`~brainenc.captions.dominant_noun`); ``None`` for targets not captioned or
        whose caption has no noun of the lexicon (missing on the map).
    labels : sequence of str, optional
        The categories in a fixed order (e.g. a lexicon's labels), so that a noun keeps its
        colour across maps; labels no target has are kept. By default the nouns present, most
        frequent first.
    model : str, optional
        Named in the title.

    Returns
    -------
    CorticalMap
        Categorical, one category per label.
    """
    nouns = list(nouns)
    counts: dict[str, int] = {}
    for noun in nouns:
        if noun is not None:
            counts[str(noun)] = counts.get(str(noun), 0) + 1
    if not counts:
        raise ValueError("no target has a dominant noun; caption more targets or widen the lexicon")
    if labels is None:
        labels = sorted(counts, key=lambda n: (-counts[n], n))
    labels = tuple(labels)
    unknown = sorted(set(counts) - set(labels))
    if unknown:
        raise ValueError(f"nouns {unknown} are not among labels {list(labels)}")
    index = {n: i for i, n in enumerate(labels)}
    values = np.array([np.nan if n is None else index[str(n)] for n in nouns], dtype=float)
    return CorticalMap(
        values,
        title=_named("dominant noun of each vertex's caption", model),
        colorbar_label="noun",
        cmap=CATEGORY_CMAP,
        categories=labels,
    )


#: What :func:`attention_map` can show: title, colour-bar label, colormap and colour range.
ATTENTION_SUMMARIES = {
    "x": ("attention centre, left to right", "horizontal centre of attention (image widths, "
          "0 = middle)", "RdBu_r", (-0.5, 0.5)),
    "y": ("attention centre, top to bottom", "vertical centre of attention (image heights, "
          "0 = middle)", "RdBu_r", (-0.5, 0.5)),
    "focus": ("attention focus", "1 - entropy / log(n tokens): 0 spread evenly, 1 on one token",
              "viridis", (0.0, 1.0)),
}  # fmt: skip


def attention_map(attention, query_of_target, what: str = "x", *,
                  model: str | None = None) -> CorticalMap:  # fmt: skip
    """Where each target's query looks (an attention-routing encoder), summarised per target.

    Parameters
    ----------
    attention : array of shape (n_queries, n_tokens)
        Each query's attention over a square token grid in row-major order (rows top-down),
        e.g. averaged over images (``RoutingEncoder.mean_attention_``).
    query_of_target : int array of shape (n_targets,)
        The query each target reads (``RoutingEncoder.query_``).
    what : {"x", "y", "focus"}
        The attention's centre across the image (left to right, or top to bottom, in image
        widths from the middle) or its focus (one minus its normalised entropy).
    model : str, optional
        Named in the title.
    """
    if what not in ATTENTION_SUMMARIES:
        raise ValueError(f"what must be one of {', '.join(ATTENTION_SUMMARIES)}; got {what!r}")
    attention = np.asarray(attention, dtype=float)
    if attention.ndim != 2:
        raise ValueError(
            f"attention must have shape (n_queries, n_tokens) over a square token grid; got "
            f"{attention.shape}"
        )
    side = token_grid_side(attention.shape[1])
    attention = attention / attention.sum(1, keepdims=True)
    centres = (np.arange(side) + 0.5) / side - 0.5
    if what == "focus":
        entropy = -(attention * np.log(np.clip(attention, 1e-12, None))).sum(1)
        per_query = (
            1.0 - entropy / np.log(attention.shape[1]) if side > 1 else np.ones(len(attention))
        )
    else:
        grid = attention.reshape(-1, side, side)
        per_query = (grid.sum(1 if what == "x" else 2) * centres).sum(1)
    title, label, cmap, (vmin, vmax) = ATTENTION_SUMMARIES[what]
    return CorticalMap(per_query[np.asarray(query_of_target)], title=_named(title, model),
                       colorbar_label=label, cmap=cmap, vmin=vmin, vmax=vmax)  # fmt: skip
