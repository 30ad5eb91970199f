"""Tables and figures of smallest-eigenvalue grids (rows of ``experiments.grids.lambda_min_grid``).

Each row carries ``lambda_min`` with its error bound ``lambda_min_error_bound`` and the method
that computed it (``"eigvalsh"`` or ``"jacobian_qr"``). A cell is *resolved* when its value
exceeds its bound; an unresolved cell (older rows without a bound are judged by the
eigensolver's ``resolution``) is never drawn as a number — the heat-maps hatch it instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator

from ntkbook.report.theory_plots import plot_theory_comparison
from ntkbook.stats import mean_ci

#: Face colour of cells where float32 gave a non-positive lambda_min.
NEGATIVE_COLOUR = "#f4c7c3"


def grid_frame(rows: Sequence[dict]) -> pd.DataFrame:
    """Rows as a DataFrame with boolean ``resolved`` (lambda_min > its error bound) and ``qr``
    (computed by the Jacobian QR) columns."""
    frame = pd.DataFrame(list(rows))
    if "lambda_min_error_bound" not in frame:
        frame["lambda_min_error_bound"] = frame["resolution"]
        frame["lambda_min_method"] = "eigvalsh"
    frame["resolved"] = frame["lambda_min"] > frame["lambda_min_error_bound"]
    frame["qr"] = frame["lambda_min_method"] == "jacobian_qr"
    return frame


def seed_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (activation, width, depth): mean, std, min and max of lambda_min over seeds, the 95 %
    t-interval of the mean (``ci_low``, ``ci_high``), the largest error bound (``bound``),
    whether every seed was resolved and whether any seed needed the Jacobian QR (``qr``)."""
    keys = ["activation", "width", "depth"]
    grouped = frame.groupby(keys)
    summary = grouped["lambda_min"].agg(["mean", "std", "min", "max"]).reset_index()
    ci = grouped["lambda_min"].agg(lambda v: mean_ci(v)[1:])
    summary["ci_low"] = [c[0] for c in ci]
    summary["ci_high"] = [c[1] for c in ci]
    summary["bound"] = grouped["lambda_min_error_bound"].max().to_numpy()
    summary["resolved"] = grouped["resolved"].all().to_numpy()
    summary["qr"] = grouped["qr"].any().to_numpy()
    summary["seeds"] = grouped["seed"].nunique().to_numpy()
    return summary


def best_cells(summary: pd.DataFrame) -> pd.DataFrame:
    """The greatest mean lambda_min per activation, with its width and depth (Berg's Table 1)."""
    resolved = summary[summary["resolved"]]
    idx = resolved.groupby("activation")["mean"].idxmax()
    return resolved.loc[idx, ["activation", "width", "depth", "mean", "std"]].reset_index(drop=True)


def plot_grid(summary: pd.DataFrame, activation: str, ax: Axes | None = None,
              title: str | None = None, vmin: float | None = None,
              vmax: float | None = None, colorbar: bool = True):
    """Heat-map of mean lambda_min over width (x) and depth (y) on a log colour scale.

    Cells computed by the Jacobian QR (in any seed) carry a white dot with a dark rim (label
    ``"Jacobian QR"``); unresolved cells (value not above its bound) are grey and hatched
    (``///``), not coloured. Pass the same ``vmin``/``vmax`` to every panel of a figure for one
    shared colour scale (:func:`plot_grids` does). Depth ticks are integers; with few widths
    every width is a tick. Returns the axes; the mesh is ``ax.collections[0]`` (for a shared
    colour bar).
    """
    sel = summary[summary["activation"] == activation]
    table = sel.pivot(index="depth", columns="width", values="mean").sort_index()
    ok = sel.pivot(index="depth", columns="width", values="resolved").sort_index()
    qr = sel.pivot(index="depth", columns="width", values="qr").sort_index()
    values = np.where(ok.to_numpy(dtype=bool), table.to_numpy(), np.nan)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.8), layout="constrained")
    finite = values[np.isfinite(values) & (values > 0)]
    norm = LogNorm(vmin=vmin or (finite.min() if finite.size else 1e-12),
                   vmax=vmax or (finite.max() if finite.size else 1.0))
    widths, depths = table.columns.to_numpy(), table.index.to_numpy()
    ax.set_facecolor("0.85")
    mesh = ax.pcolormesh(_edges(widths), _edges(depths), np.ma.masked_invalid(values),
                         norm=norm, cmap="viridis")
    _hatch_cells(ax, widths, depths, ~ok.to_numpy(dtype=bool), "///")
    marked = qr.to_numpy(dtype=bool)
    if marked.any():
        dd, ww = np.nonzero(marked)
        ax.scatter(widths[ww], depths[dd], s=14, c="white", marker="o", edgecolors="0.15",
                   linewidths=0.6, label="Jacobian QR", zorder=3)
    if colorbar:
        ax.figure.colorbar(mesh, ax=ax, label=r"mean $\lambda_{\min}$")
    ax.set(xlabel="width", ylabel="depth", title=title or activation)
    _integer_ticks(ax, widths)
    ax.grid(False)
    return ax


