"""Reading NSD's single-trial betas: fsaverage MGH files per hemisphere, func1pt8mm HDF5 / NIfTI."""

from __future__ import annotations

import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..formats import load_mgh
from ..manifest import HEMISPHERES
from .design import TRIALS_PER_SESSION

#: func1pt8mm betas are int16, percent signal change times this.
BETAS_SCALE_INT16 = 300.0


def betas_files(root, manifest, subject, space, sessions) -> dict[int, list[Path]]:
    """The betas files of each session; one clear error listing every missing file."""
    out, missing = {}, []
    for s in sessions:
        if space == "fsaverage":
            files = [
                manifest.local_path(root, "betas", space, subject=subject, session=s, hemi=h)
                for h in HEMISPHERES.values()
            ]
        else:
            h5 = manifest.local_path(root, "betas", space, subject=subject, session=s)
            nii = manifest.local_path(root, "betas_nifti", space, subject=subject, session=s)
            files = [h5 if h5.exists() or not nii.exists() else nii]
        missing += [f for f in files if not f.exists()]
        out[s] = files
    if missing:
        first = sessions[0]
        raise FileNotFoundError(
            f"{len(missing)} betas files of subject {subject} are missing (first: {missing[0]}); "
            f"download them with `brainenc data download nsd --subject {subject} --space {space} "
            f"--sessions {first}-{sessions[-1]}`, or pass sessions= with the sessions you have"
        )
    return out


def read_session_surface(path: Path, n_vertices: int) -> np.ndarray:
    """One hemisphere-session of betas as a native float32 array (n_trials, n_vertices)."""
    img = load_mgh(path)
    shape = img.shape
    if len(shape) != 4 or shape[1:3] != (1, 1) or shape[0] != n_vertices:
        raise ValueError(
            f"{path} has shape {shape}; expected ({n_vertices}, 1, 1, {TRIALS_PER_SESSION})"
        )
    if shape[3] != TRIALS_PER_SESSION:
        raise ValueError(f"{path} has {shape[3]} trials; an NSD session has {TRIALS_PER_SESSION}")
    if path.suffix == ".mgh":
        hdr = img.header
        # MGH data are column-major: each trial's vertices are contiguous, so the file read as
        # (n_trials, n_vertices) in C order is the trial-major matrix we need, without a copy
        dt = hdr.get_data_dtype()
        data = np.fromfile(
            path, dtype=dt, count=n_vertices * shape[3], offset=int(hdr.get_data_offset())
        ).reshape(shape[3], n_vertices)
        if not dt.isnative:
            data = data.byteswap(inplace=True).view(dt.newbyteorder())
        return data.astype(np.float32, copy=False)
    data = np.asarray(img.dataobj, dtype=np.float32).reshape(n_vertices, shape[3])
    return np.ascontiguousarray(data.T)


def read_volume_betas(ds, flat: np.ndarray, grid, out: np.ndarray | None = None) -> np.ndarray:
    """Every trial of some voxels of an HDF5 betas dataset, reading each chunk once.

    NSD's ``betas_sessionXX.hdf5`` keeps the 750 trials of a voxel in one chunk, so reading a
    few trials at a time would read every chunk again for each group of trials. This reads slabs
    of whole chunks along Z, with every trial.

    Parameters
    ----------
    ds : h5py.Dataset of shape (n_trials, Z, Y, X)
    flat : array of shape (n_voxels,)
        C-order indices of the voxels into the ``grid`` (X, Y, Z).
    grid : tuple of 3 ints
        (X, Y, Z).
    out : float32 array of shape (n_trials, n_voxels), optional

    Returns
    -------
    array of shape (n_trials, n_voxels), float32 (the file's values, not rescaled)
    """
    x, y, z = np.unravel_index(flat, grid)
    if out is None:
        out = np.empty((ds.shape[0], len(flat)), np.float32)
    step = ds.chunks[1] if ds.chunks else 1
    for z0 in range(0, grid[2], step):
        sel = np.flatnonzero((z >= z0) & (z < z0 + step))
        if len(sel):
            slab = ds[:, z0 : z0 + step]  # (n_trials, dz, Y, X)
            out[:, sel] = slab[:, z[sel] - z0, y[sel], x[sel]]
    return out


@contextmanager
def readable(path: Path):
    """Turn a library's error on a truncated or corrupt betas file into one that says the fix."""
    try:
        yield
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(
            f"{path} is truncated or corrupt ({type(e).__name__}: {e}); delete it and download "
            "it again (brainenc data download verifies and refetches)"
        ) from None
