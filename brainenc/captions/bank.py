"""A bank of image embeddings, stored as unit directions and norms, for the BrainSCUBA projection.

The file is HDF5: a ``directions`` dataset (n, d) of unit rows (float32 or float16), a ``norms``
dataset (n,) float32 of the embeddings' original L2 norms, and the attributes ``meta`` (a JSON
object: backbone spec, image set...) and ``format_version``. Saving writes a temporary file
beside the target and renames it, so a reader never sees half a bank. Loaded with ``mmap=True``
the directions stay on disk (a read-only ``np.memmap``) and are read a chunk at a time, so a
bank larger than memory can be projected onto.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np

from .. import __version__
from ..data.images import ArrayImages, ImageSet
from ..features import Backbone, cached_features
from ..files import write_atomically

FORMAT_VERSION = 1
"""Version of the bank file layout; :meth:`EmbeddingBank.load` refuses newer ones."""

_DTYPES = ("float32", "float16")


class EmbeddingBank:
    """Image embeddings split into unit directions and norms.

    Build one with :meth:`from_features` or :meth:`from_backbone`, or read one with
    :meth:`load`; the constructor takes rows that are already unit-norm.

    Parameters
    ----------
    directions : array of shape (n, d), float32 or float16
        Unit-norm embedding directions (an ``np.memmap`` for a bank read with ``mmap=True``).
    norms : array of shape (n,)
        Each embedding's original L2 norm (finite, positive); stored as float32.
    meta : dict, optional
        JSON-serialisable description of the bank (backbone spec, image set...).

    Attributes
    ----------
    directions, norms, meta
        As given.
    """

    def __init__(self, directions, norms, meta: dict | None = None):
        directions = np.asanyarray(directions)  # keeps an np.memmap on disk
        if directions.ndim != 2 or directions.dtype not in _DTYPES:
            raise ValueError(
                f"bank directions must be a float32 or float16 array (n, d); got "
                f"{directions.dtype} of shape {directions.shape}"
            )
        if not directions.shape[0] or not directions.shape[1]:
            raise ValueError(
                f"the embedding bank is empty (directions of shape {directions.shape}); "
                "build it from at least one image embedding"
            )
        norms = np.asarray(norms, np.float32)
        if norms.shape != directions.shape[:1]:
            raise ValueError(
                f"bank norms must have shape ({directions.shape[0]},), one per direction; "
                f"got {norms.shape}"
            )
        if not np.all(np.isfinite(norms) & (norms > 0)):
            raise ValueError("bank norms must be finite and positive; rebuild the bank")
        meta = {} if meta is None else meta
        try:
            json.dumps(meta)
        except TypeError as err:
            raise ValueError(f"bank meta must be a JSON-serialisable dict ({err})") from None
        self.directions = directions
        self.norms = norms
        self.meta = dict(meta)

    @classmethod
    def from_features(
        cls, features, meta: dict | None = None, *, dtype: str = "float32"
    ) -> EmbeddingBank:
        """A bank of the rows of ``features``.

        Parameters
        ----------
        features : array of shape (n, d)
            One embedding per image, of any norm; every row must be finite and non-zero.
        meta : dict, optional
            JSON-serialisable description of the bank.
        dtype : {"float32", "float16"}
            Storage dtype of the directions; float16 halves the bank (cosines change by ~1e-3).

        Returns
        -------
        EmbeddingBank
        """
        if dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(map(repr, _DTYPES))}; got {dtype!r}")
        features = np.asarray(features, np.float32)
        if features.ndim != 2:
            raise ValueError(
                f"features must be a 2-D array (n_images, embed_dim); got shape {features.shape}"
            )
        bad = np.flatnonzero(~np.isfinite(features).all(axis=1))
        if len(bad):
            raise ValueError(
                f"{len(bad)} feature rows hold NaN or inf (rows {bad[:5].tolist()}...); drop "
                "those images or extract their features again"
            )
        norms = np.linalg.norm(features, axis=1)
        zero = np.flatnonzero(norms == 0)
        if len(zero):
            raise ValueError(
                f"{len(zero)} feature rows are all zero (rows {zero[:5].tolist()}...) and have "
                "no direction; drop those images"
            )
        directions = (features / norms[:, None]).astype(dtype)
        return cls(directions, norms, meta)

    @classmethod
    def from_backbone(
        cls,
        backbone: Backbone,
        images: ImageSet | np.ndarray,
        cache_dir: str | os.PathLike,
        *,
        dtype: str = "float32",
        meta: dict | None = None,
        **kw,
    ) -> EmbeddingBank:
        """A bank of a backbone's pooled embeddings of an image set, via the feature cache.

        Parameters
        ----------
        backbone : Backbone
            The feature extractor; its ``spec`` goes into ``meta["backbone"]``.
        images : ImageSet or uint8 array of shape (n_images, H, W, 3)
            The images; their fingerprint goes into ``meta["images"]``.
        cache_dir : path-like
            Folder of the feature cache (see :func:`brainenc.features.cached_features`).
        dtype : {"float32", "float16"}
            Storage dtype of the bank's directions.
        meta : dict, optional
            More entries for the bank's ``meta`` (e.g. ``{"image_set": "nsd"}``).
        **kw
            Passed to :func:`~brainenc.features.cached_features` (``batch_size``, ``device``,
            ``num_workers``, ``progress``...).

        Returns
        -------
        EmbeddingBank
        """
        images = ArrayImages(images) if isinstance(images, np.ndarray) else images
        features = cached_features(backbone, images, cache_dir, feature_type="embed", **kw)
        info = {"backbone": backbone.spec, "images": images.fingerprint, **(meta or {})}
        return cls.from_features(features, info, dtype=dtype)

    def __len__(self) -> int:
        return self.directions.shape[0]

    @property
    def width(self) -> int:
        """Dimension ``d`` of the embeddings."""
        return self.directions.shape[1]

    def chunk(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Directions and norms of rows ``start:stop``, read into memory.

        Returns
        -------
        directions : array of shape (stop - start, d), the bank's dtype
        norms : array of shape (stop - start,), float32
        """
        return np.array(self.directions[start:stop]), self.norms[start:stop]

    def save(self, path: str | os.PathLike) -> Path:
        """Write the bank to an HDF5 file, atomically (see the module docstring).

        Parameters
        ----------
        path : path-like
            The file to write (its folder is created if missing; an existing file is replaced).

        Returns
        -------
        Path
            ``path``.
        """

        def write(tmp: Path) -> None:
            with h5py.File(tmp, "w") as f:
                f.create_dataset("directions", data=self.directions)
                f.create_dataset("norms", data=self.norms)
                f.attrs["meta"] = json.dumps(self.meta)
                f.attrs["format_version"] = FORMAT_VERSION
                f.attrs["brainenc_version"] = __version__

        return write_atomically(path, write)

    @classmethod
    def load(cls, path: str | os.PathLike, mmap: bool = True) -> EmbeddingBank:
        """Read a bank written by :meth:`save`.

        Parameters
        ----------
        path : path-like
            The bank file.
        mmap : bool
            Leave the directions on disk as a read-only ``np.memmap`` (read chunk by chunk by
            :func:`~brainenc.captions.projection.project_to_bank`) instead of loading them. A
            chunked or compressed dataset (not written by :meth:`save`) cannot be mapped and is
            loaded.

        Returns
        -------
        EmbeddingBank
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"no embedding bank at {path}; build one with scripts/build_caption_bank.py (or "
                "EmbeddingBank.from_backbone(...).save)"
            )
        try:
            f = h5py.File(path, "r")
        except OSError as err:
            raise ValueError(f"{path} is not an HDF5 embedding bank ({err})") from None
        with f:
            missing = [f"dataset {k!r}" for k in ("directions", "norms") if k not in f]
            missing += [f"attribute {k!r}" for k in ("format_version", "meta") if k not in f.attrs]
            if missing:
                raise ValueError(
                    f"{path} is not an embedding bank (it lacks {', '.join(missing)}); write "
                    "banks with EmbeddingBank.save"
                )
            version = int(f.attrs["format_version"])
            if version != FORMAT_VERSION:
                raise ValueError(
                    f"{path} is an embedding bank of format version {version}; this brainenc "
                    f"reads version {FORMAT_VERSION}: upgrade brainenc or rebuild the bank"
                )
            data = f["directions"]
            offset = data.id.get_offset() if mmap else None
            directions = data[...] if offset is None else None
            shape, dtype = data.shape, data.dtype
            norms, meta = f["norms"][...], json.loads(f.attrs["meta"])
        if directions is None:
            directions = np.memmap(path, mode="r", dtype=dtype, shape=shape, offset=offset)
        return cls(directions, norms, meta)