def plot_grids(summary: pd.DataFrame, activations: Sequence[str],
               labels: dict[str, str] | None = None, title_suffix: str = "",
               ncols: int = 2) -> Figure:
    """One :func:`plot_grid` panel per activation on ONE shared log colour scale (the range
    of every resolved cell of ``summary``) with one colour bar, and a legend for the markers
    (Jacobian QR dots, hatched unresolved cells) that occur. Returns the figure."""
    labels = labels or {}
    means = summary.loc[summary["resolved"] & (summary["mean"] > 0), "mean"]
    vmin, vmax = (float(means.min()), float(means.max())) if len(means) else (None, None)
    nrows = -(-len(activations) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6 * ncols, 3.75 * nrows),
                             layout="constrained", squeeze=False)
    for ax, activation in zip(axes.flat, activations, strict=False):
        plot_grid(summary, activation, ax=ax, vmin=vmin, vmax=vmax, colorbar=False,
                  title=labels.get(activation, activation) + title_suffix)
    for ax in axes.flat[len(activations):]:
        ax.set_visible(False)
    bar = fig.colorbar(axes.flat[0].collections[0], ax=axes,
                       label=r"mean $\lambda_{\min}$ (log scale)")
    bar.ax.minorticks_off()
    handles = []
    if summary["qr"].any():
        handles.append(Line2D([], [], ls="", marker="o", ms=4, mfc="white", mec="0.15",
                              label="Jacobian QR"))
    if (~summary["resolved"]).any():
        handles.append(Patch(facecolor="0.85", edgecolor="0.35", hatch="///",
                             label="unresolved"))
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles))
    return fig


def _hatch_cells(ax: Axes, widths, depths, bad: np.ndarray, hatch: str) -> None:
    """Hatch the cells where ``bad`` (depth x width) is true, visibly: one rectangle each,
    no face, a dark hatch (a collection with ``alpha=0`` would hide the hatch too)."""
    xe, ye = _edges(widths), _edges(depths)
    for d, w in zip(*np.nonzero(bad), strict=True):
        ax.add_patch(Rectangle((xe[w], ye[d]), xe[w + 1] - xe[w], ye[d + 1] - ye[d],
                               facecolor="none", edgecolor="0.35", hatch=hatch, lw=0,
                               gid="hatched"))


def _integer_ticks(ax: Axes, widths) -> None:
    """Integer depth ticks; every width a tick when there are few of them."""
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    widths = np.asarray(widths)
    if widths.size <= 8:
        ax.set_xticks(widths, [str(int(w)) for w in widths])
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _edges(centres: np.ndarray) -> np.ndarray:
    """Cell edges around equally spaced centres (a single centre gets width 1)."""
    centres = np.asarray(centres, dtype=float)
    step = np.diff(centres).min() if centres.size > 1 else 1.0
    return np.concatenate([centres - step / 2, centres[-1:] + step / 2])


