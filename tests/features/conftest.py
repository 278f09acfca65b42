"""Fixtures for the feature tests: the default Gabor backbone, a sinusoidal grating maker and tiny
open_clip models built from custom configs."""

from __future__ import annotations

import json
import math

import pytest
import torch

from brainenc.features import GaborPyramid


@pytest.fixture(scope="session")
def gabor() -> GaborPyramid:
    return GaborPyramid()


@pytest.fixture(scope="session")
def grating():
    """``grating(wavelength, theta, phase=0, contrast=1, size=64)`` -> float image (3, size, size).

    Luminance ``0.5 + 0.5 * contrast * cos(k (cos(theta) x + sin(theta) y) + phase)``, x along
    columns and y along rows (the GaborPyramid orientation convention).
    """

    def make(wavelength, theta, phase=0.0, contrast=1.0, size=64):
        y, x = torch.meshgrid(
            torch.arange(size, dtype=torch.float64),
            torch.arange(size, dtype=torch.float64),
            indexing="ij",
        )
        k = 2 * math.pi / wavelength
        wave = torch.cos(k * (math.cos(theta) * x + math.sin(theta) * y) + phase)
        return (0.5 + 0.5 * contrast * wave).float().expand(3, size, size).clone()

    return make


TINY_VIT = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 64, "layers": 2, "head_width": 32},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
"""A real open_clip CLIP architecture, tiny: ViT 32 px / patch 8 (16 patches), CLIP BPE vocab."""


@pytest.fixture(scope="session")
def tiny_clip_configs(tmp_path_factory) -> dict[str, dict]:
    """Registers open_clip models ``tiny-test`` (32 px), ``tiny-test-48`` (48 px, 36 patches) and
    ``tiny-test-rn`` (a ModifiedResNet image tower); returns name -> config."""
    from brainenc.features import register_model_config

    vit48 = {**TINY_VIT, "vision_cfg": {**TINY_VIT["vision_cfg"], "image_size": 48}}
    resnet = {**TINY_VIT, "vision_cfg": {"image_size": 32, "layers": [1, 1, 1, 1], "width": 8}}
    configs = {"tiny-test": TINY_VIT, "tiny-test-48": vit48, "tiny-test-rn": resnet}
    folder = tmp_path_factory.mktemp("open_clip_configs")
    for name, cfg in configs.items():
        (folder / f"{name}.json").write_text(json.dumps(cfg))
    assert sorted(register_model_config(folder)) == sorted(configs)
    return configs


@pytest.fixture(scope="session")
def tiny_clip(tiny_clip_configs):
    """``open_clip:tiny-test``: the tiny ViT CLIP with its seeded random weights."""
    from brainenc.features import Backbone

    return Backbone.from_spec("open_clip:tiny-test")
