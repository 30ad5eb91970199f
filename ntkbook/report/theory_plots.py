"""Measured λ_min against width beside the theory: one figure per activation.

Takes plain data — the frame of :meth:`ntkbook.experiments.theory.TheoryComparison.cells_frame`,
one row per (depth, width) with columns ``depth``, ``width``, ``lambda_min`` (geometric mean
over seeds), ``low``/``high`` (its interval), ``theory`` (the fitted theorem curve ``C T(n, L)``;
nan for activations without a theorem — Nguyen, Mondelli & Montúfar (2021) is about ReLU, so
for other activations only the measurement and the limit are drawn) and ``limit`` (the
infinite-width λ_min; nan where the parametrisation has no limit).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ntkbook.report.figures import FIGSIZE, PALETTE

__all__ = ["plot_theory_comparison", "theory_figures"]

_COLUMNS = ("depth", "width", "lambda_min", "low", "high", "theory", "limit")


def plot_theory_comparison(
    cells: pd.DataFrame,
    *,
    depths: Sequence[int] | None = None,
    wide_width: float | None = None,
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Measured λ_min vs width (markers, with the seed interval as a band), the theory curve
    (dashed) and the infinite-width λ_min (dotted horizontal line), one colour per depth, on
    log-log axes.

    Args:
        cells: one activation's cells (columns listed in the module docstring).
        depths: which depths to draw (default all).
        wide_width: draw a vertical line at this width (the theorem's ``N ln N``), if given.
        title: the axes title.
        ax: where to draw; a new figure if None.

    Returns:
        The Axes: one line per depth for the measurement (label ``depth L``), one per depth for
        the theory (gid ``theory``) and for the limit (gid ``limit``) where they are finite.
    """
    missing = [c for c in _COLUMNS if c not in cells.columns]
    if missing:
        raise ValueError(f"cells lacks columns {missing}")
    if ax is None:
        _, ax = plt.subplots(figsize=FIGSIZE, layout="constrained")
    depths = sorted(cells["depth"].unique()) if depths is None else [int(d) for d in depths]
    colours = sns.color_palette(PALETTE, len(depths))
    for colour, depth in zip(colours, depths, strict=True):
        d = cells[cells["depth"] == depth].sort_values("width")
        if d.empty:
            continue
        w = d["width"].to_numpy(dtype=float)
        ax.plot(w, d["lambda_min"], "o-", ms=3.5, color=colour, label=f"depth {depth}")
        band = np.isfinite(d["low"].to_numpy(float)) & np.isfinite(d["high"].to_numpy(float))
        if band.any():
            ax.fill_between(w[band], d["low"][band], d["high"][band], color=colour, alpha=0.2,
                            lw=0)
        theory = d["theory"].to_numpy(dtype=float)
        if np.isfinite(theory).any():
            ax.plot(w, theory, "--", color=colour, lw=1.4, gid="theory")
        limit = d["limit"].to_numpy(dtype=float)
        if np.isfinite(limit).any():
            ax.axhline(float(limit[np.isfinite(limit)][0]), ls=":", color=colour, lw=1.4,
                       gid="limit")
    if wide_width is not None:
        ax.axvline(wide_width, color="0.4", lw=0.8, gid="wide")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("width")
    ax.set_ylabel(r"$\lambda_{\min}$ of the empirical NTK")
    if title:
        ax.set_title(title)
    handles, labels = ax.get_legend_handles_labels()
    styles = [Line2D([], [], color="0.3", marker="o", ms=3.5, label="measured (seed interval)")]
    if np.isfinite(cells["theory"].to_numpy(float)).any():
        styles.append(Line2D([], [], color="0.3", ls="--", label="theory, fitted constant"))
    if np.isfinite(cells["limit"].to_numpy(float)).any():
        styles.append(Line2D([], [], color="0.3", ls=":", label="infinite width"))
    ax.legend(handles + styles, labels + [s.get_label() for s in styles], fontsize="small",
              ncol=2)
    return ax


def theory_figures(
    frames: Mapping[str, pd.DataFrame],
    *,
    depths: Sequence[int] | None = None,
    wide_width: float | None = None,
) -> dict[str, Figure]:
    """One figure per activation: ``{activation: Figure}`` from ``{activation: cells}``."""
    out = {}
    for activation, cells in frames.items():
        ax = plot_theory_comparison(cells, depths=depths, wide_width=wide_width,
                                    title=activation)
        out[activation] = ax.figure
    return out
