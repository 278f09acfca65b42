"""A linear encoder fitted, and scored, with its responses and weights on disk.

A full NSD subject is 10,000 images x 327,684 fsaverage vertices: neither its responses nor its
weights need to sit in memory. :func:`fit_out_of_core` reads the responses (the response store's
HDF5 dataset, or any array that can be sliced by columns) one block of targets at a time, in the
store's chunk order, and writes each block's weights into the encoder directory as soon as it is
solved; the block size follows the ``memory`` budget, so peak memory does not grow with the
number of targets. The directory is the one :meth:`Encoder.save` writes (``config.json`` +
``weights.safetensors``, loadable with :func:`load_encoder`). While the fit runs it is built
in ``.<name>.partial`` next to the target, with progress files that list the finished blocks:
a killed fit started again with the same inputs resumes after its last finished block.
:func:`score_out_of_core` streams predictions and scores the same way.

Under ``torchrun`` (an initialised ``torch.distributed`` process group) the blocks are shared
out among the ranks, which write their disjoint columns of the same weights file; the directory
must be on a file system every rank sees.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import resource
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..distributed import barrier, broadcast, rank_and_world
from ..validation import as_float_array, check_indices
from .base import (
    CONFIG_FILE,
    METRICS,
    WEIGHTS_FILE,
    _check_target_dir,
    _read_config,
    _replace_dir,
)
from .linear import LinearEncoder, _pooled

PROGRESS_FILE = "progress.{rank}.json"
"""Blocks finished by one rank (the union over ranks is what a resumed fit skips)."""
_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20,
          "GIB": 2**30}  # fmt: skip
_SAFETENSORS_DTYPES = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64",
                       np.dtype(bool): "BOOL"}  # fmt: skip


def parse_memory(memory) -> int:
    """Bytes of a memory budget given as a number of bytes or a string such as ``"4GB"``."""
    if isinstance(memory, int | float) and memory > 0:
        return int(memory)
    match = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]*)\s*", str(memory))
    if not match or match[2].upper() not in _UNITS or float(match[1]) <= 0:
        raise ValueError(
            f"memory must be a positive number of bytes or a size such as '4GB' or '512MiB'; "
            f"got {memory!r}"
        )
    return int(float(match[1]) * _UNITS[match[2].upper()])


def fit_out_of_core(
    encoder: LinearEncoder,
    features,
    responses,
    directory,
    *,
    rows=None,
    memory="4GB",
    metadata: dict | None = None,
    progress: bool = False,
) -> Path:
    """Fit ``encoder`` block by block of targets from on-disk responses into ``directory``.

    Parameters
    ----------
    encoder : LinearEncoder
        The hyperparameters (alphas, cv, nan_targets, device); it is not modified.
    features : array of shape (n_rows, n_features)
        Features of the images in ``rows`` (in that order).
    responses : h5py.Dataset, np.memmap or array of shape (n_images, n_targets)
        Read ``responses[rows, a:b]`` at a time (a store's ``BrainData.responses``).
    directory : path-like
        The encoder directory to write (replaced if it holds an encoder).
    rows : int array of shape (n_rows,), optional
        Rows of ``responses`` to fit on (e.g. ``data.train``); all rows by default.
    memory : int or str
        Budget for the whole process's resident memory, e.g. ``"4GB"``; the block of targets is
        as large as fits (whole store chunks when possible), unless the encoder's
        ``n_targets_batch`` sets it.
    metadata : dict, optional
        Provenance written into ``config.json``, as in :meth:`Encoder.save`.
    progress : bool
        Show a progress bar over the blocks.

    Returns
    -------
    Path of the encoder directory.
    """
    if not isinstance(encoder, LinearEncoder):
        raise TypeError(f"fit_out_of_core fits a LinearEncoder; got {type(encoder).__name__}")
    directory = _check_target_dir(directory)
    features = _pooled(as_float_array(features, "features", ndim=2))
    n_images, n_targets = responses.shape
    rows = np.arange(n_images) if rows is None else check_indices(rows, n_images, "rows")
    if len(rows) != len(features):
        raise ValueError(
            f"features has {len(features)} rows but {len(rows)} response rows are fitted; "
            "both must index the same images"
        )
    order = np.argsort(rows, kind="stable")  # HDF5 reads rows in increasing order
    rows, features = rows[order], np.asarray(features[order], np.float32)
    rank, world = rank_and_world()
    solver = encoder._solver(features)
    per_target = solver.bytes_per_target() + len(rows) * np.dtype(responses.dtype).itemsize
    block = encoder.n_targets_batch or _block_size(
        parse_memory(memory), per_target, responses, n_targets
    )
    block = broadcast(block)  # every rank cuts the same blocks
    fingerprint = _fingerprint(encoder, features, rows, responses, block)
    shapes = {
        "best_alphas": (n_targets,),
        "cv_scores": (n_targets,),
        "coef": (solver.n_features, n_targets),
        "intercept": (n_targets,),
        "x_mean": (solver.n_features,),
        "valid_targets": (n_targets,),
    }
    dtypes = {"best_alphas": np.float64, "cv_scores": np.float64, "valid_targets": bool}
    layout = {k: (s, dtypes.get(k, np.float32)) for k, s in shapes.items()}
    partial = directory.with_name(f".{directory.name}.partial")
    if rank == 0:
        _prepare_partial(partial, fingerprint)
        with _Weights(partial / WEIGHTS_FILE, layout) as weights:
            weights.write("x_mean", solver.x_mean.float().cpu().numpy())
    barrier()
    done = _finished_blocks(partial, fingerprint)
    mine = [a for a in range(0, n_targets, block) if a not in done][rank::world]
    select = slice(None) if len(rows) == n_images else rows
    with _Weights(partial / WEIGHTS_FILE, layout) as weights:
        for a in tqdm(mine, desc="ridge (out of core)", unit="block", disable=not progress):
            b = min(a + block, n_targets)
            fitted = encoder._fit_block(solver, np.asarray(responses[select, a:b], np.float32))
            for name, values in fitted.items():
                weights.write(name, values, columns=slice(a, b))
            os.fsync(weights.fd)  # the block is on disk before the progress file says so
            done.add(a)
            state = {"fingerprint": fingerprint, "done": sorted(done)}
            _write_json(partial / PROGRESS_FILE.format(rank=rank), state)
    barrier()
    if rank == 0:
        (partial / CONFIG_FILE).write_text(encoder._config_text(shapes, metadata))
        for path in partial.glob(PROGRESS_FILE.format(rank="*")):
            path.unlink()
        _replace_dir(partial, directory)
    barrier()
    return directory


def score_out_of_core(
    directory, features, responses, *, rows=None, metric: str = "r", memory="4GB"
) -> np.ndarray:
    """Score a saved linear encoder block by block of targets, weights and responses on disk.

    Parameters
    ----------
    directory : path-like
        A linear encoder directory (from :func:`fit_out_of_core` or :meth:`Encoder.save`).
    features : array of shape (n_rows, n_features)
    responses : h5py.Dataset or array of shape (n_images, n_targets)
    rows : int array of shape (n_rows,), optional
        Rows of ``responses`` that ``features`` describe (e.g. ``data.test``).
    metric : {"r", "r2"}
    memory : int or str
        Budget for the process's resident memory, as in :func:`fit_out_of_core`.

    Returns
    -------
    scores : array of shape (n_targets,)
        NaN for targets that were not fitted or have zero variance.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
    directory = Path(directory).expanduser()
    config = _read_config(directory)
    name = config.get("encoder", config.get("kind"))  # "kind" in format version 1
    if name != LinearEncoder.name:
        raise ValueError(f"{directory} holds a {name!r} encoder, not a linear one")
    with _Weights(directory / WEIGHTS_FILE) as weights:
        return _score(weights, features, responses, rows, metric, parse_memory(memory))


def _score(weights, features, responses, rows, metric, budget) -> np.ndarray:
    n_features, n_targets = weights.shapes["coef"]
    features = _pooled(as_float_array(features, "features", ndim=2))
    if features.shape[1] != n_features:
        raise ValueError(
            f"features has {features.shape[1]} columns but the encoder was fitted on "
            f"{n_features}; use the same backbone and layer"
        )
    n_images = responses.shape[0]
    rows = np.arange(n_images) if rows is None else check_indices(rows, n_images, "rows")
    if len(rows) != len(features) or responses.shape[1] != n_targets:
        raise ValueError(
            f"features ({len(features)} rows) and responses {responses.shape} do not match "
            f"{len(rows)} rows x {n_targets} targets"
        )
    order = np.argsort(rows, kind="stable")
    rows, features = rows[order], np.asarray(features[order], np.float32)
    x = features - weights.read("x_mean")
    # weights; float32 predictions and responses; the metric's five float64 arrays; the raw read
    per_target = 4 * n_features + (8 + 5 * 8 + responses.dtype.itemsize) * len(rows)
    block = _block_size(budget, per_target, responses, n_targets)
    select = slice(None) if len(rows) == n_images else rows
    scores = np.empty(n_targets)
    for a in range(0, n_targets, block):
        cols = slice(a, min(a + block, n_targets))
        pred = x @ weights.read("coef", cols)
        pred += weights.read("intercept", cols)
        scores[cols] = METRICS[metric](np.asarray(responses[select, cols], np.float32), pred)
    return scores


def _block_size(budget: int, per_target: int, responses, n_targets: int) -> int:
    """Targets per block within ``budget`` (less what the process holds now), in store chunks."""
    held = _resident_bytes()
    block = (budget - held) // per_target
    if block < 1:
        raise ValueError(
            f"memory={budget / 1e9:.2f} GB leaves no room for a block of targets: the process "
            f"already holds {held / 1e9:.2f} GB and each target needs {per_target / 1e6:.1f} MB; "
            "raise memory"
        )
    chunks = getattr(responses, "chunks", None)
    if chunks and block >= chunks[1]:
        block -= block % chunks[1]  # whole chunks: each is read once
    return int(min(block, n_targets))


def _resident_bytes() -> int:
    """Resident memory of this process now (peak so far where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _fingerprint(encoder, features, rows, responses, block) -> str:
    """What a resumed fit must share with the killed one."""
    source = getattr(responses, "file", None)
    if source is not None:  # h5py: the file, its size and modification time
        stat = os.stat(source.filename)
        origin = [source.filename, responses.name, stat.st_size, stat.st_mtime_ns]
    elif isinstance(responses, np.memmap):
        stat = os.stat(responses.filename)
        origin = [responses.filename, responses.offset, stat.st_size, stat.st_mtime_ns]
    else:
        origin = hashlib.sha256(np.ascontiguousarray(responses)).hexdigest()
    digest = hashlib.sha256(
        json.dumps(
            [encoder.get_params(), origin, list(responses.shape), str(responses.dtype), block],
            default=lambda v: v.tolist() if isinstance(v, np.ndarray | np.generic) else repr(v),
        ).encode()
    )
    digest.update(np.ascontiguousarray(features).tobytes())
    digest.update(rows.tobytes())
    return digest.hexdigest()


def _finished_blocks(partial: Path, fingerprint: str) -> set[int]:
    """First targets of the blocks that a partial fit with this fingerprint finished."""
    done = set()
    if not (partial / WEIGHTS_FILE).exists():
        return done
    for path in partial.glob(PROGRESS_FILE.format(rank="*")):
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if state.get("fingerprint") == fingerprint:
            done.update(state["done"])
    return done


def _prepare_partial(partial: Path, fingerprint: str) -> None:
    """Keep a partial fit of these inputs (to resume it); empty the directory otherwise."""
    if partial.exists() and not _finished_blocks(partial, fingerprint):
        for path in partial.iterdir():
            path.unlink()
    partial.mkdir(parents=True, exist_ok=True)


def _write_json(path: Path, value) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value))
    os.replace(tmp, path)


class _Weights:
    """A safetensors file read and written in place, columns at a time, never whole.

    Given ``layout`` (name → (shape, dtype)) it creates the file (or opens the existing one of
    that layout, to resume); without, it opens an existing file.
    """

    def __init__(self, path: Path, layout: dict | None = None):
        self.path = path
        if layout is not None and not path.exists():
            header, offset = {}, 0
            for name, (shape, dtype) in layout.items():
                size = int(np.prod(shape)) * np.dtype(dtype).itemsize
                header[name] = {
                    "dtype": _SAFETENSORS_DTYPES[np.dtype(dtype)],
                    "shape": list(shape),
                    "data_offsets": [offset, offset + size],
                }
                offset += size
            text = json.dumps(header).encode()
            text += b" " * (-len(text) % 8)
            with open(path, "wb") as f:
                f.write(len(text).to_bytes(8, "little") + text)
                f.truncate(8 + len(text) + offset)
        with open(path, "rb") as f:
            length = int.from_bytes(f.read(8), "little")
            header = json.loads(f.read(length))
        by_name = {v: k for k, v in _SAFETENSORS_DTYPES.items()}
        self.start = 8 + length
        self.shapes = {k: tuple(v["shape"]) for k, v in header.items() if k != "__metadata__"}
        self.dtypes = {k: by_name[header[k]["dtype"]] for k in self.shapes}
        self.offsets = {k: header[k]["data_offsets"][0] for k in self.shapes}
        self.fd = os.open(path, os.O_RDWR if layout is not None else os.O_RDONLY)

    def __enter__(self) -> _Weights:
        return self

    def __exit__(self, *exc) -> None:
        os.close(self.fd)

    def _rows(self, name: str, columns: slice):
        """(file offset, byte count) of each row's columns (a 1-D array is one row)."""
        shape, itemsize = self.shapes[name], self.dtypes[name].itemsize
        n_rows, width = (1, shape[0]) if len(shape) == 1 else shape
        a, b, _ = columns.indices(width)
        base = self.start + self.offsets[name]
        return [(base + (i * width + a) * itemsize, (b - a) * itemsize) for i in range(n_rows)]

    def write(self, name: str, values: np.ndarray, columns: slice = slice(None)) -> None:
        values = np.ascontiguousarray(values, self.dtypes[name]).reshape(-1, values.shape[-1])
        for (offset, _), row in zip(self._rows(name, columns), values, strict=True):
            os.pwrite(self.fd, row.tobytes(), offset)

    def read(self, name: str, columns: slice = slice(None)) -> np.ndarray:
        rows = self._rows(name, columns)
        out = np.empty((len(rows), rows[0][1] // self.dtypes[name].itemsize), self.dtypes[name])
        for (offset, _), row in zip(rows, out, strict=True):
            os.preadv(self.fd, [row], offset)  # straight into the array, no copy
        return out if len(self.shapes[name]) == 2 else out[0]
