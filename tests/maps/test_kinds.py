"""Map kinds: the values and styles they compute, and CorticalMap's checks and thresholding."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_rgba

from brainenc.maps import (
    ROI_COLORS,
    CorticalMap,
    accuracy_map,
    alpha_map,
    comparison_map,
    noise_ceiling_map,
    preference_map,
    roi_map,
)
from brainenc.maps.kinds import ALPHA_CMAP, COMPARISON_PERCENTILE
from brainenc.metrics import noise_normalized_r2


def test_accuracy_scores():
    r = np.array([0.5, -0.2, 0.8, np.nan])
    nc = np.array([0.5, 0.5, 0.0, 0.5])
    assert np.array_equal(accuracy_map(r, score="r").values, r, equal_nan=True)
    np.testing.assert_allclose(accuracy_map(r, score="r2").values[:3], [0.25, 0.0, 0.64])
    nnr2 = accuracy_map(r, noise_ceiling=nc, model="gabor")
    np.testing.assert_array_equal(nnr2.values, noise_normalized_r2(r, nc))
    assert nnr2.title == "gabor: noise-normalised test r²"
    assert "fraction of explainable variance" in nnr2.colorbar_label
    assert (nnr2.vmin, nnr2.vmax) == (0.0, 1.0)
    with pytest.raises(ValueError, match="needs noise_ceiling="):
        accuracy_map(r, score="nnr2")
    with pytest.raises(
        ValueError, match=r"unknown score 'R2'; choose one of \['nnr2', 'r', 'r2'\]"
    ):
        accuracy_map(r, score="R2")


def test_noise_ceiling_and_alpha_maps():
    nc = noise_ceiling_map(np.array([0.1, 0.9]), source="true")
    assert nc.title == "noise ceiling (true)" and nc.colour_range() == (0.0, 1.0)
    alphas = alpha_map(np.array([1e-2, 1e3, np.nan]), alphas=np.logspace(-2, 8, 11))
    np.testing.assert_allclose(alphas.values[:2], [-2.0, 3.0])
    assert np.isnan(alphas.values[2]) and alphas.colour_range() == (-2.0, 8.0)
    assert alpha_map(np.array([10.0, 1000.0])).colour_range() == (1.0, 3.0)
    with pytest.raises(ValueError, match=r"alphas must be positive; got 0\.0"):
        alpha_map(np.array([1.0, 0.0]))


def test_no_alpha_colour_looks_like_the_grey_cortex_behind_it():
    colours = alpha_map(np.array([10.0, 1000.0])).colormap()(np.linspace(0, 1, 256))[:, :3]
    chroma = colours.max(axis=1) - colours.min(axis=1)  # 0 for greys
    assert alpha_map(np.array([1.0])).cmap == ALPHA_CMAP and chroma.min() > 0.3


def test_preference_is_the_category_with_the_highest_mean_prediction():
    labels = np.array([0, 0, 1, 1, 2])
    predictions = np.array(
        [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 5.0]]
    )
    predictions = np.column_stack([predictions, np.full(5, np.nan)])
    preferred = preference_map(predictions, labels, ["face", "body", "place"])
    np.testing.assert_array_equal(preferred.values, [0.0, 1.0, 2.0, np.nan])
    assert preferred.categories == ("face", "body", "place")
    with pytest.raises(ValueError, match=r"cover each of them; counts per label: \[2, 2, 1, 0\]"):
        preference_map(predictions, labels, ["face", "body", "place", "word"])


def test_preference_of_the_true_signal_matches_the_worlds_category_rois(world_data):
    d = world_data
    labels, categories = d.truth["labels"][d.test], list(d.truth["categories"])
    preferred = preference_map(d.truth["test_signal"], labels, categories).values
    for roi, category in [("FFA", "face"), ("EBA", "body"), ("PPA", "place"), ("food", "food")]:
        assert np.mean(preferred[d.roi(roi)] == categories.index(category)) > 0.8, roi


def test_comparison_is_centred_on_zero():
    a, b = np.array([1.0, 0.5, np.nan]), np.array([0.0, 1.5, 0.2])
    diff = comparison_map(a, b, names=("clip", "gabor"), score="nnr²")
    np.testing.assert_array_equal(diff.values, a - b)
    assert diff.colour_range() == (-1.0, 1.0)
    assert diff.title == "clip − gabor" and diff.colorbar_label == "nnr²: clip − gabor"
    assert comparison_map(a, a).colour_range() == (-1.0, 1.0)  # all zero: still a range
    with pytest.raises(ValueError, match=r"a has shape \(3,\) but b has \(2,\)"):
        comparison_map(a, b[:2])


def test_comparison_range_is_the_symmetric_percentile_of_the_differences():
    rng = np.random.default_rng(0)
    difference = rng.normal(0.1, 0.05, 1000)
    difference[:5] = [1.5, -1.4, 1.2, 1.3, -1.5]  # a few unreliable targets
    diff = comparison_map(difference, np.zeros_like(difference))
    bound = np.percentile(np.abs(difference), COMPARISON_PERCENTILE)
    assert diff.colour_range() == (-bound, bound)
    assert bound < 0.3  # the bulk of the differences spans the colours, not the outliers
    one_differs = np.zeros(100)
    one_differs[0] = 2.0
    assert comparison_map(one_differs, np.zeros(100)).colour_range() == (-2.0, 2.0)  # not ±0


def test_roi_map_colours_each_roi_and_the_smallest_wins():
    stream = np.array([True, True, True, False])
    v1 = np.array([False, True, False, False])
    rois = {"V1": v1, "early": stream}
    m = roi_map(rois)
    np.testing.assert_array_equal(m.values, [1.0, 0.0, 1.0, np.nan])
    assert m.categories == ("V1", "early")
    assert m.colormap()(0) == to_rgba(ROI_COLORS[0]) and m.colormap()(1) == to_rgba(ROI_COLORS[1])
    with pytest.raises(ValueError, match="at least one ROI"):
        roi_map({})


def test_where_hides_targets_and_says_why():
    m = CorticalMap(np.array([1.0, 2.0, 3.0]), title="x")
    shown = m.where(np.array([True, False, True]), "noise ceiling > 0.1")
    np.testing.assert_array_equal(shown.values, [1.0, np.nan, 3.0])
    assert shown.title == "x (noise ceiling > 0.1)"
    with pytest.raises(ValueError, match=r"boolean mask of shape \(3,\).*int64 \(3,\)"):
        m.where(np.array([1, 0, 1]), "x")


def test_categorical_values_must_be_category_indices():
    with pytest.raises(ValueError, match=r"indices in \[0, 2\) or NaN; got 2\.0"):
        CorticalMap(np.array([0.0, 2.0]), categories=("a", "b"))
    with pytest.raises(ValueError, match=r"indices in \[0, 2\) or NaN; got 0\.5"):
        CorticalMap(np.array([0.5, np.nan]), categories=("a", "b"))
    with pytest.raises(ValueError, match=r"1-D array\); got shape \(2, 2\)"):
        CorticalMap(np.zeros((2, 2)))


def test_restyle_overrides_only_what_is_given():
    m = noise_ceiling_map(np.array([0.2, 0.4]))
    restyled = m.restyle(title="NC", cmap=None, vmax=0.5)
    assert (restyled.title, restyled.cmap, restyled.vmin, restyled.vmax) == (
        "NC",
        "viridis",
        0.0,
        0.5,
    )
