"""GaborPyramid: shapes, orientation / wavelength / position tuning, contrast units, gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from brainenc.features import Backbone, GaborPyramid


def energy(gabor: GaborPyramid, images: torch.Tensor) -> torch.Tensor:
    """Uncompressed pooled energy, shape (n, n_scales, n_orientations, grid, grid)."""
    with torch.no_grad():
        feats = gabor.embed(images)
    g = gabor.grid
    return torch.expm1(feats).view(len(images), gabor.n_scales, gabor.n_orientations, g, g)


def test_default_shapes_and_token_layout(gabor):
    images = torch.rand(2, 3, 64, 64)
    emb, tok = gabor.embed(images), gabor.tokens(images)
    assert gabor.spec == "gabor"
    assert gabor.embed_dim == 2048
    assert emb.shape == (2, 2048)
    assert tok.shape == (2, 64, 32)
    # embed is (scale, orientation, row, col); tokens are (cell, scale*orientation)
    torch.testing.assert_close(tok, emb.view(2, 32, 64).transpose(1, 2))
    torch.testing.assert_close(gabor(images), emb)
    assert gabor.wavelengths == (4.0, 8.0, 16.0, 32.0)


def test_any_input_size_and_dtype(gabor, grating):
    images = torch.rand(3, 3, 100, 70)
    assert gabor.embed(images).shape == (3, 2048)
    img = grating(8, 0.0)[None]
    torch.testing.assert_close(gabor.embed(img.double()), gabor.embed(img))


def test_grating_peaks_at_its_orientation(gabor, grating):
    images = torch.stack([grating(8, theta) for theta in gabor.orientations])
    central = energy(gabor, images)[:, 1, :, 2:6, 2:6].mean((-2, -1))  # scale 1 = 8 px
    assert central.argmax(dim=1).tolist() == list(range(gabor.n_orientations))


def test_grating_peaks_at_its_scale(gabor, grating):
    images = torch.stack([grating(wl, 0.3) for wl in gabor.wavelengths])
    central = energy(gabor, images)[..., 2:6, 2:6].mean((-2, -1)).amax(dim=2)  # (image, scale)
    assert central.argmax(dim=1).tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("contrast", [1.0, 0.25])
def test_energy_is_michelson_contrast_at_preferred_grating(gabor, grating, contrast):
    images = torch.stack([grating(wl, math.pi / 4, contrast=contrast) for wl in (4, 8)])
    e = energy(gabor, images)
    # interior cells of the two finest scales, where borders do not reach
    torch.testing.assert_close(
        e[0, 0, 2, 2:6, 2:6], torch.full((4, 4), contrast), atol=1e-3, rtol=0
    )
    torch.testing.assert_close(
        e[1, 1, 2, 2:6, 2:6], torch.full((4, 4), contrast), atol=1e-3, rtol=0
    )
    compressed = gabor.embed(images).view(2, 4, 8, 8, 8)[0, 0, 2, 3, 3]
    assert compressed.item() == pytest.approx(math.log1p(contrast), abs=1e-3)


def test_uniform_grey_gives_no_energy(gabor):
    assert gabor.embed(torch.full((1, 3, 64, 64), 0.5)).abs().max() < 1e-3


def test_energy_is_phase_invariant(gabor, grating):
    base = gabor.embed(grating(8, 0.0)[None])[0]
    shifted = gabor.embed(torch.stack([grating(8, 0.0, phase) for phase in (1.0, math.pi / 2)]))
    rotated = gabor.embed(grating(8, math.pi / 2)[None])[0]
    change = (shifted - base).norm(dim=1) / base.norm()
    assert change.max() < 0.1  # only the image borders see the phase
    assert (rotated - base).norm() / base.norm() > 1.0


def test_patch_in_top_left_drives_top_left_cells(gabor):
    rng = np.random.default_rng(0)
    image = torch.full((1, 3, 64, 64), 0.5)
    image[..., :8, :8] = torch.from_numpy(rng.random((8, 8))).float()
    tokens = gabor.tokens(image)[0]  # (64 cells, 32 channels)
    fine = tokens[:, : gabor.n_orientations].sum(1)  # scale 0
    assert fine[0] > 100 * fine[63]
    assert fine.argmax() == 0


def test_gradient_reaches_input_and_is_local(gabor):
    images = torch.rand(2, 3, 64, 64, requires_grad=True)
    gabor.embed(images).sum().backward()
    assert torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0

    images = torch.rand(1, 3, 64, 64, requires_grad=True)
    gabor.embed(images)[0, 0].backward()  # scale 0, orientation 0, top-left cell
    grad = images.grad[0].abs().sum(0)
    assert grad[:8, :8].sum() > 0
    assert grad[24:, :].sum() == 0 and grad[:, 24:].sum() == 0


def test_gradient_through_resize(gabor):
    images = torch.rand(1, 3, 90, 90, requires_grad=True)
    gabor.embed(images).sum().backward()
    assert torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (torch.rand(3, 64, 64), ValueError),
        (torch.rand(1, 1, 64, 64), ValueError),
        (torch.rand(1, 64, 64, 3), ValueError),
        (torch.zeros(1, 3, 64, 64, dtype=torch.uint8), ValueError),
        (np.zeros((1, 3, 64, 64), np.float32), TypeError),
    ],
)
def test_bad_images_raise(gabor, bad, error):
    with pytest.raises(error, match="images"):
        gabor.embed(bad)


def test_spec_round_trip_and_non_defaults():
    small = GaborPyramid(input_size=32, n_scales=3, n_orientations=4, grid=4)
    assert small.spec == "gabor:input_size=32,n_scales=3,n_orientations=4,grid=4"
    assert small.embed_dim == 3 * 4 * 4 * 4
    again = Backbone.from_spec(small.spec)
    assert isinstance(again, GaborPyramid) and again.spec == small.spec
    images = torch.rand(2, 3, 32, 32)
    assert small.embed(images).shape == (2, 48 * 4)
    torch.testing.assert_close(again.embed(images), small.embed(images))
    assert small.tokens(images).shape == (2, 16, 12)
    assert Backbone.from_spec("gabor", bandwidth=1.5).spec == "gabor:bandwidth=1.5"
    assert Backbone.from_spec("gabor:bandwidth=1.0").spec == "gabor"


@pytest.mark.parametrize(
    ("spec", "kwargs", "match"),
    [
        ("gabor:size=96", {}, "input_size"),
        ("gabor:grid=big", {}, "grid"),
        ("gabor:grid=4", {"grid": 4}, "both"),
        ("gabor:input_size=60", {}, "multiple"),
        ("gabor", {"n_orientations": 0}, "positive"),
    ],
)
def test_bad_specs_raise(spec, kwargs, match):
    with pytest.raises(ValueError, match=match):
        Backbone.from_spec(spec, **kwargs)
