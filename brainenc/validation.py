"""Input checks shared by every stage: one place, one wording for each error."""

from __future__ import annotations

import numpy as np


class UsageError(ValueError):
    """A command-line argument is invalid; the ``brainenc`` command exits with status 2."""


def as_float_array(x, name: str, ndim: int | tuple[int, ...] = 2) -> np.ndarray:
    """Return ``x`` as a float32/float64 numpy array of the given rank, or raise ``ValueError``."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    ndims = (ndim,) if isinstance(ndim, int) else ndim
    if x.ndim not in ndims:
        expected = " or ".join(f"{d}-D" for d in ndims)
        raise ValueError(f"{name} must be {expected}; got an array of shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
    return x


def check_features(features, ndim: int | tuple[int, ...] = (2, 3)) -> np.ndarray:
    """``features`` as a float array of the given rank; NaN or inf in any image raises."""
    features = as_float_array(features, "features", ndim=ndim)
    if not np.isfinite(features).all():
        bad = np.flatnonzero(~np.isfinite(features.reshape(len(features), -1)).all(axis=1))
        raise ValueError(
            f"features has NaN or inf in {len(bad)} images (first rows: {bad[:5].tolist()}); "
            "check the backbone's input images or the feature cache"
        )
    return features


def check_alphas(alphas) -> np.ndarray:
    """Ridge penalties as a float64 vector: non-empty, positive and finite in float32."""
    alphas = np.asarray(alphas, dtype=np.float64).ravel()
    limit = float(np.finfo(np.float32).max)
    if alphas.size == 0 or not ((alphas > 0) & (alphas <= limit)).all():
        raise ValueError(
            f"alphas must be a non-empty list of positive finite numbers up to {limit:.1e} (the "
            f"solver computes in float32); got {alphas}"
        )
    return alphas


def check_cv(cv, n_images: int) -> None:
    """An integer ``cv`` must give folds of at least one image: 2 <= cv <= n_images."""
    if isinstance(cv, bool) or (isinstance(cv, int | np.integer) and not 2 <= cv <= n_images):
        raise ValueError(
            f"cv={cv!r} folds for {n_images} images; use an integer from 2 to {n_images} (or a "
            "scikit-learn splitter)"
        )


def nan_columns(y: np.ndarray) -> np.ndarray:
    """Indices of the columns of ``y`` that hold any non-finite value."""
    return np.flatnonzero(~np.isfinite(y).all(axis=0))


def check_cuda(device: str) -> None:
    """Refuse ``device="cuda"`` when torch sees no CUDA device."""
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise RuntimeError("device='cuda' but torch sees no CUDA device; use device='cpu'")


def device_argument(value: str) -> str:
    """An argparse ``type`` for ``--device``: ``"cpu"``, or ``"cuda"`` where torch sees a CUDA
    device (argparse then prints the refusal as one line)."""
    import argparse

    if value not in ("cpu", "cuda"):
        raise argparse.ArgumentTypeError(f"choose cpu or cuda; got {value!r}")
    try:
        check_cuda(value)
    except RuntimeError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return value


def check_nan_policy(nan_targets: str) -> None:
    """An encoder's ``nan_targets`` hyperparameter must be ``"raise"`` or ``"ignore"``."""
    if nan_targets not in ("raise", "ignore"):
        raise ValueError(f"nan_targets must be 'raise' or 'ignore'; got {nan_targets!r}")


def finite_targets(responses: np.ndarray, nan_targets: str) -> np.ndarray:
    """Bool mask of the response columns that are all finite; under ``nan_targets="raise"`` a
    column with NaN or inf raises, naming the fix."""
    valid = np.isfinite(responses).all(axis=0)
    if not valid.all() and nan_targets == "raise":
        raise ValueError(
            f"responses has NaN or inf in {(~valid).sum()} targets; drop them first, or "
            "pass nan_targets='ignore' to fit the finite targets only"
        )
    return valid


def check_pair(features, responses, *, allow_nan_targets: bool = False):
    """Validate a ``(features, responses)`` pair that an encoder fits or scores.

    Parameters
    ----------
    features : array of shape (n_images, n_features) or (n_images, n_tokens, n_features)
    responses : array of shape (n_images, n_targets)
    allow_nan_targets : bool
        When False (the default) a response column with NaN/inf raises; when True such columns
        are allowed (the caller excludes them) but a column that is entirely finite is required
        somewhere.

    Returns
    -------
    features, responses : numpy arrays
    """
    features = as_float_array(features, "features", ndim=(2, 3))
    responses = as_float_array(responses, "responses", ndim=2)
    if len(features) != len(responses):
        raise ValueError(
            f"responses has {len(responses)} rows but features has {len(features)}; "
            "both must index the same images"
        )
    if len(features) < 2:
        raise ValueError(f"need at least 2 images to fit or score; got {len(features)}")
    features = check_features(features)
    bad_cols = nan_columns(responses)
    if len(bad_cols) and not allow_nan_targets:
        raise ValueError(
            f"responses has NaN or inf in {len(bad_cols)} of {responses.shape[1]} targets "
            f"(first: {bad_cols[:5].tolist()}); drop them first, or pass nan_targets='ignore' "
            "to fit the finite targets only (the others then predict NaN)"
        )
    if len(bad_cols) == responses.shape[1]:
        raise ValueError("every response column has NaN or inf values; nothing to fit")
    return features, responses


def check_indices(indices, n: int, name: str) -> np.ndarray:
    """Validate an index array into ``n`` items (integers in range, no duplicates)."""
    indices = np.asarray(indices)
    if indices.dtype == bool:
        raise ValueError(f"{name} must be integer indices, not a boolean mask")
    if indices.ndim != 1 or (indices.size and not np.issubdtype(indices.dtype, np.integer)):
        raise ValueError(f"{name} must be a 1-D array of integer indices; got {indices.dtype}")
    indices = indices.astype(np.int64)
    if indices.size and (indices.min() < 0 or indices.max() >= n):
        raise ValueError(f"{name} has indices outside [0, {n})")
    if len(np.unique(indices)) != len(indices):
        raise ValueError(f"{name} has repeated indices")
    return indices