def precision_comparison(f64: pd.DataFrame, f32: pd.DataFrame) -> pd.DataFrame:
    """Cell by cell: float32 against float64 lambda_min of the same networks.

    Columns: activation, width, depth, seed, lambda_min_64, lambda_min_32, resolved_64,
    resolved_32, ``negative_32`` (float32 gave lambda_min <= 0), ``rel_error_32`` =
    |λ32 − λ64| / λ64, ``rel_bound_64`` = the float64 value's own error bound / λ64 (the same
    per-cell bound as the grid), and ``within_bound_64`` (the float32 error is not above it, so
    it cannot be told from zero).
    """
    keys = ["activation", "width", "depth", "seed"]
    cols = ["lambda_min", "resolved", "lambda_min_error_bound"]
    merged = f64[keys + cols].merge(f32[keys + cols], on=keys, suffixes=("_64", "_32"))
    merged["negative_32"] = merged["lambda_min_32"] <= 0
    merged["rel_error_32"] = (np.abs(merged["lambda_min_32"] - merged["lambda_min_64"])
                              / np.abs(merged["lambda_min_64"]))
    merged["rel_bound_64"] = merged["lambda_min_error_bound_64"] / np.abs(merged["lambda_min_64"])
    merged["within_bound_64"] = merged["rel_error_32"] <= merged["rel_bound_64"]
    return merged.drop(columns=["lambda_min_error_bound_32"])


def plot_precision(compare: pd.DataFrame, activation: str, ax: Axes | None = None,
                   title: str | None = None, colorbar: bool = True) -> Axes:
    """Relative error of float32 lambda_min against float64, per (width, depth), log colour
    from 1e-8 to 1 (the same scale in every panel).

    The reference is the float64 value with its per-cell error bound: cells where float32 gave
    a non-positive lambda_min are pink, not coloured, and cells whose float32 error is within
    the float64 bound are hatched (``...``; the error cannot be measured there).
    """
    sel = compare[compare["activation"] == activation]
    err = sel.pivot_table(index="depth", columns="width", values="rel_error_32")
    neg = sel.pivot_table(index="depth", columns="width", values="negative_32", aggfunc="max")
    tiny = sel.pivot_table(index="depth", columns="width", values="within_bound_64",
                           aggfunc="max").to_numpy(dtype=bool)
    values = np.where(neg.to_numpy(dtype=bool) | tiny, np.nan, err.to_numpy())
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.8), layout="constrained")
    widths, depths = err.columns.to_numpy(), err.index.to_numpy()
    ax.set_facecolor(NEGATIVE_COLOUR)
    mesh = ax.pcolormesh(_edges(widths), _edges(depths), np.ma.masked_invalid(values),
                         norm=LogNorm(vmin=1e-8, vmax=1.0), cmap="magma_r")
    _hatch_cells(ax, widths, depths, tiny, "...")
    if colorbar:
        ax.figure.colorbar(mesh, ax=ax, label="relative error of float32")
    _integer_ticks(ax, widths)
    ax.set(xlabel="width", ylabel="depth",
           title=title or f"{activation}: float32 vs float64")
    ax.grid(False)
    return ax


def plot_precision_grids(compare: pd.DataFrame, activations: Sequence[str],
                         labels: dict[str, str] | None = None) -> Figure:
    """One :func:`plot_precision` panel per activation in a row, one shared colour bar and a
    legend for the pink (float32 ``lambda_min <= 0``) and hatched cells. Returns the figure."""
    labels = labels or {}
    fig, axes = plt.subplots(1, len(activations), figsize=(6 * len(activations), 3.8),
                             layout="constrained", squeeze=False)
    for ax, activation in zip(axes[0], activations, strict=True):
        plot_precision(compare, activation, ax=ax, colorbar=False,
                       title=f"{labels.get(activation, activation)}: float32 vs float64")
    bar = fig.colorbar(axes[0, 0].collections[0], ax=axes, label="relative error of float32")
    bar.ax.minorticks_off()
    handles = [Patch(facecolor=NEGATIVE_COLOUR, label=r"float32 $\lambda_{\min} \leq 0$")]
    if compare["within_bound_64"].any():
        handles.append(Patch(facecolor="white", edgecolor="0.35", hatch="...",
                             label="error within the float64 bound"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles))
    return fig


