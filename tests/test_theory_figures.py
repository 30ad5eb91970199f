"""Helpers of chapters 1 and 2: kernel spread, honest heat-map, figures."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ntkbook.report.theory_figures import (  # noqa: E402
    kernel_spread,
    plot_kernel_deviation,
    plot_lambda_min_draws,
    plot_mode_factors,
)


def test_kernel_spread_of_a_striped_kernel():
    a = np.array([0.0, 1e-3, -2e-3, 1e-3])
    theta = 10.0 + a[:, None] + a[None, :]
    spread = kernel_spread(theta)
    assert spread["mean"] == pytest.approx(10.0)
    assert spread["rel_range"] == pytest.approx(6e-3 / 10.0)
    assert spread["stripe_share"] == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(50, 50))
    assert kernel_spread(5.0 + noise + noise.T)["stripe_share"] < 0.2


def test_kernel_deviation_has_no_offset_and_a_symmetric_scale():
    a = np.linspace(-1.5e-4, 1.5e-4, 20)
    theta = 14.765 + a[:, None] + a[None, :]
    ax = plot_kernel_deviation(theta, title="Sigmoid")
    image = ax.images[0]
    low, high = image.get_clim()
    assert low == pytest.approx(-high) and high == pytest.approx(3e-4)
    assert np.mean(image.get_array()) == pytest.approx(0.0, abs=1e-12)
    colorbar = image.colorbar
    ax.figure.canvas.draw()
    assert colorbar.formatter.get_useOffset() is False
    assert "14" not in colorbar.formatter.get_offset()  # a factor 10^-4 at most, no offset
    assert "bar\\Theta" in colorbar.ax.get_ylabel()
    plt.close(ax.figure)


def test_mode_factor_and_draw_figures_have_their_panels():
    lam = np.geomspace(1e-3, 1e2, 30)
    x = np.geomspace(1e-3, 8, 40)
    fig = plot_mode_factors(lam, {"flow": np.exp(-lam)}, x, {"flow": np.exp(-x)}, (0.01, 0.5),
                            styles={"flow": {"color": "k"}})
    assert len(fig.axes) == 2 and fig.axes[1].get_ylim() == (-8.0, 1.5)
    plt.close(fig)
    values = {(n, r): [1.0, 2.0, 3.0] for n in ("ReLU", "Sigmoid") for r in ("berg", "ntk")}
    fig = plot_lambda_min_draws(values, ["ReLU", "Sigmoid"], ["berg", "ntk"],
                                reported={"ReLU": [2.5]})
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 1
    plt.close(fig)
