"""Linear encoder: ridge regression with a regularisation chosen per target by cross-validation."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from himalaya.backend import get_backend, set_backend
from himalaya.ridge import RidgeCV

from ..validation import check_alphas, check_cv, check_features, check_pair
from .base import Encoder

DEFAULT_ALPHAS = np.logspace(-2, 8, 11)
_BACKENDS = {"cpu": "torch", "cuda": "torch_cuda"}


class LinearReadout(torch.nn.Module):
    """``(x - x_mean) @ weight + bias``: a fitted linear encoder as a differentiable module.

    The arrays are buffers (they follow ``.to(device)`` and ``state_dict`` but are not trained).

    Parameters
    ----------
    weight : array of shape (n_features, n_targets)
    bias : array of shape (n_targets,)
    x_mean : array of shape (n_features,)
    """

    def __init__(self, weight, bias, x_mean):
        super().__init__()
        self.register_buffer("weight", torch.as_tensor(np.asarray(weight, np.float32)))
        self.register_buffer("bias", torch.as_tensor(np.asarray(bias, np.float32)))
        self.register_buffer("x_mean", torch.as_tensor(np.asarray(x_mean, np.float32)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map features (n_images, n_features) to predicted responses (n_images, n_targets)."""
        if x.ndim != 2 or x.shape[1] != self.weight.shape[0]:
            raise ValueError(
                f"LinearReadout expects features of shape (n_images, {self.weight.shape[0]}); "
                f"got {tuple(x.shape)}"
            )
        return (x.to(self.weight.dtype) - self.x_mean) @ self.weight + self.bias


