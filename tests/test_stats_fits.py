"""Intervals on means and on fitted power-law exponents; independent initialisation keys."""

import jax
import numpy as np
import pytest

from ntkbook.experiments.drift import init_key
from ntkbook.stats import bootstrap_power_law, fit_power_law_interval, mean_ci


def test_mean_ci_matches_the_textbook_mean_ci():
    mean, low, high = mean_ci([1.0, 2.0, 3.0])
    assert mean == 2.0
    assert high - mean == pytest.approx(4.302652729911275 * 1.0 / np.sqrt(3))
    assert np.isnan(mean_ci([5.0])[1])


def test_bootstrap_exponent_covers_the_truth_and_shrinks_with_seeds():
    rng = np.random.default_rng(0)
    widths = np.array([100.0, 200.0, 400.0, 800.0])

    def draws(n):
        return widths**-0.5 * np.exp(0.1 * rng.normal(size=(n, widths.size)))

    b, low, high = bootstrap_power_law(widths, draws(20))
    assert low < -0.5 < high and low < b < high
    b3, low3, high3 = bootstrap_power_law(widths, draws(3))
    assert high - low < high3 - low3
    assert np.isnan(bootstrap_power_law(widths, draws(1))[1])


def test_regression_interval_of_an_exact_power_law_is_tight():
    b, low, high = fit_power_law_interval([1, 2, 4, 8], [3.0, 6.0, 12.0, 24.0])
    assert b == pytest.approx(1.0) and high - low < 1e-6


def test_init_keys_are_independent_across_widths():
    a = jax.random.normal(init_key(0, 3), (4, 3)).ravel()[:4]
    b = jax.random.normal(init_key(0, 5), (4, 5)).ravel()[:4]
    assert not np.allclose(a, b)
