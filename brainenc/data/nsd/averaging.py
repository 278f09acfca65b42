"""The arithmetic of NSD's recipe: z-scoring within a session and NaN-aware repeat averaging."""

from __future__ import annotations

import warnings

import numpy as np


def zscore_rows(data: np.ndarray, block: int = 64) -> np.ndarray:
    """Z-score each column of ``data`` (n_trials, n_targets) in place (population std).

    Means and variances accumulate in float64 over row blocks, so memory stays at one copy of
    ``data`` plus O(n_targets). Non-finite values (NaN trials) are left out of a column's mean and
    std and stay non-finite. A constant column becomes 0.
    """
    n_cols = data.shape[1]
    total, count = np.zeros(n_cols, np.float64), np.zeros(n_cols, np.int64)
    for i in range(0, data.shape[0], block):
        d = data[i : i + block]
        finite = np.isfinite(d)
        total += np.where(finite, d, 0).sum(axis=0, dtype=np.float64)
        count += finite.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / count, 0.0)
    var = np.zeros_like(mean)
    for i in range(0, data.shape[0], block):
        d = data[i : i + block].astype(np.float64) - mean
        var += np.where(np.isfinite(d), d * d, 0).sum(axis=0)
    std = np.sqrt(var / np.maximum(count, 1))
    with np.errstate(divide="ignore"):
        inv = np.where(std > 0, 1.0 / std, 0.0).astype(np.float32)
    mean32 = mean.astype(np.float32)
    for i in range(0, data.shape[0], block):
        data[i : i + block] -= mean32
        data[i : i + block] *= inv
    return data


class MissingTrials:
    """The NaN policy of repeat averaging: a non-finite single-trial beta is left out.

    :meth:`drop` zeroes the non-finite values of a session block (so they add nothing to the
    weighted sums) and remembers where they were; :meth:`fix` then rescales each affected average
    from its image's ``n`` trials to the ``n - k`` finite ones (NaN when none is finite), warns,
    and returns how many single-trial values were left out.
    """

    def __init__(self, n_trials: np.ndarray):
        self.n_trials = n_trials
        self.rows: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []

    def drop(self, block: np.ndarray, rows: np.ndarray, col0: int) -> None:
        bad = ~np.isfinite(block)
        if bad.any():
            t, c = np.nonzero(bad)
            self.rows.append(rows[t])
            self.cols.append(c + col0)
            block[bad] = 0

    def fix(self, responses) -> int:
        if not self.rows:
            return 0
        n_cols = responses.shape[1]
        keys, k = np.unique(
            np.concatenate(self.rows) * n_cols + np.concatenate(self.cols), return_counts=True
        )
        rows, cols = np.divmod(keys, n_cols)
        n = self.n_trials[rows]
        scale = np.where(k < n, n / np.maximum(n - k, 1), np.nan).astype(np.float32)
        for row in np.unique(rows):
            sel = rows == row
            values = responses[row, cols[sel]].astype(np.float32) * scale[sel]
            responses[row, cols[sel]] = values.astype(responses.dtype)
        warnings.warn(
            f"{int(k.sum())} single-trial betas were NaN or inf (in {len(np.unique(cols))} "
            f"targets); each was left out of its image's average, and {int((k >= n).sum())} "
            "averages with no finite trial are NaN",
            stacklevel=4,
        )
        return int(k.sum())
