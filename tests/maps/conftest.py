"""Fixtures for the map tests: no network, the fsaverage5 space and its pial coordinates."""

from __future__ import annotations

import io
import socket

import numpy as np
import pytest
from PIL import Image

from brainenc.data.space import Space
from brainenc.maps import mesh


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Drawing maps must work offline: any connection attempt fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"a map test tried to open a network connection: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="session")
def fs5() -> Space:
    return Space.surface("fsaverage5")


@pytest.fixture(scope="session")
def coords() -> np.ndarray:
    """Pial coordinates of every fsaverage5 vertex, left hemisphere first: (20484, 3)."""
    pial = mesh("fsaverage5", "pial")
    return np.concatenate([pial.parts["left"].coordinates, pial.parts["right"].coordinates])


@pytest.fixture
def render():
    """``render(fig, dpi=40)`` -> the figure as an RGB uint8 array (H, W, 3), via PNG."""

    def _render(fig, dpi=40):
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
        return np.asarray(Image.open(buf).convert("RGB"))

    return _render
