import numpy as np
import pytest

from brainenc import metrics


def test_pearson_matches_numpy_and_nan_policy():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50, 4))
    b = a + rng.normal(size=(50, 4))
    b[:, 2] = 1.0  # constant prediction
    a[3, 3] = np.nan  # a NaN in one target
    r = metrics.pearson_r(a, b)
    assert r[0] == pytest.approx(np.corrcoef(a[:, 0], b[:, 0])[0, 1])
    assert np.isnan(r[2]) and np.isnan(r[3])


def test_r2_perfect_and_mean_prediction():
    y = np.arange(10.0).reshape(5, 2)
    assert np.allclose(metrics.r2_score(y, y), 1.0)
    assert np.allclose(metrics.r2_score(y, np.broadcast_to(y.mean(0), y.shape)), 0.0)


def test_noise_ceiling_recovers_simulated_truth():
    rng = np.random.default_rng(1)
    n_rep, n_img, n_t = 3, 2000, 5
    snr = np.array([0.0, 0.3, 0.7, 1.0, 2.0])
    signal = rng.normal(size=(n_img, n_t)) * snr
    trials = signal + rng.normal(size=(n_rep, n_img, n_t))
    est = metrics.ncsnr(trials)
    assert np.allclose(est[1:], snr[1:], atol=0.06)
    nc = metrics.noise_ceiling_from_repeats(trials)
    true = snr**2 / (snr**2 + 1 / n_rep)
    assert np.allclose(nc, true, atol=0.04)


def test_noise_ceiling_formula_and_bad_n():
    assert metrics.noise_ceiling(np.array([1.0]), 3)[0] == pytest.approx(0.75)
    with pytest.raises(ValueError, match="n_averaged"):
        metrics.noise_ceiling(np.array([1.0]), 0)


def test_noise_normalized_r2_algonauts_convention():
    r = np.array([0.5, -0.4, 0.3, np.nan])
    nc = np.array([0.5, 0.5, 0.0, 0.5])
    s = metrics.noise_normalized_r2(r, nc)
    assert s[0] == pytest.approx(0.5) and s[1] == 0.0
    assert np.isnan(s[2]) and np.isnan(s[3])


def test_shape_mismatch_message():
    with pytest.raises(ValueError, match="same images"):
        metrics.pearson_r(np.zeros((4, 2)), np.zeros((5, 2)))


def test_proportion_interval_is_wilsons():
    low, high = metrics.proportion_interval(8, 10)
    assert (round(low, 3), round(high, 3)) == (0.49, 0.943)  # Wilson (1927), 95%
    assert (
        metrics.proportion_interval(0, 64)[0] == 0.0 and metrics.proportion_interval(64, 64)[1] == 1
    )
    assert (
        metrics.proportion_interval(32, 64, confidence=0.5)[1]
        < metrics.proportion_interval(32, 64)[1]
    )
    with pytest.raises(ValueError, match="successes <= n"):
        metrics.proportion_interval(5, 4)


def test_mean_interval_is_students():
    low, high = metrics.mean_interval([1.0, 2.0, 3.0, 4.0])
    assert abs(low - 0.4457) < 1e-3 and abs(high - 4.5543) < 1e-3  # 2.5 ± t(3) · 1.291 / 2
    with pytest.raises(ValueError, match="at least 2 finite"):
        metrics.mean_interval([1.0, np.nan])


def test_difference_interval_is_paired_or_welchs():
    a, b = [1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 1.0, 1.0]
    # paired: differences 1, 2, 2, 3 -> 2 ± t(3) · 0.8165 / 2
    low, high = metrics.difference_interval(a, b, paired=True)
    assert abs(low - 0.7008) < 1e-3 and abs(high - 3.2992) < 1e-3
    # Welch: 2 ± t(4.154) · sqrt(1.667 / 4 + 0.333 / 4), wider than paired
    low, high = metrics.difference_interval(a, b, paired=False)
    assert abs(low - 0.0651) < 1e-3 and abs(high - 3.9349) < 1e-3
    with pytest.raises(ValueError, match="same shape"):
        metrics.difference_interval(a, b[:3], paired=True)
    with pytest.raises(ValueError, match="at least 2 finite"):
        metrics.difference_interval(a, [1.0], paired=False)
