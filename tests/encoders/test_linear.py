"""LinearEncoder: recovery of known weights, per-target alphas, intercepts and input errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError

from brainenc.encoders import LinearEncoder


def test_recovers_true_weights(world, fitted):
    clean = slice(0, 10)
    for j in range(10):
        r = np.corrcoef(fitted.coef_[:, clean][:, j], world.weights[:, clean][:, j])[0, 1]
        assert r > 0.95, f"target {j}: coefficient correlation {r:.3f}"
    assert fitted.coef_.dtype == np.float32
    assert fitted.coef_.shape == (25, 25)


def test_test_r_near_theoretical_maximum(world, fitted):
    r = fitted.score(world.features[world.test], world.responses[world.test])
    max_r = world.max_r()
    clean, noisy = slice(0, 10), slice(10, 20)
    assert abs(r[clean].mean() - max_r[clean].mean()) < 0.01
    assert r[noisy].mean() > max_r[noisy].mean() - 0.04
    assert np.all(np.abs(r[:20] - max_r[:20]) < 0.08)
    r2 = fitted.score(world.features[world.test], world.responses[world.test], metric="r2")
    assert np.all(r2[clean] > max_r[clean] ** 2 - 0.03)


def test_alphas_per_target(fitted):
    clean, noisy, noise = np.split(fitted.best_alphas_, [10, 20])
    assert np.median(clean) < np.median(noisy) < noise.min()
    assert noise.min() >= 100 * clean.max()
    assert set(fitted.best_alphas_) <= set(np.logspace(-2, 8, 11))
    assert fitted.cv_scores_.shape == (25,)
    assert np.all(fitted.cv_scores_ <= 0)  # minus a mean squared error


def test_offsets_give_intercept(world, fitted):
    train = world.responses[world.train]
    np.testing.assert_allclose(fitted.intercept_, train.mean(0), rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(fitted.x_mean_, world.features[world.train].mean(0), rtol=1e-5)
    # predicting the mean image gives the mean response
    pred = fitted.predict(fitted.x_mean_[None])
    np.testing.assert_allclose(pred[0], fitted.intercept_, rtol=1e-5)


def test_predict_matches_module(world, fitted):
    x = world.features[world.test]
    pred = fitted.predict(x)
    assert pred.dtype == np.float32 and pred.shape == (len(x), 25)
    out = fitted.to_module()(torch.from_numpy(x))
    np.testing.assert_allclose(out.numpy(), pred, rtol=1e-5, atol=1e-5)


def test_nan_target_raises_with_hint(world):
    y = world.responses[world.train].copy()
    y[3, 4] = np.nan
    with pytest.raises(ValueError, match="nan_targets='ignore'"):
        LinearEncoder().fit(world.features[world.train], y)


def test_nan_targets_ignore(world, fitted):
    y = world.responses[world.train].copy()
    y[3, 4] = np.nan
    enc = LinearEncoder(nan_targets="ignore").fit(world.features[world.train], y)
    assert enc.valid_targets_.sum() == 24 and not enc.valid_targets_[4]
    pred = enc.predict(world.features[world.test])
    assert np.isnan(pred[:, 4]).all()
    assert np.isfinite(np.delete(pred, 4, axis=1)).all()
    np.testing.assert_allclose(
        np.delete(pred, 4, axis=1),
        np.delete(fitted.predict(world.features[world.test]), 4, axis=1),
        rtol=1e-4,
        atol=1e-4,
    )
    r = enc.score(world.features[world.test], world.responses[world.test])
    assert np.isnan(r[4]) and np.isfinite(np.delete(r[:20], 4)).all()


def test_errors(world, fitted):
    x, y = world.features[world.train], world.responses[world.train]
    with pytest.raises(ValueError, match="responses has 599 rows but features has 600"):
        LinearEncoder().fit(x, y[:-1])
    with pytest.raises(NotFittedError, match=r"LinearEncoder is not fitted yet; call fit\("):
        LinearEncoder().predict(x)
    with pytest.raises(ValueError, match="unknown metric 'auc'; known: r, r2"):
        fitted.score(x, y, metric="auc")
    with pytest.raises(ValueError, match="pool them"):
        LinearEncoder().fit(np.zeros((600, 4, 25), np.float32), y)
    with pytest.raises(ValueError, match="features has 24 columns"):
        fitted.predict(x[:, :24])
    with pytest.raises(ValueError, match="nan_targets must be"):
        LinearEncoder(nan_targets="drop").fit(x, y)


def test_target_batches_give_same_fit(world, fitted):
    enc = LinearEncoder(n_targets_batch=7).fit(
        world.features[world.train], world.responses[world.train]
    )
    np.testing.assert_array_equal(enc.best_alphas_, fitted.best_alphas_)
    np.testing.assert_allclose(enc.coef_, fitted.coef_, rtol=1e-4, atol=1e-5)
