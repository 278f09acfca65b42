"""Lazy, indexable image collections.

Every image set returns ``uint8`` arrays of shape ``(n, H, W, 3)`` (RGB) when indexed with a slice
or an index array, and ``(H, W, 3)`` for an integer; its ``fingerprint`` identifies the pixels (and
is what the feature cache keys on).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

import numpy as np
import torch


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """Convert ``uint8`` images ``(n, H, W, 3)`` to a float tensor ``(n, 3, H, W)`` in [0, 1]."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected images of shape (n, H, W, 3); got {images.shape}")
    if images.dtype != np.uint8:
        raise ValueError(f"expected uint8 images; got {images.dtype}")
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)


def resize_square(images: torch.Tensor, size: int) -> torch.Tensor:
    """Float images ``(n, 3, H, W)`` resized to ``size × size`` (bilinear, antialiased; unchanged
    when already that size); differentiable."""
    if images.shape[-2:] == (size, size):
        return images
    return torch.nn.functional.interpolate(
        images, size=(size, size), mode="bilinear", align_corners=False, antialias=True
    )


class ImageSet:
    """Base class: subclasses implement ``__len__``, ``_load(indices)`` and ``fingerprint``."""

    def __len__(self) -> int:
        raise NotImplementedError

    def _load(self, indices: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    @property
    def fingerprint(self) -> str:
        raise NotImplementedError

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)):
            return self._load(self._check(np.array([index])))[0]
        if isinstance(index, slice):
            return self._load(np.arange(len(self))[index])
        return self._load(self._check(np.asarray(index)))

    def _check(self, indices: np.ndarray) -> np.ndarray:
        if indices.dtype == bool:
            raise TypeError("index image sets with integers, not boolean masks")
        indices = indices.astype(np.int64)
        n = len(self)
        indices = np.where(indices < 0, indices + n, indices)
        if indices.size and (indices.min() < 0 or indices.max() >= n):
            raise IndexError(f"image index out of range for an image set of {n} images")
        return indices

    def batches(self, indices: Sequence[int] | np.ndarray, batch_size: int):
        """Yield ``(batch_indices, uint8 images)`` over ``indices`` in order."""
        indices = np.asarray(indices)
        for start in range(0, len(indices), batch_size):
            chunk = indices[start : start + batch_size]
            yield chunk, self[chunk]


class ArrayImages(ImageSet):
    """Images held in memory as a ``uint8`` array ``(n, H, W, 3)``."""

    def __init__(self, array: np.ndarray):
        array = np.asarray(array)
        if array.ndim != 4 or array.shape[-1] != 3 or array.dtype != np.uint8:
            raise ValueError(
                f"ArrayImages needs a uint8 array of shape (n, H, W, 3); got {array.dtype} "
                f"{array.shape}"
            )
        self.array = array
        self._fingerprint = None

    def __len__(self) -> int:
        return len(self.array)

    def _load(self, indices):
        return self.array[indices]

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            h = hashlib.sha256(str(self.array.shape).encode())
            h.update(np.ascontiguousarray(self.array).data)
            self._fingerprint = "array:" + h.hexdigest()[:16]
        return self._fingerprint


class HDF5Images(ImageSet):
    """Images read lazily from an HDF5 dataset of shape ``(N, H, W, 3)`` (e.g. NSD's imgBrick).

    Parameters
    ----------
    path : str or path-like
        The HDF5 file.
    dataset : str
        Name of the image dataset inside the file.
    ids : array of int, optional
        Which rows of the dataset form this image set (0-based); all rows when omitted.
    """

    def __init__(self, path, dataset: str, ids: np.ndarray | None = None):
        import h5py

        self.path = os.fspath(path)
        self.dataset = dataset
        with h5py.File(self.path, "r") as f:
            if dataset not in f:
                raise KeyError(f"{self.path} has no dataset {dataset!r}; it has {list(f)}")
            shape = f[dataset].shape
        if len(shape) != 4 or shape[-1] != 3:
            raise ValueError(f"{self.path}:{dataset} has shape {shape}; expected (N, H, W, 3)")
        self.ids = np.arange(shape[0]) if ids is None else np.asarray(ids, dtype=np.int64)
        if self.ids.size and (self.ids.min() < 0 or self.ids.max() >= shape[0]):
            raise IndexError(f"image ids must lie in [0, {shape[0]}) for {self.path}:{dataset}")
        self._file = None

    def __len__(self) -> int:
        return len(self.ids)

    def __getstate__(self):
        return {**self.__dict__, "_file": None}

    def _load(self, indices):
        import h5py

        if self._file is None:
            self._file = h5py.File(self.path, "r")
        rows = self.ids[indices]
        order = np.argsort(rows, kind="stable")
        unique, inverse = np.unique(rows[order], return_inverse=True)
        block = self._file[self.dataset][unique]  # h5py needs increasing indices
        out = np.empty((len(rows), *block.shape[1:]), dtype=block.dtype)
        out[order] = block[inverse]
        return out

    @property
    def fingerprint(self) -> str:
        stat = os.stat(self.path)
        h = hashlib.sha256(f"{os.path.abspath(self.path)}:{self.dataset}:{stat.st_size}".encode())
        h.update(self.ids.tobytes())
        return "hdf5:" + h.hexdigest()[:16]


class FileImages(ImageSet):
    """Images stored one per file (PNG, JPEG, ...), decoded with Pillow and resized on load.

    Parameters
    ----------
    paths : sequence of path-like
        One file per image.
    size : int, optional
        Square side the images are resized to, so that batches stack; the first image's size when
        omitted.
    """

    def __init__(self, paths: Sequence, size: int | None = None):
        self.paths = [os.fspath(p) for p in paths]
        missing = [p for p in self.paths if not os.path.exists(p)]
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} image files do not exist (first: {missing[0]}); check the folder"
            )
        self.size = size

    def __len__(self) -> int:
        return len(self.paths)

    def _load(self, indices):
        from PIL import Image

        out = []
        for i in indices:
            with Image.open(self.paths[i]) as im:
                im = im.convert("RGB")
                if self.size is None:
                    self.size = im.size[0]
                if im.size != (self.size, self.size):
                    im = im.resize((self.size, self.size), Image.Resampling.BICUBIC)
                out.append(np.asarray(im, dtype=np.uint8))
        return np.stack(out) if out else np.zeros((0, self.size or 1, self.size or 1, 3), np.uint8)

    @property
    def fingerprint(self) -> str:
        h = hashlib.sha256(str(self.size).encode())
        for p in self.paths:
            st = os.stat(p)
            h.update(f"{os.path.abspath(p)}:{st.st_size}:{st.st_mtime_ns}".encode())
        return "files:" + h.hexdigest()[:16]
