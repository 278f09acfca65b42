"""Fixtures for the feature tests: the default Gabor backbone and a sinusoidal grating maker."""

from __future__ import annotations

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
