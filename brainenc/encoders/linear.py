"""Linear encoder: ridge regression with a regularisation chosen per target by cross-validation."""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from ..validation import (
    check_alphas,
    check_cv,
    check_features,
    check_nan_policy,
    check_pair,
    finite_targets,
)
from ._ridge import RidgeCVSolver
from .base import Encoder

DEFAULT_ALPHAS = np.logspace(-2, 8, 11)
WORKSPACE_BYTES = 2**30
"""Working memory of one block of targets when ``n_targets_batch`` is not given."""


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

    Solved by :class:`~brainenc.encoders._ridge.RidgeCVSolver`: one decomposition of the
    centred training features serves every target and alpha, and the validation error of every
    alpha and target is computed in the rotated space, targets in blocks. The intercept is not
    penalised: features and responses are centred on the training images, and the means are kept
    (``x_mean_``, ``intercept_``).

    Parameters
    ----------
    alphas : array of shape (n_alphas,)
        Candidate regularisation strengths; each target gets the one with the smallest
        cross-validated prediction error.
    cv : {"gcv", "loo"}, int or scikit-learn splitter
        ``"gcv"`` (default): generalised cross-validation, the fastest (about two products of
        the size of ``features.T @ responses``); ``"loo"``: exact leave-one-out, as
        scikit-learn's ``RidgeCV`` (about one such product per alpha); an int means
        ``KFold(cv)`` over images, unshuffled, each fold centred on its training images.
    nan_targets : {"raise", "ignore"}
        What to do with response columns holding NaN/inf. ``"raise"`` (default) refuses them;
        ``"ignore"`` fits only the finite columns: the others keep zero weights and a NaN
        intercept, so they predict NaN and score NaN.
    device : {"cpu", "cuda"}
        Where the solver runs; the fitted arrays always end on the CPU as numpy.
    n_targets_batch : int, optional
        Solve this many targets at a time; by default as many as fit in about 1 GiB of working
        memory.

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
        Cross-validated score at the best alpha: minus the mean squared prediction error
        (NaN for ignored targets).
    valid_targets_ : bool array of shape (n_targets,)
        Targets that were fitted.
    n_features_in_, n_targets_ : int
    feature_shape_ : tuple
        ``(n_features_in_,)``, the shape of one image's features.
    """

    name = "linear"
    feature_type = "embed"
    _fitted = ("coef_", "intercept_", "x_mean_", "best_alphas_", "cv_scores_", "valid_targets_")

    def __init__(
        self,
        alphas=DEFAULT_ALPHAS,
        cv="gcv",
        nan_targets: str = "raise",
        device: str = "cpu",
        n_targets_batch: int | None = None,
    ):
        self.alphas = alphas
        self.cv = cv
        self.nan_targets = nan_targets
        self.device = device
        self.n_targets_batch = n_targets_batch

    def fit(self, features, responses, *, progress: bool = False) -> LinearEncoder:
        """Fit the ridge weights and per-target alphas.

        Parameters
        ----------
        features : array of shape (n_images, n_features)
        responses : array of shape (n_images, n_targets)
        progress : bool
            Show a progress bar over the blocks of targets.

        Returns
        -------
        self
        """
        features, responses = check_pair(
            features, responses, allow_nan_targets=self.nan_targets == "ignore"
        )
        solver = self._solver(_pooled(features))
        n_targets = responses.shape[1]
        arrays = {
            "coef": np.empty((solver.n_features, n_targets), np.float32),
            "intercept": np.empty(n_targets, np.float32),
            "x_mean": solver.x_mean.float().cpu().numpy(),
            "best_alphas": np.empty(n_targets),
            "cv_scores": np.empty(n_targets),
            "valid_targets": np.empty(n_targets, bool),
        }
        batch = self.n_targets_batch or max(1, WORKSPACE_BYTES // solver.bytes_per_target())
        blocks = [slice(a, a + batch) for a in range(0, n_targets, batch)]
        for block in tqdm(blocks, desc="ridge", unit="block", disable=not progress):
            for name, values in self._fit_block(solver, responses[:, block]).items():
                arrays[name][..., block] = values
        self._set_arrays(arrays)
        return self

    def _solver(self, features: np.ndarray) -> RidgeCVSolver:
        check_nan_policy(self.nan_targets)
        check_cv(self.cv, len(features))
        return RidgeCVSolver(features, check_alphas(self.alphas), cv=self.cv, device=self.device)

    def _fit_block(self, solver: RidgeCVSolver, responses: np.ndarray) -> dict[str, np.ndarray]:
        """The fitted arrays (but ``x_mean``) of one block of targets, shape (..., n_block)."""
        valid = finite_targets(responses, self.nan_targets)
        n = len(valid)
        block = {
            "coef": np.zeros((solver.n_features, n), np.float32),
            "intercept": np.full(n, np.nan, np.float32),
            "best_alphas": np.full(n, np.nan),
            "cv_scores": np.full(n, np.nan),
            "valid_targets": valid,
        }
        if valid.any():
            solution = solver.solve(responses if valid.all() else responses[:, valid])
            block["coef"][:, valid] = solution.coef
            block["intercept"][valid] = solution.intercept
            block["best_alphas"][valid] = solution.best_alphas
            block["cv_scores"][valid] = solution.cv_scores
        return block

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

    def feature_weights(self) -> np.ndarray:
        """``coef_.T``: each target's ridge weights, (n_targets, n_features)."""
        self._check_fitted()
        return np.ascontiguousarray(self.coef_.T)

    def fit_to_directory(self, features, responses, directory, *, rows=None, metadata=None,
                         memory=None, rois=None, progress: bool = False):  # fmt: skip
        """Fit out of core (see :func:`~brainenc.encoders.fit_out_of_core`): the responses are
        read, and the weights written, one block of targets at a time within ``memory``
        (default 4GB); a killed fit started again resumes. ``rois`` is not needed."""
        from .out_of_core import fit_out_of_core

        return fit_out_of_core(
            self, features, responses, directory, rows=rows, memory=memory or "4GB",
            metadata=metadata, progress=progress,
        )  # fmt: skip

    def cortical_maps(self, model: str) -> dict:
        """The chosen ridge alpha of every target (``alpha_<model>``)."""
        from ..maps import kinds

        self._check_fitted()
        return {"alpha": kinds.alpha_map(self.best_alphas_, alphas=self.alphas, model=model)}

    def _after_load(self) -> None:
        self.n_features_in_, self.n_targets_ = self.coef_.shape
        self.feature_shape_ = (self.n_features_in_,)


def _pooled(features: np.ndarray) -> np.ndarray:
    if features.ndim != 2:
        raise ValueError(
            f"LinearEncoder takes pooled features of shape (n_images, n_features); got "
            f"token features of shape {features.shape}: pool them (e.g. features.mean(1), or "
            "the backbone's embed()) or use the routing encoder"
        )
    return features
