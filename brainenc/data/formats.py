"""Readers of the FreeSurfer-family files datasets ship: colour tables, MGH / MGZ and GIfTI maps.

Shared by the NSD, Algonauts 2023 and bring-your-own readers; each error names the file and the fix.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def read_ctab(path) -> dict[int, str]:
    """Read a FreeSurfer / NSD colour table (``<value> <name> [r g b a]`` per line).

    Returns
    -------
    dict of int to str
        Label value to name, without value 0 (``Unknown``).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"colour table {path} is missing; download it (brainenc data download)"
        )
    out = {}
    for i, line in enumerate(path.read_text().splitlines()):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        try:
            value = int(parts[0])
        except ValueError:
            raise ValueError(
                f"{path}, line {i + 1}: expected '<value> <name>'; got {line!r}"
            ) from None
        if value != 0 and len(parts) > 1:
            out[value] = parts[1]
    return out


def load_mgh(path):
    """Open an MGH/MGZ image lazily, checking that an uncompressed file holds all its data."""
    import nibabel as nib

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; download it (brainenc data download nsd ...)")
    try:
        img = nib.load(str(path))
    except Exception as e:
        raise ValueError(
            f"{path} is not a readable MGH file ({e}); delete it and download it again"
        ) from None
    if path.suffix == ".mgh":
        hdr = img.header
        need = int(hdr.get_data_offset()) + int(np.prod(hdr.get_data_shape())) * int(
            hdr.get_data_dtype().itemsize
        )
        have = path.stat().st_size
        if have < need:
            raise ValueError(
                f"{path} is truncated: {have} bytes, but its header describes "
                f"{hdr.get_data_shape()} {hdr.get_data_dtype()} ({need} bytes); delete it and "
                "download it again (brainenc data download verifies and refetches)"
            )
    return img


def read_surface_map(path, n_vertices: int | None = None) -> np.ndarray:
    """Read a per-vertex map (``.mgh`` / ``.mgz`` of shape (n, 1, 1)) as a 1-D array."""
    path = Path(path)
    img = load_mgh(path)
    shape = img.shape
    if len(shape) < 1 or int(np.prod(shape[1:])) != 1:
        raise ValueError(f"{path} has shape {shape}; expected one value per vertex (n, 1, 1)")
    data = np.asarray(img.dataobj).reshape(-1)
    if n_vertices is not None and data.shape[0] != n_vertices:
        raise ValueError(
            f"{path} has {data.shape[0]} vertices but the betas have {n_vertices} per hemisphere; "
            "the files come from different surfaces"
        )
    return data


def read_surface_responses(path) -> np.ndarray:
    """Per-image surface maps, (n_images, n_vertices), from an MGH/MGZ or GIfTI file.

    An MGH / MGZ file holds (n_vertices, 1, 1, n_images); a GIfTI file one data array per image.
    """
    import nibabel as nib

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"responses file {path} does not exist")
    name = path.name.lower()
    if name.endswith(".gii"):
        img = nib.load(str(path))
        if not img.darrays:
            raise ValueError(f"{path} has no data arrays")
        return np.stack([np.asarray(d.data, np.float32).reshape(-1) for d in img.darrays])
    if name.endswith((".mgh", ".mgz")):
        data = np.asarray(nib.load(str(path)).dataobj, np.float32)
        if data.ndim != 4 or data.shape[1:3] != (1, 1):
            raise ValueError(
                f"{path} has shape {data.shape}; expected (n_vertices, 1, 1, n_images)"
            )
        return np.ascontiguousarray(data[:, 0, 0, :].T)
    raise ValueError(f"{path}: surface responses must be .mgh, .mgz or .gii")


def label_masks(values: np.ndarray, names: dict[int, str], group: str | None = None) -> dict:
    """Boolean masks from an integer label array: one per named value, plus ``group`` (any)."""
    values = np.asarray(values)
    out = {}
    for v, name in names.items():
        out[name] = values == v
    if group is not None and names:
        out[group] = np.isin(values, list(names))
    return out
