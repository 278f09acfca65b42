"""Fixtures for the map tests: no network, the fsaverage5 space and its pial coordinates."""

from __future__ import annotations

import io
import socket

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from mpl_toolkits.mplot3d import proj3d
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


@pytest.fixture
def draw():
    """``draw(fig, dpi=50)`` -> RGB uint8 (H, W, 3) of the figure drawn at ``dpi``.

    The figure keeps that dpi, so :func:`_pixels_of_points` maps onto this image afterwards.
    """

    def _draw(fig, dpi=50):
        fig.set_dpi(dpi)
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        return np.asarray(canvas.buffer_rgba())[..., :3].copy()

    return _draw


@pytest.fixture
def pixels():
    """``pixels(fig, label, points)``: see :func:`_pixels_of_points`."""
    return _pixels_of_points


@pytest.fixture
def inner_face_centres():
    """``inner_face_centres(hemi_mesh, mask)``: see :func:`_inner_face_centres`."""
    return _inner_face_centres


def _pixels_of_points(fig, label: str, points: np.ndarray) -> np.ndarray:
    """(row, column) pixels of 3-D points (n, 3) in the view labelled ``label`` of a drawn figure.

    The points are in the coordinates the view was drawn in (``plot_surface`` centres each mesh
    on its mean vertex).
    """
    (ax,) = [a for a in fig.axes if a.get_label() == label]
    x, y, _ = proj3d.proj_transform(*points.T, ax.get_proj())
    display = ax.transData.transform(np.column_stack([x, y]))
    height = fig.canvas.get_width_height()[1]
    return np.column_stack([height - display[:, 1], display[:, 0]]).round().astype(int)


def _inner_face_centres(hemi_mesh, mask: np.ndarray) -> np.ndarray:
    """Centres (n, 3) of the faces of a mesh whose vertices and their neighbours are all in mask.

    Parameters
    ----------
    hemi_mesh : nilearn InMemoryMesh
        Coordinates as drawn (centred) and faces.
    mask : bool array of shape (n_vertices,)
    """
    faces = hemi_mesh.faces
    outside_face = ~mask[faces].all(axis=1)
    touches_outside = np.zeros(len(mask), bool)
    touches_outside[faces[outside_face].ravel()] = True
    inner = mask & ~touches_outside
    kept = faces[inner[faces].all(axis=1)]
    return hemi_mesh.coordinates[kept].mean(axis=1)
