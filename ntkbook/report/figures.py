"""Figures of the book: one style, small helpers that each draw on an Axes and return it.

Call :func:`set_book_style` once per chapter. Every helper takes ``ax=None`` (a new figure of
the book's size) and returns the Axes it drew on, so a chapter can combine them in subplots.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm, SymLogNorm

from ntkbook.stats import fit_power_law

FIGSIZE = (6.4, 4.0)
#: Colour-blind safe qualitative palette used for every line plot.
PALETTE = "colorblind"

__all__ = [
    "FIGSIZE",
    "PALETTE",
    "plot_interval_lines",
    "plot_kernel_heatmap",
    "plot_loss_curves",
    "plot_scaling",
    "plot_seed_bands",
    "plot_spectrum",
    "plot_transfer",
    "set_book_style",
]


def set_book_style() -> None:
    """Seaborn's white-grid theme, the colour-blind palette, and a size that suits the book."""
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE, font_scale=0.95)
    plt.rcParams.update(
        {
            "figure.figsize": FIGSIZE,
            "figure.dpi": 110,
            "savefig.dpi": 150,
            "savefig.bbox": "tight",
            "axes.titleweight": "bold",
            "axes.spines.top": False,
            "axes.spines.right": False,
            "legend.frameon": False,
            "lines.linewidth": 1.8,
        }
    )


def _axes(ax: Axes | None, figsize: tuple[float, float] = FIGSIZE) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def plot_kernel_heatmap(
    theta,
    ax: Axes | None = None,
    title: str = "empirical NTK",
    log: bool = False,
    cmap: str = "magma",
) -> Axes:
    """Heat-map of a kernel matrix ``theta`` (n, n), brighter = larger, with a colour bar.

    Args:
        theta: the kernel.
        ax: where to draw.
        title: the title.
        log: colour on a (symmetric) log scale; useful when a few entries dominate.
        cmap: a matplotlib colour map.
    """
    k = np.asarray(theta, dtype=np.float64)
    ax = _axes(ax, (5.0, 4.2))
    norm = None
    if log:
        positive = k[k > 0]
        if np.all(k > 0):
            norm = LogNorm(vmin=positive.min(), vmax=positive.max())
        else:
            norm = SymLogNorm(linthresh=np.percentile(np.abs(k), 5) or 1e-12)
    mesh = ax.imshow(k, cmap=cmap, norm=norm, interpolation="nearest")
    ax.figure.colorbar(mesh, ax=ax, shrink=0.85, label=r"$\Theta_{ij}$")
    ax.set(title=title, xlabel="$j$", ylabel="$i$")
    ax.grid(False)
    return ax


def plot_spectrum(
    eigs,
    ax: Axes | None = None,
    mark_min: bool = True,
    label: str | None = None,
    title: str = "spectrum of the NTK",
) -> Axes:
    """All eigenvalues, largest first, on a log axis; non-positive ones are drawn at the bottom.

    Args:
        eigs: the eigenvalues (any order).
        ax: where to draw.
        mark_min: annotate the smallest eigenvalue.
        label: legend label of the curve.
        title: the title.
    """
    lam = np.sort(np.asarray(eigs, dtype=np.float64))[::-1]
    ax = _axes(ax)
    positive = lam > 0
    index = np.arange(1, lam.size + 1)
    ax.plot(index[positive], lam[positive], marker=".", markersize=4, lw=1.0, label=label)
    if not np.all(positive):
        floor = lam[positive].min() if np.any(positive) else 1e-300
        ax.plot(index[~positive], np.full((~positive).sum(), floor), "x", color="C3",
                label=f"{(~positive).sum()} eigenvalues $\\leq 0$")  # fmt: skip
    ax.set_yscale("log")
    ax.set(title=title, xlabel="index (largest first)", ylabel="eigenvalue")
    if mark_min and np.any(positive):
        lam_min = lam[positive][-1]
        ax.axhline(lam_min, color="0.5", lw=0.8, ls=":")
        ax.annotate(
            rf"$\lambda_{{\min}} = {lam_min:.3g}$",
            xy=(index[positive][-1], lam_min),
            xytext=(0.5, 0.75),
            textcoords="axes fraction",
            arrowprops={"arrowstyle": "->", "color": "0.4"},
        )
    if label is not None or not np.all(positive):
        ax.legend()
    return ax


def plot_loss_curves(
    curves: Mapping[str, tuple],
    ax: Axes | None = None,
    logy: bool = True,
    logx: bool = False,
    xlabel: str = "gradient-flow time $t$",
    ylabel: str = "loss",
    title: str | None = None,
    styles: Mapping[str, Mapping] | None = None,
    ylim: tuple[float, float] | None = None,
) -> Axes:
    """Loss (or any positive quantity) against time, one line per entry of ``curves``.

    Args:
        curves: label -> ``(t, values)``.
        ax: where to draw.
        logy, logx: log scales.
        xlabel, ylabel, title: labels.
        styles: label -> extra keyword arguments of ``ax.plot`` (e.g. ``{"ls": "--"}``).
        ylim: y limits (useful when a curve plunges, like a wrong bound).
    """
    ax = _axes(ax)
    styles = styles or {}
    for label, (t, values) in curves.items():
        ax.plot(np.asarray(t), np.asarray(values), label=label, **dict(styles.get(label, {})))
    if logy:
        ax.set_yscale("log")
    if logx:
        ax.set_xscale("log")
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set(xlabel=xlabel, ylabel=ylabel)
    if title:
        ax.set_title(title)
    ax.legend()
    return ax


