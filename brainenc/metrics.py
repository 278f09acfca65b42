"""Scores of encoding models, vectorised over targets.

NaN policy: a target (column) with any non-finite value in its inputs scores NaN, as does a
target whose true or predicted responses are constant (a correlation is undefined there). Nothing
is silently dropped inside a column. Summaries over targets (:func:`summarize`) ignore NaN targets
and report how many they used.
"""

from __future__ import annotations

import numpy as np

from .validation import as_float_array


def _paired(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true = as_float_array(y_true, "y_true").astype(np.float64)
    y_pred = as_float_array(y_pred, "y_pred").astype(np.float64)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true has shape {y_true.shape} but y_pred has {y_pred.shape}; both must be "
            "(n_images, n_targets) over the same images and targets"
        )
    if len(y_true) < 2:
        raise ValueError("need at least 2 images to score")
    return y_true, y_pred


def pearson_r(y_true, y_pred) -> np.ndarray:
    """Pearson correlation between true and predicted responses, per target.

    Parameters
    ----------
    y_true, y_pred : arrays of shape (n_images, n_targets)

    Returns
    -------
    r : array of shape (n_targets,)
        NaN for targets with non-finite values or zero variance.
    """
    y_true, y_pred = _paired(y_true, y_pred)
    yt = y_true - y_true.mean(0)
    yp = y_pred - y_pred.mean(0)
    denom = np.sqrt((yt**2).sum(0) * (yp**2).sum(0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (yt * yp).sum(0) / denom
    r[~np.isfinite(r) | (denom == 0)] = np.nan
    return np.clip(r, -1.0, 1.0)


def r2_score(y_true, y_pred) -> np.ndarray:
    """Coefficient of determination 1 - SS_res / SS_tot, per target (can be negative).

    Returns NaN for targets with non-finite values or constant ``y_true``.
    """
    y_true, y_pred = _paired(y_true, y_pred)
    ss_res = ((y_true - y_pred) ** 2).sum(0)
    ss_tot = ((y_true - y_true.mean(0)) ** 2).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = 1.0 - ss_res / ss_tot
    r2[~np.isfinite(r2) | (ss_tot == 0)] = np.nan
    return r2


def ncsnr(repeats) -> np.ndarray:
    """Noise-ceiling signal-to-noise ratio from repeated presentations (Allen et al. 2022).

    The noise variance is the mean over images of the across-repeat variance; the signal variance
    is the total variance minus the noise variance, floored at 0; ncsnr = sd_signal / sd_noise.
    Missing repeats may be NaN (an image needs at least two finite repeats to count).

    Parameters
    ----------
    repeats : array of shape (n_repeats, n_images, n_targets)
        Single-trial responses.

    Returns
    -------
    ncsnr : array of shape (n_targets,)
        NaN for targets with no image having two finite repeats, or zero noise.
    """
    repeats = as_float_array(repeats, "repeats", ndim=3).astype(np.float64)
    if repeats.shape[0] < 2:
        raise ValueError(f"need at least 2 repeats per image; got {repeats.shape[0]}")
    finite = np.isfinite(repeats)
    n_valid = finite.sum(0)  # (n_images, n_targets)
    usable = n_valid >= 2
    with np.errstate(invalid="ignore", divide="ignore"), _quiet_nan_warnings():
        var_within = np.nanvar(repeats, axis=0, ddof=1)
        var_within = np.where(usable, var_within, np.nan)
        noise_var = np.nanmean(var_within, axis=0)
        flat = repeats.reshape(-1, repeats.shape[-1])
        total_var = np.nanvar(flat, axis=0, ddof=1)
        signal_var = np.clip(total_var - noise_var, 0.0, None)
        snr = np.sqrt(signal_var) / np.sqrt(noise_var)
    snr[~np.isfinite(snr)] = np.nan
    return snr


def noise_ceiling(ncsnr, n_averaged) -> np.ndarray:
    """Noise ceiling (fraction of variance, 0-1) of responses averaged over ``n_averaged`` trials.

    NC = ncsnr² / (ncsnr² + 1 / n), the formula of the NSD paper (which reports it ×100 in
    percent). ``n_averaged`` may be a scalar or one value per target.
    """
    snr = np.asarray(ncsnr, dtype=np.float64)
    n = np.asarray(n_averaged, dtype=np.float64)
    if np.any(n < 1):
        raise ValueError("n_averaged must be at least 1")
    return snr**2 / (snr**2 + 1.0 / n)


def noise_ceiling_from_repeats(repeats) -> np.ndarray:
    """Noise ceiling of the repeat-averaged responses, from their single trials.

    Uses the mean number of finite repeats per image of each target as ``n_averaged``.
    """
    repeats = as_float_array(repeats, "repeats", ndim=3)
    n_avg = np.isfinite(repeats).sum(0).mean(0)
    return noise_ceiling(ncsnr(repeats), np.maximum(n_avg, 1))


def noise_normalized_r2(r, noise_ceiling, *, min_ceiling: float = 0.0) -> np.ndarray:
    """Explained fraction of the explainable variance, Algonauts 2023 convention.

    score = max(r, 0)² / NC. Targets whose noise ceiling is NaN or not above ``min_ceiling``
    score NaN (their ratio is meaningless), so that summaries skip them. Values above 1 are
    possible with a noisy ceiling estimate and are kept.

    Parameters
    ----------
    r : array of shape (n_targets,)
        Test correlations (see :func:`pearson_r`).
    noise_ceiling : array of shape (n_targets,)
        Fraction of variance, 0-1.
    min_ceiling : float
        Targets with ``noise_ceiling <= min_ceiling`` get NaN.
    """
    r = np.asarray(r, dtype=np.float64)
    nc = np.asarray(noise_ceiling, dtype=np.float64)
    if r.shape != nc.shape:
        raise ValueError(f"r has shape {r.shape} but noise_ceiling has {nc.shape}")
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.clip(r, 0.0, None) ** 2 / nc
    score[~(nc > min_ceiling) | ~np.isfinite(r)] = np.nan
    return score


def summarize(values, rois: dict[str, np.ndarray], *, stat: str = "median") -> dict[str, dict]:
    """Per-ROI summary of per-target values: ``{roi: {"value": ..., "n": ..., "n_total": ...}}``.

    ``value`` is the median (or mean) over the ROI's finite targets; ``n`` how many were finite.
    """
    values = np.asarray(values, dtype=np.float64)
    reduce = {"median": np.median, "mean": np.mean}.get(stat)
    if reduce is None:
        raise ValueError(f"stat must be 'median' or 'mean'; got {stat!r}")
    out = {}
    for name, mask in rois.items():
        v = values[np.asarray(mask)]
        v = v[np.isfinite(v)]
        out[name] = {
            "value": float(reduce(v)) if v.size else float("nan"),
            "n": int(v.size),
            "n_total": int(np.asarray(mask).sum()),
        }
    return out


class _quiet_nan_warnings:
    """Silence numpy's 'mean of empty slice' warnings; NaN results are handled explicitly."""

    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


def proportion_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``successes / n`` (good at small ``n`` and near 0
    or 1, where the normal approximation fails)."""
    from scipy.stats import norm

    if n < 1 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n and n >= 1; got {successes} of {n}")
    z = norm.ppf(0.5 + confidence / 2)
    p = successes / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def mean_interval(values, confidence: float = 0.95) -> tuple[float, float]:
    """Student-t confidence interval of the mean of ``values`` (1-D, at least 2 finite)."""
    from scipy.stats import t

    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or len(values) < 2 or not np.isfinite(values).all():
        raise ValueError("need a 1-D array of at least 2 finite values for a mean interval")
    half = t.ppf(0.5 + confidence / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return float(values.mean() - half), float(values.mean() + half)


def difference_interval(a, b, *, paired: bool, confidence: float = 0.95) -> tuple[float, float]:
    """Confidence interval of ``mean(a) - mean(b)``: Student's t of the differences when the
    values are paired (the same seeds), Welch's t otherwise (e.g. each run's best images)."""
    from scipy.stats import ttest_ind

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if paired:
        if a.shape != b.shape:
            raise ValueError(f"paired values need the same shape; got {a.shape} and {b.shape}")
        return mean_interval(a - b, confidence)
    for values in (a, b):
        if values.ndim != 1 or len(values) < 2 or not np.isfinite(values).all():
            raise ValueError("need 1-D arrays of at least 2 finite values for an interval")
    low, high = ttest_ind(a, b, equal_var=False).confidence_interval(confidence)
    return float(low), float(high)
