"""An on-disk HDF5 cache of backbone features, keyed by what produced them, resumable.

One file per (backbone spec, sha256 of the backbone's weights file if it has one, image-set
fingerprint, input size, feature type, dtype, cache format version): the file name carries the
sha256 of these parts and the file's attributes repeat them. They are re-checked on every open;
a file whose attributes do not match is rebuilt, never reused.

Extraction writes into ``<name>.partial.h5``: a ``features`` dataset and a per-row ``done`` mask,
flushed after every batch, so an interrupted run resumes with the missing rows only. On completion
the file is renamed atomically to ``<name>.h5``. A file lock (``.<name>.h5.lock``) makes a second
process that wants the same features wait for the first and then read its file. Under
``torchrun`` (an initialised ``torch.distributed`` process group) each rank extracts a
contiguous share of the images into its own ``<name>.rows<lo>-<hi>.partial.h5`` (resumable the
same way) and rank 0 merges them into the one cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import warnings
from functools import lru_cache
from pathlib import Path

import h5py
import numpy as np
import torch
from tqdm.auto import tqdm

from .. import __version__
from ..data.download import sha256_file
from ..data.images import ImageSet
from ..distributed import barrier, broadcast, rank_and_world, shard
from ..files import file_lock
from .backbone import Backbone
from .extract import _as_image_set, _check_args, _feature_batches, _running

FORMAT_VERSION = 1
"""Version of the cache file layout; part of every key, so a new layout never reads old files."""

_DTYPES = ("float32", "float16")


def cached_features(
    backbone: Backbone,
    images: ImageSet | np.ndarray,
    cache_dir: str | os.PathLike,
    *,
    feature_type: str = "embed",
    dtype: str = "float32",
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    num_workers: int = 0,
    mmap: bool = False,
    progress: bool = True,
) -> np.ndarray:
    """Features of every image, read from the cache or extracted into it.

    Parameters
    ----------
    backbone : Backbone
        The feature extractor; its ``spec`` must identify its outputs.
    images : ImageSet or uint8 array of shape (n_images, H, W, 3)
        The images; their ``fingerprint`` is part of the key.
    cache_dir : path-like
        Folder of the cache files (created if missing).
    feature_type : {"embed", "tokens"}
        Pooled embeddings or token grids.
    dtype : {"float32", "float16"}
        Storage dtype; float16 halves the file (relative error ~1e-3).
    batch_size, device, num_workers
        As in :func:`extract_features`; extraction runs only for rows not in the cache. On CUDA
        it runs under autocast; the key does not record the device, so a cache filled on a GPU
        is reused on a CPU (features agree to about 1e-2 relative).
    mmap : bool
        Return a read-only ``np.memmap`` over the cache file instead of loading it, for token
        caches larger than memory.
    progress : bool
        Show a tqdm progress bar (starting at the rows already cached).

    Returns
    -------
    array of ``dtype``
        ``(n_images, embed_dim)`` or ``(n_images, n_tokens, dim)``; row ``i`` is image ``i``.
    """
    _check_args(feature_type, batch_size, num_workers)
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(map(repr, _DTYPES))}; got {dtype!r}")
    images = _as_image_set(images)
    if not len(images):
        raise ValueError("the image set is empty; there are no features to cache")
    parts = {
        "spec": backbone.spec,
        "weights": _file_digest(backbone.weights_file),
        "images": images.fingerprint,
        "input_size": backbone.input_size,
        "feature_type": feature_type,
        "dtype": dtype,
        "format_version": FORMAT_VERSION,
    }
    path = _cache_path(cache_dir, parts)
    rank, world = rank_and_world()
    # a second process (not a rank of this job) filling the same cache waits here, then reads
    with file_lock(path, "feature cache") if world == 1 else contextlib.nullcontext():
        usable = broadcast(_usable(path, parts, len(images)) if rank == 0 else None)
        if not usable:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".partial.h5")
            lo, hi = shard(len(images), rank, world)
            # under torchrun each rank fills its own file with its rows, merged by rank 0
            mine = partial if world == 1 else path.with_suffix(f".rows{lo}-{hi}.partial.h5")
            mine_parts = parts if world == 1 else {**parts, "rows": f"{lo}-{hi}"}
            _usable(mine, mine_parts, hi - lo, complete=False)  # deletes one of other inputs
            if hi > lo:
                with h5py.File(mine, "a") as f:
                    _extract_missing(
                        f, backbone, images, range(lo, hi), mine_parts, batch_size, device,
                        num_workers, progress,
                    )  # fmt: skip
            barrier()
            if rank == 0:
                if world > 1:
                    shards = [shard(len(images), r, world) for r in range(world)]
                    _merge(partial, path, parts, len(images), [s for s in shards if s[1] > s[0]])
                os.replace(partial, path)
            barrier()
    return _read(path, mmap)


def _file_digest(path: Path | None) -> str:
    """sha256 of a weights file ("" for none), memoised while the file's stat is unchanged.

    Hashing reads the whole file (seconds for a multi-GB checkpoint), once per process.
    """
    if path is None:
        return ""
    stat = Path(path).stat()
    key = (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)
    return _digest(str(Path(path).resolve()), key)


@lru_cache(maxsize=32)
def _digest(path: str, stat_key: tuple) -> str:
    return sha256_file(path)


def _cache_path(cache_dir: str | os.PathLike, parts: dict) -> Path:
    """``<cache_dir>/<readable spec>-<feature type>-<key>.h5``, key: sha256 of ``parts``' JSON."""
    key = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", parts["spec"])[:60]
    return Path(cache_dir) / f"{readable}-{parts['feature_type']}-{key[:24]}.h5"


