"""Encoders refuse what they cannot use: corrupt saved weights, wrong data, NaN, bad settings."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file, save_file

from brainenc.data import ArrayImages, BrainData, Space
from brainenc.encoders import BrainModel, LinearEncoder, load_encoder

N_IMAGES, N_FEATURES, N_TARGETS = 40, 6, 5


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N_IMAGES, N_FEATURES)).astype(np.float32)
    y = (x @ rng.standard_normal((N_FEATURES, N_TARGETS))).astype(np.float32)
    return x, y + 0.1 * rng.standard_normal(y.shape).astype(np.float32)


@pytest.fixture
def saved(tmp_path, data):
    """An encoder directory of subject 1 (as the demo and scripts save them)."""
    encoder = LinearEncoder(alphas=[0.1, 10.0], cv=4).fit(*data)
    return encoder.save(tmp_path / "enc", metadata={"dataset": "world", "subject": 1})


def _tamper(directory, config=None, **arrays):
    if config:
        path = directory / "config.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **config}))
    if arrays:
        weights = load_file(str(directory / "weights.safetensors"))
        save_file({**weights, **arrays}, str(directory / "weights.safetensors"))


def test_a_later_format_version_is_refused(saved):
    _tamper(saved, config={"format_version": 99})
    with pytest.raises(ValueError, match="format version 99; this brainenc reads up to 2"):
        load_encoder(saved)


def test_nan_weights_are_refused(saved):
    coef = load_file(str(saved / "weights.safetensors"))["coef"]
    coef[2, 3] = np.nan
    _tamper(saved, coef=coef)
    with pytest.raises(ValueError, match="predict NaN or inf for 1 fitted targets"):
        load_encoder(saved)


def test_arrays_that_disagree_with_the_config_or_each_other_are_refused(saved):
    intercept = np.zeros(N_TARGETS + 2, np.float32)
    _tamper(saved, intercept=intercept)
    with pytest.raises(ValueError, match=r"'intercept' has shape \[7\] but config.json says \[5\]"):
        load_encoder(saved)
    shapes = json.loads((saved / "config.json").read_text())["shapes"]
    _tamper(saved, config={"shapes": {**shapes, "intercept": [N_TARGETS + 2]}})
    with pytest.raises(ValueError, match="the arrays do not fit together"):
        load_encoder(saved)


class _Features(torch.nn.Module):
    def embed(self, images):
        return images.flatten(1)[:, :N_FEATURES]


def _brain_data(subject: int) -> BrainData:
    return BrainData(
        responses=np.zeros((4, N_TARGETS), np.float32),
        images=ArrayImages(np.zeros((4, 8, 8, 3), np.uint8)),
        train=np.arange(3),
        test=np.array([3]),
        space=Space("custom", N_TARGETS),
        rois={"FFA": np.arange(N_TARGETS) < 2},
        meta={"dataset": "world", "subject": subject},
    )


def test_brain_model_refuses_another_subjects_rois(saved):
    encoder = load_encoder(saved)
    assert BrainModel.from_encoder(_Features(), encoder, _brain_data(1)).rois
    with pytest.raises(ValueError, match="fitted on subject 1 but the data are subject 2"):
        BrainModel.from_encoder(_Features(), encoder, _brain_data(2))


def test_nan_features_are_refused_at_predict(data):
    x, y = data
    encoder = LinearEncoder(cv=4).fit(x, y)
    x = x.copy()
    x[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"NaN or inf in 1 images \(first rows: \[3\]"):
        encoder.predict(x)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"cv": N_IMAGES + 1}, f"cv={N_IMAGES + 1} folds for {N_IMAGES} images"),
        ({"cv": 1}, "cv=1 folds for"),
        ({"alphas": [1.0, np.inf]}, "alphas must be a non-empty list of positive finite"),
        ({"alphas": [1e40]}, "alphas must be a non-empty list of positive finite"),
    ],
)
def test_bad_settings_are_refused_before_fitting(data, params, message):
    with pytest.raises(ValueError, match=message):
        LinearEncoder(**params).fit(*data)


def test_saving_onto_a_file_is_refused(tmp_path, data):
    target = tmp_path / "results.txt"
    target.write_text("keep me")
    with pytest.raises(FileExistsError, match="is a file, not an encoder directory"):
        LinearEncoder(cv=4).fit(*data).save(target)
    assert target.read_text() == "keep me"