def plot_limit_convergence(conv: pd.DataFrame, exponents: dict[str, tuple[float, float, float]],
                           labels: dict[str, str] | None = None) -> Figure:
    """Two log-log panels against the width: the kernel's relative distance to the limit
    (``kernel_rel_diff``) and the relative gap of lambda_min (``lambda_min_rel_gap``), means over
    seeds of the rows of :func:`ntkbook.experiments.grids.convergence_to_limit`, one marker and
    line style per activation (so that coinciding curves stay visible), the fitted exponent
    ``(slope, low, high)`` of ``exponents`` in the legend, and a ``width^(-1/2)`` reference."""
    labels = labels or {}
    mean = conv.groupby(["activation", "width"])[["kernel_rel_diff", "lambda_min_rel_gap"]].mean()
    widths = np.sort(conv["width"].unique()).astype(float)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), layout="constrained")
    styles = zip("os^DvP", ["-", "--", "-.", ":", "-", "--"], strict=True)
    for activation, (marker, ls) in zip(exponents, styles, strict=False):
        sel = mean.loc[activation]
        slope, low, high = exponents[activation]
        label = labels.get(activation, activation)
        axes[0].loglog(sel.index, sel["kernel_rel_diff"], marker=marker, ls=ls, ms=5,
                       label=f"{label} (slope {slope:.2f} [{low:.2f}, {high:.2f}])")
        axes[1].loglog(sel.index, sel["lambda_min_rel_gap"], marker=marker, ls=ls, ms=5,
                       label=label)
    for ax, column in zip(axes, ["kernel_rel_diff", "lambda_min_rel_gap"], strict=True):
        ax.loglog(widths, mean[column].max() * np.sqrt(widths[0] / widths), "k:", lw=1.2,
                  label=r"$\propto \mathrm{width}^{-1/2}$")
        ax.set(xlabel="width", xticks=widths, xticklabels=[str(int(v)) for v in widths])
        ax.minorticks_off()
        ax.legend(fontsize=9)
    axes[0].set(ylabel=r"$\|\Theta_w - \Theta^\infty\|_F / \|\Theta^\infty\|_F$",
                title="kernel distance to the limit")
    axes[1].set(ylabel=r"$|\lambda_{\min}(\Theta_w) - \lambda_{\min}^\infty|"
                       r" / \lambda_{\min}^\infty$",
                title=r"relative gap of $\lambda_{\min}$")
    return fig


def plot_theory_panels(frames: Mapping[str, pd.DataFrame], *,
                       depths: Sequence[int] | None = None, wide_width: float | None = None,
                       ncols: int = 2) -> Figure:
    """:func:`ntkbook.report.theory_plots.plot_theory_comparison` for each ``{title: cells}``
    in one figure of ``ncols`` columns, with one legend below the panels (depth colours are
    the same in every panel). Returns the figure."""
    nrows = -(-len(frames) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.2 * ncols, 4.3 * nrows),
                             layout="constrained", squeeze=False)
    handles, labels = [], []
    for ax, (title, cells) in zip(axes.flat, frames.items(), strict=False):
        plot_theory_comparison(cells, depths=depths, wide_width=wide_width, title=title, ax=ax)
        legend = ax.get_legend()
        if len(legend.texts) > len(labels):  # the panel with the most entries names them all
            handles, labels = legend.legend_handles, [t.get_text() for t in legend.texts]
        legend.remove()
    for ax in axes.flat[len(frames):]:
        ax.set_visible(False)
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 7),
               fontsize="small")
    return fig
