"""Tables and figures of smallest-eigenvalue grids (rows of ``experiments.grids.lambda_min_grid``).

Each row carries ``lambda_min`` with its error bound ``lambda_min_error_bound`` and the method
that computed it (``"eigvalsh"`` or ``"jacobian_qr"``). A cell is *resolved* when its value
exceeds its bound; an unresolved cell (older rows without a bound are judged by the
eigensolver's ``resolution``) is never drawn as a number — the heat-maps hatch it instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.ticker import MaxNLocator

from ntkbook.stats import mean_ci


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

    Cells computed by the Jacobian QR (in any seed) carry a white dot; unresolved cells (value
    not above its bound) are hatched grey, not coloured. Pass the same ``vmin``/``vmax`` to every
    panel of a figure for one shared colour scale. Returns the axes; the mesh is
    ``ax.collections[0]`` (for a shared colour bar).
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
    bad = ~ok.to_numpy(dtype=bool)
    if bad.any():
        ax.pcolor(_edges(widths), _edges(depths), np.ma.masked_where(~bad, np.ones_like(values)),
                  hatch="///", alpha=0.0)
    marked = qr.to_numpy(dtype=bool)
    if marked.any():
        dd, ww = np.nonzero(marked)
        ax.scatter(widths[ww], depths[dd], s=6, c="white", marker="o", linewidths=0,
                   label="Jacobian QR")
    if colorbar:
        ax.figure.colorbar(mesh, ax=ax, label=r"mean $\lambda_{\min}$")
    ax.set(xlabel="width", ylabel="depth", title=title or activation)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(False)
    return ax


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


def plot_precision(compare: pd.DataFrame, activation: str, ax: Axes | None = None) -> Axes:
    """Relative error of float32 lambda_min against float64, per (width, depth), log colour.

    The reference is the float64 value with its per-cell error bound: cells where float32 gave
    a non-positive lambda_min are pink, not coloured, and cells whose float32 error is within
    the float64 bound are hatched (the error cannot be measured there).
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
    ax.set_facecolor("#f4c7c3")
    mesh = ax.pcolormesh(_edges(widths), _edges(depths), np.ma.masked_invalid(values),
                         norm=LogNorm(vmin=1e-8, vmax=1.0), cmap="magma_r")
    if tiny.any():
        ax.pcolor(_edges(widths), _edges(depths), np.ma.masked_where(~tiny, np.ones(tiny.shape)),
                  hatch="...", alpha=0.0)
    ax.figure.colorbar(mesh, ax=ax, label="relative error of float32")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="width", ylabel="depth",
           title=f"{activation}: float32 vs float64 (pink: $\\lambda_{{\\min}} \\leq 0$)")
    ax.grid(False)
    return ax