class LinearEncoder(Encoder):
    """Ridge regression from pooled image features to every target, one alpha per target.

    Built on :class:`himalaya.ridge.RidgeCV` (SVD solver, ``local_alpha=True``) with its torch
    backend. himalaya fits no intercept here: features and responses are centred on the
    training images, and the means are kept (``x_mean_``, ``intercept_``).

    Parameters
    ----------
    alphas : array of shape (n_alphas,)
        Candidate regularisation strengths; each target gets the one with the best
        cross-validated prediction error.
    cv : int or scikit-learn splitter
        Cross-validation folds over images (an int means ``KFold(cv)``, unshuffled).
    nan_targets : {"raise", "ignore"}
        What to do with response columns holding NaN/inf. ``"raise"`` (default) refuses them;
        ``"ignore"`` fits only the finite columns: the others keep zero weights and a NaN
        intercept, so they predict NaN and score NaN.
    device : {"cpu", "cuda"}
        Where himalaya solves (backend ``"torch"`` or ``"torch_cuda"``); the fitted arrays
        always end on the CPU as numpy.
    n_targets_batch : int, optional
        Solve this many targets at a time (cross-validation and refit) to bound memory.

    Attributes
    ----------
    coef_ : array of shape (n_features, n_targets), float32
    intercept_ : array of shape (n_targets,), float32
        Mean training response of each target (NaN for ignored targets).
    x_mean_ : array of shape (n_features,), float32
        Mean training features, subtracted before ``coef_`` is applied.
    best_alphas_ : array of shape (n_targets,)
        Selected alpha of each target (NaN for ignored targets).
    cv_scores_ : array of shape (n_targets,)
        Cross-validated score at the best alpha: himalaya's ``l2_neg_loss``, i.e. minus the
        mean squared error of the centred responses (NaN for ignored targets).
    valid_targets_ : bool array of shape (n_targets,)
        Targets that were fitted.
    n_features_in_, n_targets_ : int

    Notes
    -----
    The himalaya backend is process-global: ``fit`` sets it and restores the previous one on
    exit, so do not fit from several threads at once.
    """

    kind = "linear"
    _fitted = ("coef_", "intercept_", "x_mean_", "best_alphas_", "cv_scores_", "valid_targets_")

    def __init__(
        self,
        alphas=DEFAULT_ALPHAS,
        cv=5,
        nan_targets: str = "raise",
        device: str = "cpu",
        n_targets_batch: int | None = None,
    ):
        self.alphas = alphas
        self.cv = cv
        self.nan_targets = nan_targets
        self.device = device
        self.n_targets_batch = n_targets_batch

    def fit(self, features, responses) -> LinearEncoder:
        """Fit the ridge weights and per-target alphas.

        Parameters
        ----------
        features : array of shape (n_images, n_features)
        responses : array of shape (n_images, n_targets)

        Returns
        -------
        self
        """
        if self.nan_targets not in ("raise", "ignore"):
            raise ValueError(f"nan_targets must be 'raise' or 'ignore'; got {self.nan_targets!r}")
        alphas = check_alphas(self.alphas)
        features, responses = check_pair(
            features, responses, allow_nan_targets=self.nan_targets == "ignore"
        )
        check_cv(self.cv, len(features))
        features = _pooled(features)
        valid = np.isfinite(responses).all(axis=0)
        y = responses if valid.all() else responses[:, valid]
        x_mean = features.mean(0, dtype=np.float64).astype(np.float32)
        y_mean = y.mean(0, dtype=np.float64).astype(np.float32)
        x = np.asarray(features, np.float32) - x_mean
        y = np.asarray(y, np.float32) - y_mean

        solver_params = {
            "local_alpha": True,
            "n_targets_batch": self.n_targets_batch,
            "n_targets_batch_refit": self.n_targets_batch,
            "warn": False,
        }
        with _himalaya_backend(self.device) as backend:
            ridge = RidgeCV(alphas=alphas, cv=self.cv, solver_params=solver_params).fit(x, y)
            coef = backend.to_numpy(ridge.coef_)
            best = backend.to_numpy(ridge.best_alphas_).astype(np.float64)
            cv_scores = backend.to_numpy(ridge.cv_scores_).astype(np.float64)

        n_targets = responses.shape[1]
        arrays = {
            "coef": np.zeros((features.shape[1], n_targets), np.float32),
            "intercept": np.full(n_targets, np.nan, np.float32),
            "x_mean": x_mean,
            "best_alphas": np.full(n_targets, np.nan),
            "cv_scores": np.full(n_targets, np.nan),
            "valid_targets": valid,
        }
        arrays["coef"][:, valid] = coef
        arrays["intercept"][valid] = y_mean
        # himalaya returns exp(-log alpha) in float32: snap back onto the grid
        log_dist = np.abs(np.log(best)[:, None] - np.log(alphas)[None])
        arrays["best_alphas"][valid] = alphas[log_dist.argmin(1)]
        arrays["cv_scores"][valid] = cv_scores
        self._set_arrays(arrays)
        return self

    def predict(self, features) -> np.ndarray:
        """Predicted responses.

        Parameters
        ----------
        features : array of shape (n_images, n_features)

        Returns
        -------
        array of shape (n_images, n_targets), float32
            NaN in the columns of targets ignored at fit (``nan_targets="ignore"``).
        """
        self._check_fitted()
        x = _pooled(check_features(features))
        if x.shape[1] != self.n_features_in_:
            raise ValueError(
                f"features has {x.shape[1]} columns but the encoder was fitted on "
                f"{self.n_features_in_}; use the same backbone and layer"
            )
        return (np.asarray(x, np.float32) - self.x_mean_) @ self.coef_ + self.intercept_

    def to_module(self) -> LinearReadout:
        """The fitted encoder as a :class:`LinearReadout` whose output equals :meth:`predict`."""
        self._check_fitted()
        return LinearReadout(self.coef_, self.intercept_, self.x_mean_)

    def _get_arrays(self) -> dict[str, np.ndarray]:
        return {name.rstrip("_"): getattr(self, name) for name in self._fitted}

    def _set_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        for name in self._fitted:
            setattr(self, name, arrays[name.rstrip("_")])
        self.n_features_in_, self.n_targets_ = self.coef_.shape


def _pooled(features: np.ndarray) -> np.ndarray:
    if features.ndim != 2:
        raise ValueError(
            f"LinearEncoder takes pooled features of shape (n_images, n_features); got "
            f"token features of shape {features.shape}: pool them (e.g. features.mean(1), or "
            "the backbone's embed()) or use the routing encoder"
        )
    return features


@contextmanager
def _himalaya_backend(device: str) -> Iterator:
    """Switch himalaya to the torch backend of ``device``; restore the previous one on exit."""
    if device not in _BACKENDS:
        raise ValueError(f"device must be one of {', '.join(_BACKENDS)}; got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' but torch sees no CUDA device; use device='cpu'")
    previous = get_backend().name
    try:
        yield set_backend(_BACKENDS[device])
    finally:
        set_backend(previous)
