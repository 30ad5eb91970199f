"""Figures of the hybrid-training chapter: scouting, validation curves, and the wall-clock plot.

Each helper draws on Axes it is given (or makes a figure) and returns the figure; the book's style
comes from :func:`ntkbook.report.figures.set_book_style`.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from ntkbook.report.hybrid_tables import SGD, SGD_FLOW

#: Colour per method and line style per variant, in every figure of the chapter.
METHOD_COLORS = {SGD: "k", "NTK1": "C0", "NTK2": "C1", "NTK3": "C2", SGD_FLOW: "C4"}
VARIANT_STYLES = {"consistent": "-", "faithful": "--", "code": ":"}
HEURISTIC_LABELS = {"eps": r"$\varepsilon$: $\|\theta_t - \theta_{t-2}\|$",
                    "delta": r"$\delta$: $|\,\|\Theta_t-\Theta_0\|-\|\Theta_{t-4}-\Theta_0\|\,|$",
                    "spectral": r"spectral: $\max_i |\Delta_2 \lambda_i| / \lambda_i$"}


def plot_scouting(mean_val_loss: Sequence[float], mean_metrics: dict[str, Sequence[float]],
                  elbow: int, thresholds: dict[str, float], thesis: dict[str, float] | None = None,
                  title: str = "") -> Figure:
    """One panel per heuristic: the seed-mean validation loss (left axis) and the seed-mean
    metric (right axis, log), the elbow, the plateau and the threshold (the thesis' dotted).
    """
    names = list(mean_metrics)
    fig, axes = plt.subplots(1, len(names), figsize=(4.3 * len(names), 3.4), layout="constrained")
    epochs = np.arange(len(mean_val_loss))
    for ax, name in zip(np.atleast_1d(axes), names, strict=True):
        ax.plot(epochs[1:], np.asarray(mean_val_loss)[1:], "o-", color="C3", ms=3,
                label="validation loss")
        ax.axvspan(elbow, epochs[-1], color="0.9", zorder=0)
        ax.axvline(elbow, color="0.4", ls=":", lw=1)
        ax.set(xlabel="epoch", title=HEURISTIC_LABELS.get(name, name))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(axis="y", labelcolor="C3")
        twin = ax.twinx()
        twin.semilogy(epochs, mean_metrics[name], "s--", color="C0", ms=3, label="metric")
        twin.axhline(thresholds[name], color="C0", lw=1.2, label="our threshold")
        if thesis and name in thesis:
            twin.axhline(thesis[name], color="C0", lw=1, ls=":", label="thesis' threshold")
        twin.tick_params(axis="y", labelcolor="C0")
        twin.grid(False)
    np.atleast_1d(axes)[0].set_ylabel("validation loss", color="C3")
    handles = [Line2D([], [], color="C3", marker="o", ms=3, label="validation loss (mean)"),
               Line2D([], [], color="C0", ls="--", marker="s", ms=3, label="metric (mean, log)"),
               Line2D([], [], color="C0", lw=1.2, label="our threshold"),
               Line2D([], [], color="C0", lw=1, ls=":", label="thesis' threshold"),
               Line2D([], [], color="0.4", ls=":", label="elbow; plateau shaded")]
    fig.legend(handles=handles, loc="outside lower center", ncol=5, fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def plot_hybrid_curves(curves_by_width: dict[int, dict], metric_label: str,
                       residual: str, percent: bool = True, title: str = "",
                       epochs_before_switch: int = 4) -> Figure:
    """The thesis' figures 3-4 and 7-8: seed-mean validation loss (top row) and metric (bottom
    row) per width (columns) for SGD and every NTK method after the switch (consistent solid,
    faithful dashed; NTK3 is one point at the last epoch), and the mean switch epoch (dashed).

    Args:
        curves_by_width: width -> :func:`ntkbook.report.hybrid_tables.hybrid_curves`.
        metric_label: y label of the bottom row.
        residual: which residual's methods to draw.
        percent: show the metric in percent.
        epochs_before_switch: the curves start this many epochs before the earliest switch.
    """
    widths = sorted(curves_by_width)
    fig, axes = plt.subplots(2, len(widths), figsize=(4.2 * len(widths), 6.2),
                             layout="constrained", squeeze=False)
    scale = 100.0 if percent else 1.0
    for col, width in enumerate(widths):
        curves = curves_by_width[width]
        switches = [s for s in curves["switch_epochs"] if s is not None]
        start = max(0, min(switches, default=0) - epochs_before_switch)
        for row, name in enumerate(("val_loss", "val_metric")):
            ax = axes[row, col]
            for label, curve in curves.items():
                if label == "switch_epochs" or curve["n"] == 0:
                    continue
                method, variant, res = ((SGD, "", "") if label == SGD else
                                        (label.method, label.variant, label.residual))
                if label != SGD and res != residual:
                    continue
                y = np.asarray(curve[name]) * (scale if row == 1 else 1.0)
                x = np.arange(len(y))
                color = METHOD_COLORS.get(method if label != SGD else SGD, "0.5")
                if method == "NTK3":
                    ax.plot(x[-1], y[-1], marker="*" if variant == "consistent" else "P",
                            ms=11, color=color, ls="none", mec="k", mew=0.5)
                    continue
                finite = np.isfinite(y) & (x >= start)
                if label == SGD:
                    ax.plot(x[finite], y[finite], color="k", lw=2.2, alpha=0.8)
                    continue
                after = finite & (x >= (min(switches) if switches else 0))
                ax.plot(x[after], y[after], color=color, ls=VARIANT_STYLES.get(variant, "-"),
                        lw=1.4)
            if switches:
                ax.axvline(float(np.mean(switches)), color="0.3", ls="--", lw=1)
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if row == 0:
                ax.set_title(f"width {width}")
        axes[0, 0].set_ylabel("validation loss")
        axes[1, 0].set_ylabel(metric_label)
    handles = [Line2D([], [], color="k", lw=2.2, label="SGD"),
               Line2D([], [], color="C0", label="NTK1"), Line2D([], [], color="C1", label="NTK2"),
               Line2D([], [], color="C2", marker="*", ls="none", ms=10, mec="k",
                      label="NTK3 consistent"),
               Line2D([], [], color="C2", marker="P", ls="none", ms=9, mec="k",
                      label="NTK3 faithful"),
               Line2D([], [], color="0.3", ls="-", label="consistent"),
               Line2D([], [], color="0.3", ls="--", label="faithful"),
               Line2D([], [], color="0.3", ls="--", lw=1, label="mean switch epoch")]
    fig.legend(handles=handles, loc="outside lower center", ncol=8, fontsize=8)
    if title:
        fig.suptitle(title)
    return fig
