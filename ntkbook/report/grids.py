"""Tables and figures of smallest-eigenvalue grids (rows of `sweep.lambda_min_grid`).

A cell whose smallest eigenvalue is not above the eigensolver's resolution
``n eps ||Theta||_2`` (``resolution`` in each row) is *unresolved*: its value is rounding, not
data, and it is never drawn as a number — the heat-maps hatch it instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm


def grid_frame(rows: Sequence[dict]) -> pd.DataFrame:
    """Rows as a DataFrame with a boolean ``resolved`` column (lambda_min > resolution)."""
    frame = pd.DataFrame(list(rows))
    frame["resolved"] = frame["lambda_min"] > frame["resolution"]
    return frame


def seed_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (activation, width, depth): mean, std, min and max of lambda_min over seeds, and
    whether every seed was resolved."""
    keys = ["activation", "width", "depth"]
    grouped = frame.groupby(keys)
    summary = grouped["lambda_min"].agg(["mean", "std", "min", "max"]).reset_index()
    summary["resolved"] = grouped["resolved"].all().to_numpy()
    summary["seeds"] = grouped["seed"].nunique().to_numpy()
    return summary


def best_cells(summary: pd.DataFrame) -> pd.DataFrame:
    """The greatest mean lambda_min per activation, with its width and depth (Berg's Table 1)."""
    resolved = summary[summary["resolved"]]
    idx = resolved.groupby("activation")["mean"].idxmax()
    return resolved.loc[idx, ["activation", "width", "depth", "mean", "std"]].reset_index(drop=True)


def plot_grid(summary: pd.DataFrame, activation: str, ax: Axes | None = None,
              title: str | None = None, vmin: float | None = None,
              vmax: float | None = None) -> Axes:
    """Heat-map of mean lambda_min over width (x) and depth (y) on a log colour scale.

    Unresolved cells are hatched grey, not coloured.
    """
    sel = summary[summary["activation"] == activation]
    table = sel.pivot(index="depth", columns="width", values="mean").sort_index()
    ok = sel.pivot(index="depth", columns="width", values="resolved").sort_index()
    values = np.where(ok.to_numpy(dtype=bool), table.to_numpy(), np.nan)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.8), layout="constrained")
    finite = values[np.isfinite(values)]
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
    ax.figure.colorbar(mesh, ax=ax, label=r"mean $\lambda_{\min}$")
    ax.set(xlabel="width", ylabel="depth", title=title or activation)
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
    resolved_32, ``negative_32`` (float32 gave lambda_min <= 0) and ``rel_error_32``.
    """
    keys = ["activation", "width", "depth", "seed"]
    merged = f64[keys + ["lambda_min", "resolved"]].merge(
        f32[keys + ["lambda_min", "resolved"]], on=keys, suffixes=("_64", "_32"))
    merged["negative_32"] = merged["lambda_min_32"] <= 0
    merged["rel_error_32"] = (np.abs(merged["lambda_min_32"] - merged["lambda_min_64"])
                              / np.abs(merged["lambda_min_64"]))
    return merged


def plot_precision(compare: pd.DataFrame, activation: str, ax: Axes | None = None) -> Axes:
    """Relative error of float32 lambda_min against float64, per (width, depth), log colour.

    Cells where float32 gave a non-positive lambda_min are hatched red, not coloured.
    """
    sel = compare[compare["activation"] == activation]
    err = sel.pivot_table(index="depth", columns="width", values="rel_error_32")
    neg = sel.pivot_table(index="depth", columns="width", values="negative_32", aggfunc="max")
    values = np.where(neg.to_numpy(dtype=bool), np.nan, err.to_numpy())
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.8), layout="constrained")
    widths, depths = err.columns.to_numpy(), err.index.to_numpy()
    ax.set_facecolor("#f4c7c3")
    mesh = ax.pcolormesh(_edges(widths), _edges(depths), np.ma.masked_invalid(values),
                         norm=LogNorm(vmin=1e-8, vmax=1.0), cmap="magma_r")
    ax.figure.colorbar(mesh, ax=ax, label="relative error of float32")
    ax.set(xlabel="width", ylabel="depth",
           title=f"{activation}: float32 vs float64 (pink: $\\lambda_{{\\min}} \\leq 0$)")
    ax.grid(False)
    return ax
