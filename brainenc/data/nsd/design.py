"""NSD's experimental design: which image each trial showed, and the shared-1000 test split."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

TRIALS_PER_SESSION = 750


@dataclass
class NSDDesign:
    """NSD's ``nsd_expdesign.mat``, converted to 0-based indices.

    Attributes
    ----------
    masterordering : int array (n_trials_total,)
        For each trial of the full design, the column of ``subjectim`` shown (0-based).
    subjectim : int array (8, 10000)
        Each subject's images as 0-based 73k ids; the first 1000 columns are the shared images.
    sharedix : int array (1000,)
        The shared images as 0-based 73k ids.
    """

    masterordering: np.ndarray
    subjectim: np.ndarray
    sharedix: np.ndarray

    @classmethod
    def load(cls, path) -> NSDDesign:
        """Read ``nsd_expdesign.mat`` (MATLAB v5), checking shapes and 1-based indices."""
        from scipy.io import loadmat

        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(
                f"{path} is missing; download it with `brainenc data download nsd --subject N`"
            )
        try:
            mat = loadmat(str(path))
        except Exception as e:  # scipy raises anything from IndexError to OSError on bad files
            raise ValueError(
                f"{path} is not a readable MATLAB file ({type(e).__name__}: {e}); it is truncated "
                "or corrupt: delete it and download it again (brainenc data download nsd)"
            ) from None
        for name in ("masterordering", "subjectim", "sharedix"):
            if name not in mat:
                raise ValueError(f"{path} has no variable {name!r}; is it nsd_expdesign.mat?")
        mo = np.asarray(mat["masterordering"]).reshape(-1).astype(np.int64)
        sim = np.asarray(mat["subjectim"]).astype(np.int64)
        shared = np.asarray(mat["sharedix"]).reshape(-1).astype(np.int64)
        if sim.ndim != 2:
            raise ValueError(f"{path}: subjectim has shape {sim.shape}; expected (8, 10000)")
        if mo.size % TRIALS_PER_SESSION:
            raise ValueError(
                f"{path}: masterordering has {mo.size} trials, not a multiple of "
                f"{TRIALS_PER_SESSION}"
            )
        for name, arr, hi in (
            ("masterordering", mo, sim.shape[1]),
            ("subjectim", sim, None),
            ("sharedix", shared, None),
        ):
            if arr.min() < 1 or (hi is not None and arr.max() > hi):
                raise ValueError(
                    f"{path}: {name} has values in [{arr.min()}, {arr.max()}]; NSD indices are "
                    f"1-based{f' and at most {hi}' if hi else ''}"
                )
        return cls(mo - 1, sim - 1, shared - 1)

    def trials(self, subject: int, sessions) -> tuple[np.ndarray, np.ndarray]:
        """73k ids (0-based) and session numbers of the trials of ``sessions`` for ``subject``."""
        if not 1 <= subject <= self.subjectim.shape[0]:
            raise ValueError(f"subject must be in 1..{self.subjectim.shape[0]}; got {subject}")
        n_sessions = self.masterordering.size // TRIALS_PER_SESSION
        ids, sess = [], []
        for s in sessions:
            if not 1 <= s <= n_sessions:
                raise ValueError(f"session {s} is outside the design's 1..{n_sessions}")
            cols = self.masterordering[(s - 1) * TRIALS_PER_SESSION : s * TRIALS_PER_SESSION]
            ids.append(self.subjectim[subject - 1, cols])
            sess.append(np.full(TRIALS_PER_SESSION, s))
        return np.concatenate(ids), np.concatenate(sess)


def trial_layout(trial_ids: np.ndarray, shared_ids: np.ndarray) -> dict:
    """Rows, split and repeat slots for a sequence of trials.

    Returns
    -------
    dict with
        ``image_ids`` (unique ids, sorted), ``row`` (row of each trial), ``n_trials`` (trials per
        row), ``test`` (rows of shared images), ``train`` (the other rows), ``slot`` (0-based
        occurrence number of each trial's image), ``test_pos`` (position in ``test`` of each
        trial's row, -1 for training rows).
    """
    image_ids, row = np.unique(trial_ids, return_inverse=True)
    n_trials = np.bincount(row, minlength=len(image_ids))
    is_test = np.isin(image_ids, shared_ids)
    test = np.flatnonzero(is_test)
    train = np.flatnonzero(~is_test)
    slot = np.zeros(len(trial_ids), np.int64)
    seen = np.zeros(len(image_ids), np.int64)
    for t, r in enumerate(row):
        slot[t] = seen[r]
        seen[r] += 1
    pos = np.full(len(image_ids), -1, np.int64)
    pos[test] = np.arange(len(test))
    return {
        "image_ids": image_ids,
        "row": row,
        "n_trials": n_trials,
        "test": test,
        "train": train,
        "slot": slot,
        "test_pos": pos[row],
    }
