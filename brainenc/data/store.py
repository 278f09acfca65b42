"""The on-disk response store: one subject's prepared responses in a chunked HDF5 file.

Layout (all written by :class:`StoreWriter`)::

    /responses      (n_images, n_targets) float16 or float32, chunks of one row x <=16384 targets
    /repeats        (n_repeats, n_test, n_targets), single-trial test responses, NaN = missing
    /image_ids      (n_images,) int64, the dataset's image ids (NSD: 0-based 73k index)
    /n_trials       (n_images,) int16, trials averaged into each row
    /train, /test   int64 row indices
    /noise_ceiling, /ncsnr   (n_targets,) float64, optional
    /space          attrs name; datasets vertices or mask + affine
    /rois/<name>    bool (n_targets,)
    attrs           meta (JSON), inputs (JSON fingerprint of what produced it), complete

The writer fills a temporary file next to the target and renames it into place only when
everything was written; on any error the temporary file is removed, so a store either exists
complete or not at all. Rows are filled by accumulation (:meth:`StoreWriter.add_rows`), so a
reader can stream its sources session by session without ever holding a whole subject in memory.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np

from .brain_data import BrainData
from .images import ImageSet
from .space import Space

CHUNK_TARGETS = 16384
_DTYPES = {"float16": np.float16, "float32": np.float32}
STORE_VERSION = 1


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("brainenc")
    except Exception:  # not installed (running from a source tree)
        return "unknown"


class StoreWriter:
    """Create a response store atomically.

    Use as a context manager; the store appears at ``path`` only when the ``with`` block ends
    without error.

    Parameters
    ----------
    path : path-like
        Final path of the store (``.h5``).
    n_images, n_targets : int
        Shape of the responses.
    dtype : {"float32", "float16"}
        Storage precision of responses and repeats.
    n_repeats, n_test : int
        Shape of the single-trial test responses (0 for none).
    """

    def __init__(
        self,
        path,
        n_images: int,
        n_targets: int,
        dtype: str = "float32",
        n_repeats: int = 0,
        n_test: int = 0,
    ):
        import h5py

        if dtype not in _DTYPES:
            raise ValueError(f"dtype must be 'float32' or 'float16'; got {dtype!r}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.part")
        self.dtype = _DTYPES[dtype]
        self.n_targets = n_targets
        cols = max(1, min(n_targets, CHUNK_TARGETS))
        self.chunk_cols = cols
        # a cache that holds one column block of touched rows keeps read-modify-write cheap
        self.file = h5py.File(self.tmp, "w", rdcc_nbytes=64 * 2**20, rdcc_nslots=100_003)
        self.responses = self.file.create_dataset(
            "responses", (n_images, n_targets), dtype=self.dtype, chunks=(1, cols), fillvalue=0
        )
        self.repeats = None
        if n_repeats and n_test:
            self.repeats = self.file.create_dataset(
                "repeats",
                (n_repeats, n_test, n_targets),
                dtype=self.dtype,
                chunks=(1, 1, cols),
                fillvalue=np.nan,
            )

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.file.attrs["complete"] = True
            self.file.attrs["store_version"] = STORE_VERSION
            self.file.attrs["brainenc_version"] = _version()
            self.file.close()
            os.replace(self.tmp, self.path)
        else:
            self.file.close()
            self.tmp.unlink(missing_ok=True)
        return False

    # -- rows ---------------------------------------------------------------------------------
    def _blocks(self, col0: int, k: int):
        """Column ranges of [col0, col0 + k) split at chunk boundaries."""
        c, end = col0, col0 + k
        while c < end:
            nxt = min(end, (c // self.chunk_cols + 1) * self.chunk_cols)
            yield c, nxt
            c = nxt

    def add_rows(self, rows: np.ndarray, values: np.ndarray, col0: int = 0, weights=None) -> None:
        """Add ``weights[i] * values[i]`` to row ``rows[i]`` of the responses (columns from col0).

        Rows may repeat (an image shown twice in one block). Accumulating each trial divided by
        its image's trial count gives the repeat average without a second pass.
        """
        rows = np.asarray(rows, dtype=np.int64)
        order = np.argsort(rows, kind="stable")
        srows = rows[order]
        starts = np.flatnonzero(np.r_[True, srows[1:] != srows[:-1]])
        urows = srows[starts]
        w = None if weights is None else np.asarray(weights, np.float32)[order][:, None]
        for a, b in self._blocks(col0, values.shape[1]):
            contrib = values[order, a - col0 : b - col0]
            if w is not None:
                contrib = contrib * w
            summed = (
                np.add.reduceat(contrib, starts, axis=0) if len(starts) < len(srows) else contrib
            )
            block = self.responses[urows, a:b].astype(np.float32)
            block += summed
            self.responses[urows, a:b] = block.astype(self.dtype)

    def set_repeats(self, slots, test_pos, values: np.ndarray, col0: int = 0) -> None:
        """Write single-trial rows ``values[i]`` to ``repeats[slots[i], test_pos[i], col0:]``."""
        if self.repeats is None:
            return
        k = values.shape[1]
        for s, p, v in zip(slots, test_pos, values, strict=True):
            self.repeats[int(s), int(p), col0 : col0 + k] = v.astype(self.dtype)

    # -- everything else -----------------------------------------------------------------------
    def write_array(self, name: str, array) -> None:
        self.file.create_dataset(name, data=np.asarray(array))

    def write_space(self, space: Space) -> None:
        g = self.file.create_group("space")
        g.attrs["name"] = space.name
        g.attrs["n_targets"] = space.n_targets
        if space.vertices is not None:
            g.create_dataset("vertices", data=space.vertices)
        if space.mask is not None:
            g.create_dataset("mask", data=space.mask, compression="gzip")
        if space.affine is not None:
            g.create_dataset("affine", data=space.affine)

    def write_rois(self, rois: dict[str, np.ndarray]) -> None:
        g = self.file.create_group("rois")
        for name, mask in rois.items():
            g.create_dataset(
                name.replace("/", "_"), data=np.asarray(mask, bool), compression="gzip"
            )

    def set_meta(self, meta: dict, inputs: dict | None = None) -> None:
        self.file.attrs["meta"] = json.dumps(meta)
        self.file.attrs["inputs"] = json.dumps(inputs or {}, sort_keys=True)


def remove_unfinished(path) -> list[Path]:
    """Delete the temporary files a killed :class:`StoreWriter` of ``path`` left behind.

    Call it while holding the store's :func:`~brainenc.files.file_lock`, so that no live writer
    owns them. Returns the deleted files (a warning names them too).
    """
    path = Path(path)
    orphans = sorted(path.parent.glob(f".{path.name}.*.part"))
    for orphan in orphans:
        orphan.unlink()
    if orphans:
        warnings.warn(
            f"removed {len(orphans)} unfinished store file(s) of an interrupted run "
            f"({', '.join(p.name for p in orphans)}); preparing {path.name} from the start",
            stacklevel=3,
        )
    return orphans


def store_inputs(path) -> dict | None:
    """The input fingerprint of a complete store, or ``None`` when there is no usable store."""
    import h5py

    path = Path(path)
    if not path.exists():
        return None
    try:
        with h5py.File(path, "r") as f:
            if not f.attrs.get("complete", False):
                return None
            return json.loads(f.attrs.get("inputs", "{}"))
    except OSError:
        return None


def load_store(path, images: ImageSet, *, expect: dict | None = None) -> BrainData:
    """Open a response store as a ``BrainData`` whose responses stay on disk.

    Parameters
    ----------
    path : path-like
        The store.
    images : ImageSet
        The stimuli, one per row (the store keeps their ids in ``/image_ids``).
    expect : dict, optional
        Meta values the store must have (e.g. ``{"subject": 1}``); a mismatch raises.
    """
    import h5py

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"no response store at {path}; build it with `brainenc data prepare`"
        )
    f = h5py.File(path, "r")
    try:
        if not f.attrs.get("complete", False):
            raise ValueError(
                f"{path} is not a complete response store; delete it and prepare again"
            )
        meta = json.loads(f.attrs.get("meta", "{}"))
        for key, value in (expect or {}).items():
            if meta.get(key) != value:
                raise ValueError(
                    f"{path} was prepared for {key}={meta.get(key)!r}, not {value!r}; pass the "
                    "matching store or prepare a new one"
                )
        g = f["space"]
        space = Space(
            name=str(g.attrs["name"]),
            n_targets=int(g.attrs["n_targets"]),
            vertices=g["vertices"][()] if "vertices" in g else None,
            mask=g["mask"][()] if "mask" in g else None,
            affine=g["affine"][()] if "affine" in g else None,
        )
        rois = {name: ds[()] for name, ds in f["rois"].items()} if "rois" in f else {}
        meta["store"] = str(path)
        return BrainData(
            responses=f["responses"],
            images=images,
            train=f["train"][()],
            test=f["test"][()],
            space=space,
            rois=rois,
            noise_ceiling=f["noise_ceiling"][()] if "noise_ceiling" in f else None,
            repeats=f["repeats"] if "repeats" in f else None,
            meta=meta,
        )
    except BaseException:
        f.close()
        raise


def store_array(path, name: str) -> np.ndarray:
    """Read one small array (``image_ids``, ``n_trials``, ``ncsnr``...) from a store."""
    import h5py

    with h5py.File(path, "r") as f:
        if name not in f:
            raise KeyError(f"{path} has no dataset {name!r}; it has {sorted(f)}")
        return f[name][()]
