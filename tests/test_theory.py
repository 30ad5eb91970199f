"""The λ_min theory comparison: the theorem's scaling, the fit of its constant, the limit line,
the figure, and one cheap empirical check that wide ReLU nets reach the infinite-width λ_min."""

import matplotlib

matplotlib.use("Agg")

import math

import jax
import matplotlib.pyplot as plt
import numpy as np
import pytest

from ntkbook import MLP, empirical_ntk, smallest_eigenvalue
from ntkbook.core.limit import infinite_width_ntk
from ntkbook.experiments.theory import (
    compare_with_theory,
    infinite_width_lambda_min,
    layer_terms,
    predicted_lambda_min_scaling,
    relu_hermite_coefficient,
    theorem_scale,
    wide_width,
)
from ntkbook.report.theory_plots import plot_theory_comparison, theory_figures

jax.config.update("jax_enable_x64", True)

X = np.random.default_rng(0).standard_normal((12, 7))
WIDTHS, DEPTHS, SEEDS = (16, 64, 256), (2, 3, 4), (0, 1, 2)


def _rows(activation="relu", parametrization="ntk", value=None):
    value = value or (lambda w, d, s: 1.0)
    return [{"activation": activation, "width": w, "depth": d, "seed": s,
             "lambda_min": value(w, d, s), "parametrization": parametrization}
            for d in DEPTHS for w in WIDTHS for s in SEEDS]


def test_hermite_coefficients_of_relu():
    # mu_2 = 1/(2 sqrt(pi)), mu_4 = -1/(sqrt(2 pi) sqrt(24)), mu_6 = 3/(sqrt(2 pi) sqrt(720))
    assert relu_hermite_coefficient(2) == pytest.approx(1 / (2 * math.sqrt(math.pi)))
    assert relu_hermite_coefficient(4) == pytest.approx(-1 / math.sqrt(2 * math.pi * 24))
    assert relu_hermite_coefficient(6) == pytest.approx(3 / math.sqrt(2 * math.pi * 720))
    with pytest.raises(ValueError):
        relu_hermite_coefficient(3)


def test_theorem_terms_per_parametrization():
    d, n, depth = 30, 100, 4
    # ntk: LeCun beta and a 1/fan_in multiplier on each gradient block -> every term is 1
    np.testing.assert_allclose(layer_terms(d, n, depth, "ntk"), np.ones(depth))
    # berg: beta_l^2 = 1/n (hidden), 1 (output), and d * n^{L-1} * prod beta^2 = d
    np.testing.assert_allclose(layer_terms(d, n, depth, "berg"), np.full(depth, d))
    # standard is the paper's setting verbatim: t_k = (d prod n_l) prod_{l != k} beta_l^2
    beta2 = np.array([2 / (d + n), 2 / (2 * n), 2 / (2 * n), 2 / (n + 1)])
    expected = d * n ** (depth - 1) * np.prod(beta2) / beta2
    np.testing.assert_allclose(layer_terms(d, n, depth, "standard"), expected, rtol=1e-12)
    assert theorem_scale(d, n, depth, "standard", "max") == pytest.approx(expected.max())
    scaling = predicted_lambda_min_scaling(WIDTHS, DEPTHS, d, "ntk")
    np.testing.assert_allclose(scaling, np.repeat(np.array(DEPTHS, float)[:, None], 3, axis=1))
    with pytest.raises(ValueError):
        theorem_scale(d, n, depth, depth_shape="mean")


def test_infinite_width_lambda_matches_limit():
    lam = infinite_width_lambda_min(X, "relu", [3, 2])
    assert lam.depths == (2, 3)
    for depth in (2, 3):
        direct = np.linalg.eigvalsh(infinite_width_ntk(X, activation="relu", depth=depth))[0]
        assert lam.at(depth) == pytest.approx(direct, rel=1e-10)


@pytest.mark.parametrize("parametrization,shape", [("ntk", "sum"), ("standard", "sum"),
                                                   ("standard", "max")])
