"""draw_standard_maps: which maps a run gets, drawn into its folder (here in a volume space)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from brainenc.data import BrainData, Space
from brainenc.encoders import LinearEncoder
from brainenc.maps import draw_standard_maps
from brainenc.maps.kinds import COMPARISON_PERCENTILE


@pytest.fixture(scope="module")
def volume_world(world_data):
    """The world subject's ROI vertices (and the truth) placed in a small voxel grid."""
    d = world_data
    keep = np.flatnonzero(np.any(list(d.rois.values()), axis=0))
    mask = np.zeros(12 * 12 * 10, bool)
    mask[: len(keep)] = True
    space = Space("func1pt8mm", len(keep), mask=mask.reshape(12, 12, 10), affine=np.eye(4) * 2)
    truth = dict(d.truth)
    truth.update({k: d.truth[k][..., keep] for k in ("noise_ceiling", "test_signal")})
    return BrainData(
        responses=d.responses[:, keep],
        images=d.images,
        train=d.train,
        test=d.test,
        space=space,
        rois={name: mask[keep] for name, mask in d.rois.items()},
        noise_ceiling=d.noise_ceiling[keep],
        repeats=d.repeats[..., keep],
        meta=d.meta,
        truth=truth,
    )


def test_a_run_gets_data_model_and_comparison_maps(volume_world, tmp_path):
    d = volume_world
    rng = np.random.default_rng(0)
    features = {
        "labels": np.eye(5)[d.truth["labels"]],  # the images' categories: a good model
        "noise": rng.standard_normal((d.n_images, 5)),  # nothing about the images
    }
    encoders = {
        name: LinearEncoder().fit(x[d.train], d.rows(d.train)) for name, x in features.items()
    }
    predictions = {name: encoders[name].predict(x[d.test]) for name, x in features.items()}
    entries = draw_standard_maps(d, tmp_path, encoders, predictions, min_ceiling=0.2)
    names = [e["file"] for e in entries]
    assert names == [
        f"maps/{n}.png"
        for n in (
            "rois", "noise_ceiling", "noise_ceiling_true", "preference_truth",
            "nnr2_labels", "alpha_labels", "preference_labels",
            "nnr2_noise", "alpha_noise", "preference_noise",
            "compare_labels_noise",
        )
    ]  # fmt: skip
    for entry in entries:
        with Image.open(tmp_path / entry["file"]) as image:
            assert image.format == "PNG" and image.size[0] > 500
        assert "interactive" not in entry  # volume maps have no 3-D view
    titles = {e["file"]: e["title"] for e in entries}
    assert titles["maps/compare_labels_noise.png"] == "labels − noise (noise ceiling > 0.2)"
    assert (
        titles["maps/nnr2_labels.png"] == "labels: noise-normalised test r² (noise ceiling > 0.2)"
    )
    assert titles["maps/rois.png"] == "regions of interest"


def test_the_comparison_range_comes_from_reliable_targets_only(volume_world, tmp_path, monkeypatch):
    from brainenc.maps import standard

    drawn = {}
    monkeypatch.setattr(standard, "draw_map", lambda m, data, run_dir, name, **kw: drawn.update(
        {name: m}) or {"file": name, "title": m.title})  # fmt: skip
    d = volume_world
    rng = np.random.default_rng(1)
    encoders, predictions = {}, {}
    for name in ("a", "b"):
        x = rng.standard_normal((d.n_images, 5))
        encoders[name] = LinearEncoder().fit(x[d.train], d.rows(d.train))
        predictions[name] = encoders[name].predict(x[d.test])
    draw_standard_maps(d, tmp_path, encoders, predictions, min_ceiling=0.2)
    reliable = d.noise_ceiling > 0.2
    assert not reliable.all()
    difference = np.abs(drawn["nnr2_a"].values - drawn["nnr2_b"].values)[reliable]
    bound = np.percentile(difference[np.isfinite(difference)], COMPARISON_PERCENTILE)
    assert drawn["compare_a_b"].vmax == pytest.approx(bound)
    assert np.isnan(drawn["compare_a_b"].values[~reliable]).all()


def test_models_must_match_and_data_need_a_noise_ceiling(volume_world, tmp_path):
    with pytest.raises(ValueError, match=r"encoders \['a'\] and predictions \['b'\] must name"):
        draw_standard_maps(volume_world, tmp_path, {"a": None}, {"b": None})
    d = volume_world
    no_ceiling = BrainData(d.responses, d.images, d.train, d.test, d.space)
    with pytest.raises(ValueError, match="need the data's noise ceiling"):
        draw_standard_maps(no_ceiling, tmp_path, {}, {})
