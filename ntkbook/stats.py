"""Small statistics on NumPy arrays, shared by experiments, figures and chapters."""

from __future__ import annotations

import numpy as np


def fit_power_law(x, y) -> tuple[float, float]:
    """Least-squares fit of ``y = a x^b`` on log-log axes; returns ``(b, a)``."""
    lx = np.log(np.asarray(x, dtype=np.float64))
    ly = np.log(np.asarray(y, dtype=np.float64))
    slope, intercept = np.polyfit(lx, ly, 1)
    return float(slope), float(np.exp(intercept))


def mean_ci(values, level: float = 0.95) -> tuple[float, float, float]:
    """Mean of independent ``values`` and its Student-t ``level`` confidence interval.

    Returns ``(mean, low, high)``; ``low = high = nan`` for fewer than two values.
    """
    from scipy import stats as _stats

    v = np.asarray(values, dtype=np.float64).ravel()
    mean = float(v.mean())
    if v.size < 2:
        return mean, float("nan"), float("nan")
    half = float(_stats.t.ppf(0.5 + level / 2, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size))
    return mean, mean - half, mean + half


def bootstrap_ci(statistic, samples, *, level: float = 0.95, n_boot: int = 2000,
                 seed: int = 0) -> tuple[float, float, float]:
    """A statistic of independent samples and its percentile-bootstrap ``level`` interval.

    Args:
        statistic: maps an array of samples (rows of ``samples``) to a float.
        samples: ``(S, ...)``, one row per independent sample (e.g. per seed).
        level: coverage; n_boot: resamples (``S`` rows drawn with replacement); seed: of those.

    Returns:
        ``(statistic(samples), low, high)``; nan bounds for fewer than two samples.
    """
    data = np.asarray(samples, dtype=np.float64)
    value = float(statistic(data))
    if data.shape[0] < 2:
        return value, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, data.shape[0], size=(n_boot, data.shape[0]))
    boot = np.array([statistic(data[rows]) for rows in draws], dtype=np.float64)
    low, high = np.quantile(boot, [0.5 - level / 2, 0.5 + level / 2])
    return value, float(low), float(high)


def bootstrap_power_law(x, y_by_seed, *, n_boot: int = 2000, level: float = 0.95,
                        seed: int = 0) -> tuple[float, float, float]:
    """Exponent ``b`` of ``y = a x^b`` fitted to the seed means, with a bootstrap interval.

    Args:
        x: ``(K,)`` abscissae (e.g. widths).
        y_by_seed: ``(S, K)`` one row per independent seed (a run at every ``x``).
        n_boot: bootstrap resamples of the ``S`` seeds (rows drawn with replacement).
        level: coverage of the percentile interval.
        seed: of the resampling.

    Returns:
        ``(b, low, high)``: the fit to the means over all seeds and the percentile interval of
        the fits to resampled means; ``low = high = nan`` with fewer than two seeds.
    """
    y = np.asarray(y_by_seed, dtype=np.float64)
    if y.ndim == 1:
        y = y[None]
    b = fit_power_law(x, y.mean(axis=0))[0]
    if y.shape[0] < 2:
        return b, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, y.shape[0], size=(n_boot, y.shape[0]))
    lx = np.log(np.asarray(x, dtype=np.float64))
    ly = np.log(y[rows].mean(axis=1))  # (n_boot, K)
    slopes = np.polyfit(lx, ly.T, 1)[0]
    low, high = np.quantile(slopes, [0.5 - level / 2, 0.5 + level / 2])
    return b, float(low), float(high)


def fit_power_law_interval(x, y, level: float = 0.95) -> tuple[float, float, float]:
    """Exponent of ``y = a x^b`` (least squares on log-log axes) and its ``level`` t-interval
    from the regression's standard error: ``(b, low, high)``; nan bounds with < 3 points."""
    from scipy import stats as _stats

    lx = np.log(np.asarray(x, dtype=np.float64))
    ly = np.log(np.asarray(y, dtype=np.float64))
    if lx.size < 3:
        return fit_power_law(x, y)[0], float("nan"), float("nan")
    res = _stats.linregress(lx, ly)
    half = float(_stats.t.ppf(0.5 + level / 2, lx.size - 2) * res.stderr)
    return float(res.slope), float(res.slope - half), float(res.slope + half)