def plot_scaling(
    x: Sequence[float],
    series: Mapping[str, Sequence[float]],
    ax: Axes | None = None,
    xlabel: str = "width",
    ylabel: str = "",
    title: str | None = None,
    fit: bool = True,
    spread: Mapping[str, Sequence[float]] | None = None,
    reference_slopes: Mapping[str, float] | None = None,
) -> Axes:
    """Quantities against ``x`` on log-log axes, each with its fitted power law ``a x^b``.

    Args:
        x: the abscissae (e.g. widths).
        series: label -> values at ``x`` (means, if there are several seeds).
        ax: where to draw.
        xlabel, ylabel, title: labels.
        fit: draw the least-squares power law of each series and put its exponent in the legend.
        spread: label -> half-widths of error bars (e.g. standard deviations over seeds).
        reference_slopes: label -> a theoretical exponent, drawn as a grey dotted power law
            through the geometric mean of that series.
    """
    ax = _axes(ax)
    xs = np.asarray(x, dtype=np.float64)
    for i, (series_label, values) in enumerate(series.items()):
        label = series_label
        v = np.asarray(values, dtype=np.float64)
        colour = f"C{i}"
        err = None if spread is None or label not in spread else np.asarray(spread[label])
        if fit and len(xs) > 1:
            b, a = fit_power_law(xs, v)
            label = f"{label} (fit $\\propto$ width$^{{{b:.2f}}}$)"
            grid = np.geomspace(xs.min(), xs.max(), 50)
            ax.plot(grid, a * grid**b, color=colour, lw=1.0, ls="--")
        ax.errorbar(xs, v, yerr=err, color=colour, marker="o", ls="none", capsize=3, label=label)
        slope = None if reference_slopes is None else reference_slopes.get(series_label)
        if slope is not None:
            x0, v0 = np.exp(np.mean(np.log(xs))), np.exp(np.mean(np.log(v)))
            grid = np.geomspace(xs.min(), xs.max(), 50)
            ax.plot(grid, v0 * (grid / x0) ** slope, color="0.45", lw=1.0, ls=":",
                    label=f"theory $\\propto$ width$^{{{slope:g}}}$")  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel)
    if title:
        ax.set_title(title)
    ax.legend()
    return ax


def plot_transfer(
    eigenvalues,
    factors: Mapping[str, np.ndarray],
    ax: Axes | None = None,
    title: str | None = None,
    styles: Mapping[str, Mapping] | None = None,
    xlabel: str = r"eigenvalue $\lambda$ of $\Theta$",
) -> Axes:
    """Residual factor per eigenvalue of several updates (``r -> factor(lam) r`` per mode).

    A factor of 1 leaves that mode's error alone, 0 removes it, a negative one overshoots.

    Args:
        eigenvalues: ``(K,)`` eigenvalues, the x axis (log scale).
        factors: label -> ``(K,)`` factors.
        ax: where to draw.
        title: the title.
        styles: label -> extra keyword arguments of ``ax.plot``.
        xlabel: the x label.
    """
    ax = _axes(ax)
    lam = np.asarray(eigenvalues, dtype=np.float64)
    order = np.argsort(lam)
    styles = styles or {}
    for label, f in factors.items():
        ax.plot(lam[order], np.asarray(f)[order], label=label, **dict(styles.get(label, {})))
    ax.axhline(0.0, color="0.3", lw=0.8)
    ax.set_xscale("log")
    ax.set(xlabel=xlabel, ylabel="residual factor")
    if title:
        ax.set_title(title)
    ax.legend()
    return ax


def plot_seed_bands(
    curves: Mapping[str, tuple],
    ax: Axes | None = None,
    *,
    logy: bool = True,
    xlabel: str = "epoch",
    ylabel: str = "loss",
    title: str | None = None,
) -> Axes:
    """Median over seeds (line) and range over seeds (shaded band), one colour per curve.

    Args:
        curves: label -> ``(x, values)`` with ``x`` of shape ``(T,)`` and ``values``
            ``(S, T)``, one row per seed.
        ax: where to draw.
        logy: log y scale.
        xlabel, ylabel, title: labels.
    """
    ax = _axes(ax)
    for label, (x, values) in curves.items():
        values = np.atleast_2d(np.asarray(values, dtype=np.float64))
        (line,) = ax.plot(np.asarray(x), np.median(values, axis=0), label=label)
        ax.fill_between(np.asarray(x), values.min(axis=0), values.max(axis=0),
                        color=line.get_color(), alpha=0.2, lw=0)
    if logy:
        ax.set_yscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel)
    if title:
        ax.set_title(title)
    ax.legend(fontsize="small")
    return ax


def plot_interval_lines(
    x: Sequence[float],
    series: Mapping[str, tuple],
    ax: Axes | None = None,
    *,
    logx: bool = True,
    logy: bool = True,
    xlabel: str = "width",
    ylabel: str = "",
    title: str | None = None,
) -> Axes:
    """Means with interval error bars against ``x``, one line per series.

    Args:
        x: ``(K,)`` abscissae.
        series: label -> ``(means, lows, highs)``, each ``(K,)``; where an interval bound is
            not finite (one seed) the point is drawn without a bar.
        ax: where to draw.
        logx, logy: log scales.
        xlabel, ylabel, title: labels.
    """
    ax = _axes(ax)
    x = np.asarray(x, dtype=np.float64)
    for label, (mean, low, high) in series.items():
        mean, low, high = (np.asarray(v, dtype=np.float64) for v in (mean, low, high))
        err = np.nan_to_num(np.vstack([mean - low, high - mean]))
        ax.errorbar(x, mean, yerr=err, marker="o", capsize=3, label=label)
    if logx:
        ax.set_xscale("log")
        ax.set_xticks(x, [f"{v:g}" for v in x])
        ax.minorticks_off()
    if logy:
        ax.set_yscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel)
    if title:
        ax.set_title(title)
    ax.legend()
    return ax
