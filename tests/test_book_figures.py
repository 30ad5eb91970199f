"""Figure helpers of the training chapter: seed bands and interval lines."""

import matplotlib

matplotlib.use("Agg")

import numpy as np

from ntkbook.report.figures import plot_interval_lines, plot_seed_bands


def test_seed_bands_draw_the_median_and_the_range():
    x = np.arange(4.0)
    values = np.array([[1.0, 0.5, 0.2, 0.1], [1.0, 0.3, 0.1, 0.05], [1.0, 0.4, 0.3, 0.2]])
    ax = plot_seed_bands({"net": (x, values)}, title="t")
    np.testing.assert_allclose(ax.lines[0].get_ydata(), np.median(values, axis=0))
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == values.min() and band.max() == values.max()
    assert ax.get_yscale() == "log" and ax.get_title() == "t"


def test_interval_lines_skip_missing_bars_and_tick_every_x():
    ax = plot_interval_lines([100, 400], {"ntk": ([0.1, 0.05], [0.08, np.nan],
                                                  [0.12, np.nan])}, ylabel="drift")
    assert list(ax.get_xticks()) == [100, 400] and ax.get_ylabel() == "drift"
    segments = ax.collections[0].get_segments()  # the error bars
    np.testing.assert_allclose(segments[0][:, 1], [0.08, 0.12])
    np.testing.assert_allclose(segments[1][:, 1], [0.05, 0.05])  # no interval: no bar