def _usable(path: Path, parts: dict, n_images: int, complete: bool = True) -> bool:
    """Whether ``path`` is a cache file of ``parts`` (with every row done if ``complete``).

    A file that exists but does not match (or cannot be read) is deleted, with a warning.
    """
    if not path.exists():
        return False
    try:
        with h5py.File(path, "r") as f:
            stored = {k: _plain(f.attrs[k]) for k in parts if k in f.attrs}
            n_rows = f["done"].shape[0] if "done" in f else None
            all_done = bool(np.all(f["done"][:])) if n_rows == n_images else False
    except OSError as e:
        reason = f"unreadable ({e})"
    else:
        if stored != parts:
            bad = sorted(k for k in parts if stored.get(k) != parts[k])
            reason = "attributes " + ", ".join(f"{k}={stored.get(k)!r}" for k in bad)
            reason += f" differ from {', '.join(f'{k}={parts[k]!r}' for k in bad)}"
        elif n_rows != n_images:
            reason = f"{n_rows} rows for {n_images} images"
        elif complete and not all_done:
            reason = "rows missing"
        else:
            return True
    message = f"feature cache {path} does not match its inputs: {reason}; rebuilding it"
    warnings.warn(message, stacklevel=3)  # at the caller of cached_features
    path.unlink()
    return False


def _plain(value):
    """HDF5 attribute -> Python scalar (numpy ints and strs compare unequal to JSON ones)."""
    return value.item() if isinstance(value, np.generic) else value


def _extract_missing(
    f: h5py.File,
    backbone: Backbone,
    images: ImageSet,
    rows: range,
    parts: dict,
    batch_size: int,
    device: str | torch.device,
    num_workers: int,
    progress: bool,
) -> None:
    """Fill the rows of ``f`` whose ``done`` flag is False, flushing after every batch.

    Row ``i`` of ``f`` holds image ``rows[i]``.
    """
    n = len(rows)
    if "done" not in f:
        f.attrs.update(parts)
        f.attrs["brainenc_version"] = __version__
        f.create_dataset("done", shape=(n,), dtype=bool, fillvalue=False)
    done = f["done"]
    missing = np.flatnonzero(~done[:]) + rows.start
    with (
        tqdm(
            total=n, initial=n - len(missing), unit="img", desc=parts["spec"], disable=not progress
        ) as bar,
        _running(backbone, device, amp=True),
    ):
        batches = _feature_batches(
            backbone, images, missing, parts["feature_type"], batch_size, device, num_workers
        )
        for chunk, feats in batches:
            if "features" not in f:  # shape known from the first batch; contiguous for mmap
                f.create_dataset("features", shape=(n, *feats.shape[1:]), dtype=parts["dtype"])
            local = _rows(chunk - rows.start)
            f["features"][local] = feats.astype(parts["dtype"])
            done[local] = True
            f.flush()
            bar.update(len(chunk))


def _merge(partial: Path, path: Path, parts: dict, n: int, shards: list) -> None:
    """Copy the complete rank files of ``shards`` ([lo, hi) rows each) into ``partial``."""
    with h5py.File(partial, "w") as out:
        out.attrs.update(parts)
        out.attrs["brainenc_version"] = __version__
        out.create_dataset("done", data=np.ones(n, bool))
        for lo, hi in shards:
            src_path = path.with_suffix(f".rows{lo}-{hi}.partial.h5")
            with h5py.File(src_path, "r") as f:
                src = f["features"]
                if "features" not in out:
                    out.create_dataset("features", shape=(n, *src.shape[1:]), dtype=src.dtype)
                step = max(1, 2**28 // max(1, src[0].nbytes))  # about 256 MB at a time
                for a in range(0, hi - lo, step):
                    out["features"][lo + a : min(hi, lo + a + step)] = src[a : a + step]
            src_path.unlink()


def _rows(chunk: np.ndarray) -> slice | np.ndarray:
    """A slice for a run of consecutive rows (fast in h5py), else the increasing row indices."""
    if chunk[-1] - chunk[0] == len(chunk) - 1:
        return slice(int(chunk[0]), int(chunk[-1]) + 1)
    return chunk


def _read(path: Path, mmap: bool) -> np.ndarray:
    with h5py.File(path, "r") as f:
        features = f["features"]
        if not mmap:
            return features[...]
        offset = features.id.get_offset()
        shape, dtype = features.shape, features.dtype
    return np.memmap(path, mode="r", dtype=dtype, shape=shape, offset=offset)
