"""The performance chapter's wording helpers and figures (ntkbook.report.performance)."""

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from ntkbook.report.performance import (
    against_spread,
    epoch_swing,
    plot_after_switch,
    plot_kernel_cost,
    plot_width_scaling,
)


def test_epoch_swing_is_the_largest_consecutive_change():
    assert epoch_swing([0.80, 0.82, 0.81, 0.815]) == pytest.approx(0.02)
    assert epoch_swing([0.5, 0.4]) == pytest.approx(0.1)
    assert math.isnan(epoch_swing([0.8]))


@pytest.mark.parametrize(("difference", "spread", "word"), [
    (0.5, 0.3, "above"), (-0.5, 0.3, "below"), (0.2, 0.3, "within"), (-0.3, 0.3, "within"),
    (0.1, float("nan"), "undefined"), (float("nan"), 0.1, "undefined"),
])
def test_against_spread(difference, spread, word):
    assert against_spread(difference, spread) == word


def test_figures_draw_what_they_are_given():
    points = pd.DataFrame({
        "implementation": ["structured", "structured", "explicit_jacobian", "explicit_jacobian"],
        "dtype": ["float32"] * 4, "n": [16, 32, 16, 32],
        "median": [0.01, 0.02, 1.0, float("nan")], "peak_rss_mb": [300, 310, 4000, None]})
    fig = plot_kernel_cost(points)
    time_ax = fig.axes[0]
    assert [len(line.get_xdata()) for line in time_ax.lines] == [1, 2]  # NaN left out
    plt.close(fig)

    scaling = pd.DataFrame({"depth": [2, 2, 3, 3], "width": [500, 250, 250, 500],
                            "seconds": [0.2, 0.1, 0.3, 0.9]})
    fig = plot_width_scaling(scaling, 100)
    assert [list(line.get_xdata()) for line in fig.axes[0].lines] == [[250, 500], [250, 500]]
    plt.close(fig)

    methods = pd.DataFrame({"method": ["NTK3 a", "NTK3 b"], "seconds": [3.0, 10.0],
                            "test_accuracy": [0.83, 0.835]})
    epochs = pd.DataFrame({"epoch": [11, 12], "seconds": [2.0, 4.0],
                           "test_accuracy": [0.83, 0.828]})
    fig = plot_after_switch(methods, epochs, 0.836, 0.004)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and len(ax.collections) == 2  # the two NTK points
    assert len(ax.patches) == 1  # the band around stopping at the switch
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "stop at the switch (0 s)" in labels and "NTK3 b" in labels
    plt.close(fig)
