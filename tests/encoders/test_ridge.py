"""The ridge solver against scikit-learn (leave-one-out), himalaya (k folds) and the hat matrix."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from himalaya.backend import get_backend, set_backend
from himalaya.ridge import RidgeCV as HimalayaRidgeCV
from sklearn.linear_model import RidgeCV as SklearnRidgeCV

from brainenc.encoders import LinearEncoder
from brainenc.encoders._ridge import RidgeCVSolver

ALPHAS = np.logspace(-2, 8, 11)


def _problem(n_images, n_features, n_targets, seed=0):
    """Features of unequal scales with an offset; targets of mixed SNR, some pure noise."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_images, n_features)) * rng.uniform(0.1, 3, n_features) + 5
    w = rng.standard_normal((n_features, n_targets)) * (rng.random(n_targets) < 0.8) / 4
    noise = rng.standard_normal((n_images, n_targets)) * rng.uniform(0.2, 4, n_targets)
    return x.astype(np.float32), (x @ w + noise + 10).astype(np.float32)


@pytest.mark.parametrize("shape", [(300, 40), (60, 90)], ids=["n>p", "n<p"])
def test_loo_matches_sklearn(shape):
    x, y = _problem(*shape, 50)
    ours = RidgeCVSolver(x, ALPHAS, cv="loo").solve(y)
    ref = SklearnRidgeCV(alphas=ALPHAS, alpha_per_target=True, store_cv_results=True)
    ref.fit(x.astype(np.float64), y.astype(np.float64))
    loo_mse = ref.cv_results_.mean(0)  # (n_targets, n_alphas), from (n_images, ...)
    np.testing.assert_allclose(-ours.cv_scores, loo_mse.min(1), rtol=1e-4)
    # the same alpha, or one whose reference error ties the minimum to float32 precision
    chosen = loo_mse[np.arange(50), np.searchsorted(ALPHAS, ours.best_alphas)]
    np.testing.assert_allclose(chosen, loo_mse.min(1), rtol=1e-5)
    same = ours.best_alphas == ref.alpha_
    assert same.mean() >= 0.95
    scale = np.abs(ref.coef_).max()
    np.testing.assert_allclose(ours.coef[:, same], ref.coef_[same].T, atol=2e-5 * scale)
    intercept = ours.intercept - x.mean(0, dtype=np.float64) @ ours.coef
    np.testing.assert_allclose(intercept[same], ref.intercept_[same], rtol=1e-4, atol=1e-4)


def test_kfold_matches_himalaya():
    x, y = _problem(250, 30, 40)
    ours = RidgeCVSolver(x, ALPHAS, cv=5).solve(y)
    previous = get_backend().name
    set_backend("numpy")
    try:
        params = {"local_alpha": True, "warn": False}
        ref = HimalayaRidgeCV(alphas=ALPHAS, cv=5, fit_intercept=True, solver_params=params)
        ref.fit(x.astype(np.float64), y.astype(np.float64))
    finally:
        set_backend(previous)
    np.testing.assert_allclose(ours.best_alphas, ref.best_alphas_, rtol=1e-6)
    np.testing.assert_allclose(ours.coef, ref.coef_, atol=2e-5 * np.abs(ref.coef_).max())
    np.testing.assert_allclose(ours.cv_scores, ref.cv_scores_, rtol=1e-4)


def test_gcv_matches_hat_matrix():
    x, y = _problem(80, 20, 6)
    ours = RidgeCVSolver(x, ALPHAS, cv="gcv").solve(y)
    xc = x - x.mean(0, dtype=np.float64)
    yc = y - y.mean(0, dtype=np.float64)
    gcv = []
    for alpha in ALPHAS:
        hat = xc @ np.linalg.solve(xc.T @ xc + alpha * np.eye(20), xc.T) + 1 / 80
        residual = yc - (hat - 1 / 80) @ yc
        gcv.append((residual**2).mean(0) / (1 - np.trace(hat) / 80) ** 2)
    gcv = np.array(gcv)
    np.testing.assert_array_equal(ours.best_alphas, ALPHAS[gcv.argmin(0)])
    np.testing.assert_allclose(-ours.cv_scores, gcv.min(0), rtol=1e-4)


def test_gcv_and_loo_choose_alike_when_images_outnumber_features():
    x, y = _problem(2000, 50, 200)
    gcv = RidgeCVSolver(x, ALPHAS, cv="gcv").solve(y).best_alphas
    loo = RidgeCVSolver(x, ALPHAS, cv="loo").solve(y).best_alphas
    steps = np.abs(np.log10(gcv) - np.log10(loo))
    assert (steps == 0).mean() >= 0.95 and steps.max() <= 1


def test_constant_features_give_zero_weights():
    x = np.ones((30, 4), np.float32)
    y = np.random.default_rng(0).standard_normal((30, 3)).astype(np.float32)
    for cv in ("gcv", "loo", 3):
        solution = RidgeCVSolver(x, ALPHAS, cv=cv).solve(y)
        assert not solution.coef.any()
        np.testing.assert_allclose(solution.intercept, y.mean(0), rtol=1e-6)


def test_encoder_blocks_and_cv_choices(world):
    x, y = world.features[world.train], world.responses[world.train]
    for cv in ("loo", 4):
        whole = LinearEncoder(cv=cv).fit(x, y)
        blocks = LinearEncoder(cv=cv, n_targets_batch=7).fit(x, y)
        # pure-noise targets (the last 5) have flat validation curves: ties may fall either way
        np.testing.assert_array_equal(blocks.best_alphas_[:20], whole.best_alphas_[:20])
        np.testing.assert_allclose(blocks.coef_[:, :20], whole.coef_[:, :20], rtol=1e-5, atol=1e-6)
        r = whole.score(world.features[world.test], world.responses[world.test])
        assert np.all(np.abs(r[:20] - world.max_r()[:20]) < 0.08)


def test_solver_errors():
    x, y = _problem(20, 3, 2)
    with pytest.raises(ValueError, match="cv must be one of gcv, loo, a number of folds"):
        RidgeCVSolver(x, ALPHAS, cv="kfold")
    with pytest.raises(ValueError, match="device must be one of cpu, cuda; got 'tpu'"):
        RidgeCVSolver(x, ALPHAS, device="tpu")
    with pytest.raises(ValueError, match="alphas must be a non-empty list of positive"):
        RidgeCVSolver(x, [0.0, 1.0])
    with pytest.raises(ValueError, match="responses has 19 rows but the features have 20"):
        RidgeCVSolver(x, ALPHAS).solve(y[:-1])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    x, y = _problem(300, 40, 50)
    for cv in ("gcv", "loo", 5):
        cpu = RidgeCVSolver(x, ALPHAS, cv=cv).solve(y)
        gpu = RidgeCVSolver(x, ALPHAS, cv=cv, device="cuda").solve(y)
        np.testing.assert_array_equal(gpu.best_alphas, cpu.best_alphas)
        np.testing.assert_allclose(gpu.coef, cpu.coef, atol=1e-5 * np.abs(cpu.coef).max())
