"""Scoring and saving synthesized images."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from brainenc.data.images import to_tensor
from brainenc.features import Backbone
from brainenc.synthesis.evaluate import image_grid, save_synthesis, zero_shot, zero_shot_judge
from brainenc.world import CATEGORIES, generate_stimuli
from brainenc.world.clip import CHECKPOINT


def test_grid_layout_and_saved_files(tmp_path):
    images = generate_stimuli(10).images[:]
    grid = image_grid(images, [f"img {i}\nline" for i in range(10)], columns=4, scale=2)
    assert grid.size == (4 * 128, 3 * (128 + 24 + 4))
    png, js = save_synthesis(tmp_path / "syn", "FFA", grid, {"a": 1})
    assert Image.open(png).size == grid.size and json.loads(js.read_text()) == {"a": 1}
    assert sorted(p.name for p in (tmp_path / "syn").iterdir()) == ["FFA.json", "FFA.png"]
    save_synthesis(
        tmp_path / "syn", "PPA", grid, {}, {"guided": images[:3], "unguided": images[3:5]}
    )
    files = sorted(p.name for p in (tmp_path / "syn" / "PPA").iterdir())
    assert files == ["guided.npy", "guided_000.png", "guided_001.png", "guided_002.png",
                     "unguided.npy", "unguided_000.png", "unguided_001.png"]  # fmt: skip
    np.testing.assert_array_equal(np.load(tmp_path / "syn" / "PPA" / "guided.npy"), images[:3])
    np.testing.assert_array_equal(
        np.asarray(Image.open(tmp_path / "syn" / "PPA" / "unguided_001.png")), images[4]
    )


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
