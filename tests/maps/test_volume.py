"""plot_volume: slices of voxel values over a reference; NaN shows the reference, not a colour."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from matplotlib.figure import Figure

from brainenc.data import Space
from brainenc.maps import comparison_map, plot_surface, plot_volume, roi_map, volume_image


@pytest.fixture(scope="module")
def volume() -> Space:
    """A func1pt8mm-like space: a 14 x 16 x 12 box of voxels in a 20 x 24 x 18 grid."""
    mask = np.zeros((20, 24, 18), bool)
    mask[3:17, 4:20, 3:15] = True
    affine = np.diag([1.8, 1.8, 1.8, 1.0])
    affine[:3, 3] = [-18.0, -22.0, -16.0]
    return Space("func1pt8mm", int(mask.sum()), mask=mask, affine=affine)


def _x(space: Space) -> np.ndarray:
    """World x coordinate of each voxel target."""
    return nib.affines.apply_affine(space.affine, np.argwhere(space.mask))[:, 0]


def test_volume_image_scatters_targets_into_the_mask(volume):
    values = np.arange(volume.n_targets, dtype=float)
    image = volume_image(values, volume)
    data = np.asarray(image.dataobj)
    np.testing.assert_array_equal(data[volume.mask], values)
    assert np.isnan(data[~volume.mask]).all()
    np.testing.assert_array_equal(image.affine, volume.affine)


def test_missing_voxels_show_the_reference_and_zero_its_colour(volume, render):
    x = _x(volume)
    zero = plot_volume(np.zeros(volume.n_targets), volume, vmin=0, vmax=1, cmap="inferno")
    missing = plot_volume(np.full(volume.n_targets, np.nan), volume, vmin=0, vmax=1)
    black = (render(zero).max(axis=-1) < 30).sum()
    assert black - (render(missing).max(axis=-1) < 30).sum() > 200  # zero: black voxels
    grey = render(missing)
    assert (
        (np.ptp(grey, axis=-1) < 10) & (np.abs(grey.astype(int) - 128).max(axis=-1) < 20)
    ).sum() > 500
    negated = plot_volume(comparison_map(-x, 0 * x), volume)
    original = plot_volume(comparison_map(x, 0 * x), volume)
    a, b = render(original).astype(int), render(negated).astype(int)
    assert ((a[..., 0] - a[..., 2] > 80) & (b[..., 2] - b[..., 0] > 40)).sum() > 200  # red -> blue


def test_a_reference_image_and_a_categorical_map(volume, tmp_path):
    reference = nib.Nifti1Image(np.random.default_rng(0).random(volume.mask.shape), volume.affine)
    half = _x(volume) > 0
    fig = plot_volume(
        roi_map({"left": ~half, "right": half}),
        volume,
        reference=reference,
        display_mode="x",
        n_slices=3,
        out=tmp_path / "rois.png",
    )
    assert isinstance(fig, Figure) and (tmp_path / "rois.png").stat().st_size > 5000
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["left", "right"]


def test_surface_and_volume_refuse_each_others_spaces(volume, fs5):
    with pytest.raises(ValueError, match="no voxel mask and affine; plot_volume draws volume"):
        plot_volume(np.zeros(fs5.n_targets), fs5)
    with pytest.raises(ValueError, match="Draw it with plot_volume"):
        plot_surface(np.zeros(volume.n_targets), volume)
    with pytest.raises(ValueError, match=r"has 2688 voxels; give one value per voxel"):
        plot_volume(np.zeros(3), volume)
    with pytest.raises(ValueError, match=r"display_mode='w'; use 'x', 'y' or 'z'"):
        plot_volume(np.zeros(volume.n_targets), volume, display_mode="w")
