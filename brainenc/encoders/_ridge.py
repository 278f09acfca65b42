"""Ridge regression with one regularisation per target chosen by cross-validation, in torch.

One decomposition of the centred features, ``X = U diag(s) Vᵀ`` (from the eigendecomposition of
the smaller Gram matrix, in float64), serves every target and every alpha. For a block of
targets ``Y`` (centred), the projections ``Q = Uᵀ Y`` are computed once, and each alpha only
rescales them: the fitted values are ``U diag(s² / (s² + α)) Q`` and the weights
``V diag(s / (s² + α)) Q``. The per-target validation error of each alpha follows without a
refit:

- ``"loo"``: exact leave-one-out of the model with an unpenalised intercept, from the diagonal
  of the hat matrix ``h_i = 1/n + Σ_k U_ik² s_k² / (s_k² + α)``: the error of image ``i`` left out
  is ``e_i / (1 - h_i)`` (as scikit-learn's ``RidgeCV`` computes it).
- ``"gcv"``: generalised cross-validation, ``mean(e²) / (1 - tr(H) / n)²``, the rotation-invariant
  form of leave-one-out; it needs only norms in the rotated space, no residuals per alpha.
- k folds: the features of each training fold are decomposed once (centred on that fold), and
  each alpha rescales the projections of the fold's training responses.

The large products run in float32 (CPU or CUDA); decompositions and hat-matrix diagonals in
float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.model_selection import check_cv

from ..validation import check_cuda

CRITERIA = ("gcv", "loo")
"""Cross-validation criteria computed from the full-data decomposition (besides k folds)."""

DEVICES = ("cpu", "cuda")


@dataclass
class RidgeSolution:
    """The fit of one block of targets.

    Attributes
    ----------
    coef : array of shape (n_features, n_targets), float32
    intercept : array of shape (n_targets,), float32
        Mean training response of each target.
    best_alphas : array of shape (n_targets,), float64
    cv_scores : array of shape (n_targets,), float64
        Minus the cross-validated mean squared error at the best alpha.
    """

    coef: np.ndarray
    intercept: np.ndarray
    best_alphas: np.ndarray
    cv_scores: np.ndarray


class RidgeCVSolver:
    """Per-target ridge with the alpha chosen by cross-validation, for blocks of targets.

    The features are decomposed when the solver is built; :meth:`solve` then fits any number
    of target blocks against them.

    Parameters
    ----------
    features : array of shape (n_images, n_features)
    alphas : array of shape (n_alphas,)
        Positive candidate regularisation strengths.
    cv : {"gcv", "loo"}, int or scikit-learn splitter
        Validation criterion: generalised cross-validation, exact leave-one-out, or folds over
        images (an int means ``KFold(cv)``, unshuffled).
    device : {"cpu", "cuda"}
    """

    def __init__(self, features, alphas, cv="gcv", device: str = "cpu"):
        if device not in DEVICES:
            raise ValueError(f"device must be one of {', '.join(DEVICES)}; got {device!r}")
        check_cuda(device)
        self.device = torch.device(device)
        self.alphas = np.asarray(alphas, dtype=np.float64).ravel()
        if self.alphas.size == 0 or not (self.alphas > 0).all():
            raise ValueError(f"alphas must be a non-empty list of positive numbers; got {alphas}")
        x = torch.as_tensor(np.asarray(features), dtype=torch.float64, device=self.device)
        self.n_images, self.n_features = x.shape
        self.x_mean = x.mean(0)
        self.cv = cv
        self._full = _Basis(x - self.x_mean, self.alphas)
        if isinstance(cv, str):
            if cv not in CRITERIA:
                raise ValueError(
                    f"cv must be one of {', '.join(CRITERIA)}, a number of folds or a "
                    f"scikit-learn splitter; got {cv!r}"
                )
            self._folds = None
        else:
            splitter = check_cv(cv)
            self._folds = []
            for train, val in splitter.split(np.empty((self.n_images, 1))):
                mean = x[train].mean(0)
                basis = _Basis(x[train] - mean, self.alphas)
                self._folds.append((train, val, basis, ((x[val] - mean) @ basis.v64).float()))

    def bytes_per_target(self) -> int:
        """Working memory one target needs in :meth:`solve` (float32 buffers), in bytes."""
        n, r = self.n_images, self._full.rank
        return 4 * (3 * n + 3 * r + self.n_features + 4 * len(self.alphas))

    def solve(self, responses) -> RidgeSolution:
        """Fit one block of targets.

        Parameters
        ----------
        responses : array of shape (n_images, n_targets)
            Finite values (float32 is used for the large products).

        Returns
        -------
        RidgeSolution
        """
        # torch refuses to share read-only memory (a memory-mapped file): copy such a block
        y = np.require(responses, np.float32, ["W"])
        y = torch.as_tensor(y, device=self.device)
        if y.shape[0] != self.n_images:
            raise ValueError(
                f"responses has {y.shape[0]} rows but the features have {self.n_images}"
            )
        y_mean = y.mean(0)
        yc = y - y_mean
        del y
        full = self._full
        q = full.u.T @ yc
        spans = full.rank == full.n - 1  # U spans the centred images: nothing lies outside it
        if self._folds is not None:
            errors = 0
            for train, val, basis, val_basis in self._folds:
                y_train = yc[train]
                y_train_mean = y_train.mean(0)
                y_train -= y_train_mean
                uniform = torch.full((len(self.alphas), len(val)), 1 / len(val), device=self.device)
                errors = errors + _residual_errors(
                    yc[val] - y_train_mean, val_basis, -basis.scale, basis.u.T @ y_train, uniform
                )
            errors = errors / len(self._folds)
        elif self.cv == "loo":
            # residuals as (Y - U Q) + U (1 - shrink) Q: no cancellation at small alphas
            outside = torch.zeros_like(yc) if spans else torch.addmm(yc, full.u, q, alpha=-1)
            errors = _residual_errors(outside, full.u, full.keep, q, full.loo_weights())
        else:
            # ‖Y - U Q‖² = ‖Y‖² - ‖Q‖² (U has orthonormal columns), in float64
            rss = yc.square().sum(0).double() - q.double().square().sum(0)
            rss = torch.zeros_like(rss) if spans else rss.clamp(min=0)
            keep = full.keep.double().square() @ q.double().square()
            errors = ((rss + keep) / full.gcv_denominator()[:, None]).float()
        del yc
        errors = torch.where(torch.isnan(errors), torch.inf, errors)
        best = errors.argmin(0)
        coef = full.v @ (full.scale[best].T * q)
        return RidgeSolution(
            coef=coef.cpu().numpy(),
            intercept=y_mean.cpu().numpy(),
            best_alphas=self.alphas[best.cpu().numpy()],
            cv_scores=-errors.gather(0, best[None])[0].double().cpu().numpy(),
        )


class _Basis:
    """``x = U diag(s) Vᵀ`` (rank r) of centred features and its per-alpha factors.

    ``shrink64[a, k] = s_k² / (s_k² + α_a)`` (float64) maps projections to fitted values,
    ``keep = 1 - shrink`` to residuals and ``scale[a, k] = s_k / (s_k² + α_a)`` to weights
    (float32); all of shape (n_alphas, r).
    """

    def __init__(self, x: torch.Tensor, alphas: np.ndarray):
        n, p = x.shape
        gram = x.T @ x if p <= n else x @ x.T
        eig, vec = torch.linalg.eigh(gram)
        keep = eig > eig.max().clamp(min=0) * max(n, p) * torch.finfo(torch.float64).eps
        eig, vec = eig[keep], vec[:, keep]
        s = eig.sqrt()
        u64, v64 = (x @ vec / s, vec) if p <= n else (vec, x.T @ vec / s)
        a = torch.as_tensor(alphas, dtype=torch.float64, device=x.device)[:, None]
        self.n, self.rank = n, len(s)
        self.u64, self.v64 = u64, v64
        self.u, self.v = u64.float(), v64.float()
        self.shrink64 = eig / (eig + a)
        self.keep = (a / (eig + a)).float()
        self.scale = (s / (eig + a)).float()

    def loo_weights(self) -> torch.Tensor:
        """``1 / (n (1 - h_i)²)`` for every alpha and image, shape (n_alphas, n), float32."""
        leverage = self.u64.square()
        # 1 - h = (1 - 1/n - Σ_k U_ik²) + Σ_k U_ik² α / (s_k² + α), both terms non-negative
        one_minus_h = (1 - 1 / self.n - leverage.sum(1)).clamp(min=0)[None] + (
            (1 - self.shrink64) @ leverage.T
        )
        return (1 / (self.n * one_minus_h.square())).float()

    def gcv_denominator(self) -> torch.Tensor:
        """``n (1 - tr(H) / n)²`` per alpha (the intercept counts in ``tr(H)``), float64."""
        return self.n * (1 - (1 + self.shrink64.sum(1)) / self.n).square()


def _residual_errors(target, basis, factors, q, weights) -> torch.Tensor:
    """``weights[a] @ (target + basis @ (factors[a] ⊙ q))²`` for every alpha ``a``.

    Shapes: target (m, v), basis (m, r), factors (n_alphas, r), q (r, v), weights
    (n_alphas, m); returns (n_alphas, v). One (m, v) buffer is reused across alphas.
    """
    errors = torch.empty(len(factors), target.shape[1], device=target.device)
    residual = torch.empty_like(target)
    for a in range(len(factors)):
        torch.addmm(target, basis, factors[a, :, None] * q, out=residual)
        torch.mv(residual.square_().T, weights[a], out=errors[a])
    return errors