def test_fit_recovers_constant(parametrization, shape):
    c = 0.37
    scaling = predicted_lambda_min_scaling(WIDTHS, DEPTHS, X.shape[1], parametrization, shape)
    noise = {0: 1.0, 1: 1.1, 2: 1 / 1.1}  # geometric mean 1 over seeds

    def value(w, d, s):
        return c * scaling[DEPTHS.index(d), WIDTHS.index(w)] * noise[s]

    cmp = compare_with_theory(_rows(parametrization=parametrization, value=value), X, "relu",
                              depth_shape=shape, n_boot=200)
    assert cmp.constant == pytest.approx(c, rel=1e-10)
    np.testing.assert_allclose(cmp.ratio, 1.0, rtol=1e-10)
    np.testing.assert_allclose(cmp.width_exponent[:, 0], cmp.theory_exponent, atol=1e-10)
    summary = cmp.summary()
    assert summary["max_abs_log_ratio"] == pytest.approx(0.0, abs=1e-10)
    assert (cmp.low < cmp.geo_mean).all() and (cmp.geo_mean < cmp.high).all()
    assert np.isnan(cmp.limit).all() == (parametrization != "ntk")


def test_width_exponent_and_bootstrap_interval():
    def value(w, d, s):
        return w ** 0.5 * (1 + 0.05 * s)

    cmp = compare_with_theory(_rows(value=value), X, "relu", limit=False, n_boot=500)
    b, low, high = cmp.width_exponent[0]
    assert b == pytest.approx(0.5, abs=1e-10) and low <= b <= high
    np.testing.assert_allclose(cmp.theory_exponent, 0.0, atol=1e-12)  # ntk: flat in width
    # the ratio to a flat theory grows like sqrt(width) around the fitted constant
    np.testing.assert_allclose(cmp.ratio[:, -1] / cmp.ratio[:, 0], 4.0, rtol=1e-10)
    assert cmp.summary()["worst_cell"]["width"] in (WIDTHS[0], WIDTHS[-1])


def test_non_relu_has_no_theory_and_non_positive_cells_are_dropped():
    def value(w, d, s):
        return -1e-3 if (w, d, s) == (16, 2, 0) else 1.0

    cmp = compare_with_theory(_rows("sigmoid", value=value), X, "sigmoid", n_boot=50)
    assert not cmp.has_theory and np.isnan(cmp.theory).all() and cmp.notes
    assert np.isnan(cmp.geo_mean[0, 0]) and np.isfinite(cmp.geo_mean[0, 1])
    assert np.isfinite(cmp.limit).all()
    with pytest.raises(ValueError, match="no rows"):
        compare_with_theory(_rows(), X, "tanh")


def test_plot_draws_measured_theory_and_limit():
    relu = compare_with_theory(_rows(value=lambda w, d, s: 0.3 * d), X, "relu", n_boot=50)
    sigmoid = compare_with_theory(_rows("sigmoid"), X, "sigmoid", n_boot=50)
    ax = plot_theory_comparison(relu.cells_frame(), wide_width=wide_width(12))
    gids = [line.get_gid() for line in ax.get_lines()]
    assert gids.count("theory") == len(DEPTHS) and gids.count("limit") == len(DEPTHS)
    assert gids.count("wide") == 1
    assert [t.get_text() for t in ax.get_legend().get_texts()][:len(DEPTHS)] == [
        f"depth {d}" for d in DEPTHS]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert len(ax.collections) == len(DEPTHS)  # one seed band per depth
    figs = theory_figures({"relu": relu.cells_frame(), "sigmoid": sigmoid.cells_frame()},
                          depths=[2, 4])
    sig_gids = [line.get_gid() for line in figs["sigmoid"].axes[0].get_lines()]
    assert "theory" not in sig_gids and sig_gids.count("limit") == 2
    plt.close("all")


def test_wide_relu_nets_reach_the_infinite_width_lambda():
    """Empirical: N = 20, width 2048, NTK parametrisation, float64 — within 25 % of λ_∞."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((20, 16))
    limit = infinite_width_lambda_min(x, "relu", (2, 3))
    xj = jax.numpy.asarray(x)
    for depth in (2, 3):
        net = MLP((16,) + (2048,) * (depth - 1) + (1,), "relu", "ntk")
        lam = smallest_eigenvalue(empirical_ntk(net, net.init_numpy(depth), xj))
        assert abs(lam / limit.at(depth) - 1) < 0.25
