"""Scoring and saving synthesized images."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from brainenc.data.images import to_tensor
from brainenc.features import Backbone
from brainenc.synthesis.evaluate import (
    comparison_grid,
    image_grid,
    save_synthesis,
    zero_shot,
    zero_shot_judge,
)
from brainenc.world import CATEGORIES, generate_stimuli
from brainenc.world.clip import CHECKPOINT


def test_grid_layout_and_saved_files(tmp_path):
    images = generate_stimuli(10).images[:]
    grid = image_grid(images, [f"img {i}\nline" for i in range(10)], columns=4, scale=2)
    assert grid.size == (4 * 128, 3 * (128 + 24 + 4))
    png, js = save_synthesis(tmp_path / "syn", "FFA", grid, {"a": 1})
    with Image.open(png) as saved:
        assert saved.size == grid.size and json.loads(js.read_text()) == {"a": 1}
    assert sorted(p.name for p in (tmp_path / "syn").iterdir()) == ["FFA.json", "FFA.png"]
    save_synthesis(
        tmp_path / "syn", "PPA", grid, {}, {"guided": images[:3], "unguided": images[3:5]}
    )
    files = sorted(p.name for p in (tmp_path / "syn" / "PPA").iterdir())
    assert files == ["guided.npy", "guided_000.png", "guided_001.png", "guided_002.png",
                     "unguided.npy", "unguided_000.png", "unguided_001.png"]  # fmt: skip
    np.testing.assert_array_equal(np.load(tmp_path / "syn" / "PPA" / "guided.npy"), images[:3])
    with Image.open(tmp_path / "syn" / "PPA" / "unguided_001.png") as saved:
        np.testing.assert_array_equal(np.asarray(saved), images[4])


def test_comparison_grid_has_a_title_row_labels_and_worded_captions():
    images = generate_stimuli(6).images[:]  # 64x64
    run = {"predicted": [0.5, 1.0, 1.5], "true": [0.1, 0.2, 0.3],
           "judged": {"judge": ["face", "body", "none"]}}  # fmt: skip
    summary = {"objective": "FFA", "judges": ["judge"], "guided": run, "unguided": run}
    grid = np.asarray(comparison_grid(summary, {"guided": images[:3], "unguided": images[3:]}))
    plain = image_grid(images, ["predicted 1.00\ntrue 1.00\njudged: face"] * 6, columns=3)
    top = grid.shape[0] - plain.height  # the title's band
    assert grid.shape[1] == plain.width + 80 and top > 3 * 14  # row labels; three title lines
    ink = grid.min(axis=-1) < 100
    assert ink[:top, 80:].any()
    cell = plain.height // 2
    for row in range(2):  # "guided", "unguided" beside their rows
        assert ink[top + row * cell : top + (row + 1) * cell, :80].sum() > 30


@pytest.mark.skipif(not CHECKPOINT.exists(), reason="world-clip checkpoint not built")
def test_zero_shot_on_world_images():
    stim = generate_stimuli(100, seed=21)
    labels, probs = zero_shot(to_tensor(stim.images[:]), Backbone.from_spec("world-clip"),
                              list(CATEGORIES))  # fmt: skip
    assert probs.shape == (100, 5)
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-5)
    assert np.mean(labels == stim.labels) >= 0.9
    judged = zero_shot_judge(Backbone.from_spec("world-clip"))(to_tensor(stim.images[:]))
    assert judged == [CATEGORIES[k] for k in labels]
