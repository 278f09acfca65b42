"""view_surface: a standalone, offline HTML view; NaN vertices take the background colour."""

from __future__ import annotations

import json
import re
from html import unescape

import numpy as np
import pytest

from brainenc.maps import preference_map, view_surface


def _vertex_colours(html: str) -> list[str]:
    """The per-vertex colours nilearn embeds in the page (both hemispheres)."""
    page = unescape(html)  # the view sits in an iframe's srcdoc attribute
    start = page.index("var surfaceMapInfo = ") + len("var surfaceMapInfo = ")
    info, _ = json.JSONDecoder().raw_decode(page, start)
    return info["vertexcolor_both"]


def test_page_is_self_contained_and_nan_shows_the_background(fs5, coords, tmp_path):
    values = coords[:, 1].copy()
    values[coords[:, 2] > 20] = np.nan
    out = tmp_path / "views" / "y.html"
    view_surface(values, fs5, title="y", out=out)
    html = out.read_text()
    assert not re.search(r"<script[^>]+src=", html)  # every script is inline: works offline
    assert "Plotly" in html and [p.name for p in out.parent.iterdir()] == ["y.html"]
    colours = np.array(_vertex_colours(html))
    missing = np.isnan(values)
    one_vertex = np.full(fs5.n_targets, np.nan)
    one_vertex[np.argmin(missing)] = 0.0  # nilearn needs a value to scale by: a shown vertex
    background = np.array(_vertex_colours(view_surface(one_vertex, fs5).get_standalone()))
    assert (colours[missing] == background[missing]).all() and missing.sum() > 1000
    assert (colours[~missing] != background[~missing]).mean() > 0.95


def test_categorical_maps_are_refused(world_data):
    labels = world_data.truth["labels"][world_data.test]
    preferred = preference_map(world_data.truth["test_signal"], labels, ["a", "b", "c", "d", "e"])
    with pytest.raises(ValueError, match=r"is categorical\. Draw it with plot_surface"):
        view_surface(preferred, world_data)
