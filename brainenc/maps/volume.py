"""Values over volume targets (func1pt8mm voxels) drawn as slices over a reference image."""

from __future__ import annotations

import os
from collections.abc import Sequence

import nibabel as nib
import numpy as np
from matplotlib.colors import Colormap
from matplotlib.figure import Figure
from nibabel.affines import apply_affine
from nilearn import plotting

from ..data.brain_data import BrainData
from ..data.space import Space
from .cortical_map import CorticalMap, as_map
from .figure import add_colour_key, key_height, save_atomically

_AXIS = {"x": 0, "y": 1, "z": 2}
_WIDTH = 9.0  # inches
_ROW = 2.2  # inches of slices
_TITLE = 0.4  # inches above the slices when titled


def volume_image(values, space: Space | BrainData) -> nib.Nifti1Image:
    """Scatter one value per target into the volume of a voxel space.

    Parameters
    ----------
    values : array of shape (n_targets,)
        In the order of the space's targets (its mask's ``True`` voxels in C order).
    space : Space or BrainData
        A volume space, with ``mask`` and ``affine`` (e.g. NSD's func1pt8mm).

    Returns
    -------
    nibabel.Nifti1Image
        float32 of the mask's shape, NaN outside the mask, with the space's affine.
    """
    space = _volume_space(space)
    values = np.asarray(values, dtype=np.float32)
    if values.shape != (space.n_targets,):
        raise ValueError(
            f"values has shape {values.shape} but space {space.name!r} has {space.n_targets} "
            "voxels; give one value per voxel of its mask, in C order"
        )
    volume = np.full(space.mask.shape, np.nan, np.float32)
    volume[space.mask] = values
    return nib.Nifti1Image(volume, space.affine)


def plot_volume(
    values: np.ndarray | CorticalMap,
    space: Space | BrainData,
    *,
    reference=None,
    display_mode: str = "z",
    n_slices: int = 7,
    title: str | None = None,
    cmap: str | Colormap | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    threshold: float | None = None,
    colorbar_label: str | None = None,
    categories: Sequence[str] | None = None,
    out: str | os.PathLike | None = None,
    dpi: int = 150,
) -> Figure:
    """Draw one value per voxel as slices over a reference image.

    Voxels outside the space's mask, and voxels whose value is NaN, show the reference: missing
    is never drawn as a value.

    Parameters
    ----------
    values : CorticalMap or array of shape (n_targets,)
        One value per voxel target; a :class:`CorticalMap` brings its style, which the keyword
        arguments below override.
    space : Space or BrainData
        A volume space with ``mask`` and ``affine`` (NSD's func1pt8mm), or a dataset in one.
    reference : path or nibabel image, optional
        Background in the same world coordinates: the subject's mean functional image (NSD:
        ``nsddata/ppdata/subjNN/func1pt8mm/mean.nii.gz``) or any anatomy; default: the mask.
    display_mode : {"x", "y", "z"}
        Sagittal, coronal or axial slices.
    n_slices : int
        Slices, evenly spaced through the extent of the mask.
    title, cmap, vmin, vmax, threshold, colorbar_label, categories :
        As in :func:`~brainenc.maps.plot_surface`.
    out : path, optional
        Also save the figure there, atomically.
    dpi : int
        Resolution of the saved file.

    Returns
    -------
    matplotlib.figure.Figure
        Not registered with pyplot.
    """
    cortical_map = as_map(
        values, title=title, cmap=cmap, vmin=vmin, vmax=vmax,
        colorbar_label=colorbar_label, categories=categories,
    )  # fmt: skip
    space = _volume_space(space)
    if display_mode not in _AXIS:
        raise ValueError(f"display_mode={display_mode!r}; use 'x', 'y' or 'z'")
    if n_slices < 1:
        raise ValueError(f"n_slices must be at least 1; got {n_slices}")
    image = volume_image(cortical_map.values, space)
    vmin, vmax = cortical_map.colour_range()
    scale = {}  # a user's reference is scaled by nilearn; the mask is drawn in mid grey
    if reference is None:
        reference = nib.Nifti1Image(space.mask.astype(np.float32), space.affine)
        scale = {"vmin": 0.0, "vmax": 2.0}
    top = _TITLE if cortical_map.title is not None else 0.1
    key = key_height(cortical_map)
    height = top + _ROW + key
    fig = Figure(figsize=(_WIDTH, height))
    display = plotting.plot_anat(
        reference,
        display_mode=display_mode,
        cut_coords=_cuts(space, display_mode, n_slices),
        figure=fig,
        axes=(0, key / height, 1, _ROW / height),
        draw_cross=False,
        colorbar=False,
        black_bg=False,
        **scale,
    )
    finite = np.isfinite(np.asanyarray(image.dataobj))
    if finite.any():  # nilearn needs something to show; all missing shows the reference only
        display.add_overlay(
            nib.Nifti1Image(np.nan_to_num(np.asanyarray(image.dataobj)), space.affine),
            cmap=cortical_map.colormap(),
            vmin=vmin,
            vmax=vmax,
            threshold=threshold,
            transparency=nib.Nifti1Image(finite.astype(np.float32), space.affine),
            resampling_interpolation="continuous" if cortical_map.categories is None else "nearest",
        )
    add_colour_key(fig, cortical_map, threshold)
    if cortical_map.title is not None:
        fig.suptitle(cortical_map.title, y=1 - 0.08 / height, va="top")
    if out is not None:
        save_atomically(fig, out, dpi)
    return fig


def _volume_space(space) -> Space:
    if isinstance(space, BrainData):
        space = space.space
    if not isinstance(space, Space):
        raise TypeError(f"space must be a Space or a BrainData; got {type(space).__name__}")
    if space.mask is None or space.affine is None:
        raise ValueError(
            f"space {space.name!r} has no voxel mask and affine; plot_volume draws volume spaces "
            "(e.g. func1pt8mm). Draw surface spaces with plot_surface"
        )
    return space


def _cuts(space: Space, display_mode: str, n_slices: int) -> list[float]:
    """World coordinates of ``n_slices`` slices evenly spaced inside the mask's extent."""
    world = apply_affine(space.affine, np.argwhere(space.mask))[:, _AXIS[display_mode]]
    return np.linspace(world.min(), world.max(), n_slices + 2)[1:-1].tolist()
