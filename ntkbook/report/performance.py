"""Figures and wording helpers of the performance chapter (``book/07_performance``).

No JAX and no timing: every function takes the tables the chapter measured.

* :func:`plot_kernel_cost` draws the time and the peak memory of the kernel implementations
  against the number of samples.
* :func:`plot_width_scaling` draws the structured kernel's time against the width, per depth.
* :func:`epoch_swing` is the largest change of a metric from one epoch to the next: with one
  seed, the spread a difference between two checkpoints must exceed to count.
* :func:`against_spread` words where a difference lies with respect to such a spread.
* :func:`plot_after_switch` draws test accuracy against the seconds spent after the switch
  point: SGD epoch by epoch, the NTK3 updates, and stopping at the switch with its spread.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

__all__ = ["against_spread", "epoch_swing", "plot_after_switch", "plot_kernel_cost",
           "plot_width_scaling"]


def epoch_swing(values: Sequence[float]) -> float:
    """The largest ``|v[e] - v[e-1]|`` over consecutive epochs (NaN for fewer than two)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size < 2:
        return float("nan")
    return float(np.max(np.abs(np.diff(v))))


def against_spread(difference: float, spread: float) -> str:
    """``"above"`` (``difference > spread``), ``"below"`` (``difference < -spread``) or
    ``"within"``; ``"undefined"`` when either is NaN. A difference within the spread is no win
    and no loss."""
    difference, spread = float(difference), float(spread)
    if np.isnan(difference) or np.isnan(spread):
        return "undefined"
    if difference > spread:
        return "above"
    if difference < -spread:
        return "below"
    return "within"


def _label(implementation: str, dtype: str) -> str:
    return f"{implementation.replace('_', ' ')} ({dtype})"


def plot_kernel_cost(points: pd.DataFrame) -> Figure:
    """Median seconds and peak resident memory (GiB) against ``n``, one line per
    (implementation, dtype). ``points`` has columns ``implementation``, ``dtype``, ``n``,
    ``median`` and ``peak_rss_mb``; rows without a median (a point that failed) are left out."""
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(12, 4), layout="constrained")
    measured = points.dropna(subset=["median"])
    for (name, dtype), sel in measured.groupby(["implementation", "dtype"]):
        sel = sel.sort_values("n")
        ax_t.loglog(sel["n"], sel["median"], "o-", label=_label(name, dtype))
        ax_m.loglog(sel["n"], sel["peak_rss_mb"] / 1024, "o-", label=_label(name, dtype))
    ax_t.set(xlabel="samples $n$", ylabel="seconds (median)", title="time")
    ax_m.set(xlabel="samples $n$", ylabel="peak resident memory (GiB)", title="memory")
    ax_t.legend(fontsize=9)
    return fig


def plot_width_scaling(scaling: pd.DataFrame, n: int) -> Figure:
    """Seconds against width on log-log axes, one line per depth (``scaling`` has columns
    ``depth``, ``width``, ``seconds``)."""
    fig, ax = plt.subplots(figsize=(6.5, 4), layout="constrained")
    for depth, sel in scaling.groupby("depth"):
        sel = sel.sort_values("width")
        ax.loglog(sel["width"], sel["seconds"], "o-", label=f"depth {depth}")
    ax.set(xlabel="width", ylabel="seconds (median)",
           title=f"structured kernel, n = {n}, float32")
    ax.legend()
    return fig


def plot_after_switch(methods: pd.DataFrame, sgd_epochs: pd.DataFrame,
                      switch_accuracy: float, swing: float) -> Figure:
    """Test accuracy (%) against seconds after the switch point, log time axis.

    Args:
        methods: one row per NTK update: ``method``, ``seconds``, ``test_accuracy``.
        sgd_epochs: SGD after the switch, one row per epoch: ``epoch``, ``seconds`` (cumulative
            from the switch) and ``test_accuracy``.
        switch_accuracy: the accuracy at the switch (stopping there costs 0 s: a line).
        swing: :func:`epoch_swing` of SGD's accuracy, drawn as a band around that line.
    """
    fig, ax = plt.subplots(figsize=(7.5, 4.5), layout="constrained")
    ax.axhline(100 * switch_accuracy, color="0.3", ls=":", lw=1.2,
               label="stop at the switch (0 s)")
    if np.isfinite(swing):
        ax.axhspan(100 * (switch_accuracy - swing), 100 * (switch_accuracy + swing),
                   color="0.85", alpha=0.6, lw=0,
                   label="± SGD's largest epoch-to-epoch change")
    ax.plot(sgd_epochs["seconds"], 100 * sgd_epochs["test_accuracy"], "o-", color="C0",
            label="SGD, epoch by epoch")
    for epoch, sec, acc in zip(sgd_epochs["epoch"], sgd_epochs["seconds"],
                               sgd_epochs["test_accuracy"], strict=True):
        ax.annotate(f"{epoch}", (sec, 100 * acc), fontsize=7, xytext=(0, -11),
                    textcoords="offset points", ha="center", color="C0")
    for i, (_, row) in enumerate(methods.iterrows()):
        ax.scatter(row["seconds"], 100 * row["test_accuracy"], s=55, marker="D",
                   color=f"C{i + 1}", label=row["method"], zorder=3)
    ax.set(xscale="log", xlabel="seconds after the switch point", ylabel="test accuracy (%)")
    ax.legend(fontsize=8, loc="best")
    return fig
