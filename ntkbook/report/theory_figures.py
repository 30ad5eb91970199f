"""Figures and wording helpers of the two opening chapters (the theory; looking at the NTK).

No JAX and no training: every function takes the arrays a chapter computed.

* :func:`kernel_spread` measures how far a kernel is from a constant matrix, and how much of
  its deviation is a row-plus-column pattern (stripes).
* :func:`plot_kernel_deviation` draws ``Theta - mean(Theta)`` with a symmetric diverging colour
  scale and no offset on the colour bar (a nearly constant kernel drawn as it is shows only the
  rounding of its colour bar's offset).
* :func:`plot_mode_factors` draws the residual factor of the NTK updates per eigen-direction,
  on a kernel's eigenvalues and against ``x = rho h lam``.
* :func:`plot_lambda_min_draws` draws one dot per seed of lambda_min, per network and reading.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import ScalarFormatter

from ntkbook.report.figures import plot_transfer

__all__ = ["kernel_spread", "plot_kernel_deviation",
           "plot_lambda_min_draws", "plot_mode_factors"]


def kernel_spread(theta) -> dict[str, float]:
    """How far a symmetric kernel is from the constant matrix of its mean.

    Returns:
        ``mean``: the mean entry ``m``; ``rel_std``: the standard deviation of the entries over
        ``|m|``; ``rel_range``: ``(max - min) / |m|``; ``stripe_share``: the share of
        ``||Theta - m||_F^2`` that the row-plus-column pattern ``a_i + a_j`` explains, with
        ``a_i`` the mean of row ``i`` minus ``m`` (the least-squares additive fit; NaN for a
        constant kernel).
    """
    k = np.asarray(theta, dtype=np.float64)
    m = float(k.mean())
    dev = k - m
    a = k.mean(axis=1) - m
    resid = dev - a[:, None] - a[None, :]
    total = float(np.sum(dev * dev))
    share = 1.0 - float(np.sum(resid * resid)) / total if total > 0 else float("nan")
    return {"mean": m, "rel_std": float(k.std()) / abs(m),
            "rel_range": float(k.max() - k.min()) / abs(m), "stripe_share": share}


def plot_kernel_deviation(theta, ax=None, title: str = "", cmap: str = "RdBu_r"):
    """Heat-map of ``Theta - mean(Theta)`` on a colour scale symmetric about 0.

    The colour bar is labelled as the deviation and shows its numbers without an additive
    offset (a power-of-ten factor may stand above it). Returns the axes.
    """
    k = np.asarray(theta, dtype=np.float64)
    dev = k - k.mean()
    if ax is None:
        _, ax = plt.subplots(figsize=(5.0, 4.2), layout="constrained")
    vmax = float(np.max(np.abs(dev))) or 1.0
    mesh = ax.imshow(dev, cmap=cmap, vmin=-vmax, vmax=vmax, interpolation="nearest")
    formatter = ScalarFormatter(useOffset=False, useMathText=True)
    formatter.set_powerlimits((-2, 3))
    ax.figure.colorbar(mesh, ax=ax, shrink=0.85, format=formatter,
                       label=r"$\Theta_{ij} - \bar\Theta$")
    ax.set(title=title, xlabel="$j$", ylabel="$i$")
    ax.grid(False)
    return ax


def plot_mode_factors(
    eigenvalues,
    factors: Mapping[str, np.ndarray],
    x_grid,
    x_factors: Mapping[str, np.ndarray],
    x_kernel: tuple[float, float],
    styles: Mapping[str, Mapping] | None = None,
    x_ylim: tuple[float, float] = (-8.0, 1.5),
):
    """Residual factor ``1 - lam G(lam)`` of NTK updates per eigen-direction, in two panels.

    Args:
        eigenvalues: ``(M,)`` the kernel's eigenvalues (left panel's x axis).
        factors: label -> ``(M,)`` factors on those eigenvalues.
        x_grid: ``(K,)`` values of ``x = rho h lam`` (right panel's x axis).
        x_factors: label -> ``(K,)`` factors on ``x_grid``.
        x_kernel: ``(x_min, x_max)`` of the kernel's nonzero eigenvalues, shaded on the right.
        styles: label -> keyword arguments of ``ax.plot``, shared by both panels.
        x_ylim: y range of the right panel (factors beyond it are cut).

    Returns:
        The figure: (a) on the kernel's eigenvalues, (b) against ``x`` with the line ``x = 2``.
    """
    fig, (ax_lam, ax_x) = plt.subplots(1, 2, figsize=(12, 4.4), layout="constrained")
    plot_transfer(eigenvalues, factors, ax=ax_lam, styles=styles,
                  title="(a) on the eigenvalues of the kernel")
    ax_lam.set_ylim(-1.2, 1.1)
    ax_lam.legend(loc="lower left", fontsize="small")
    plot_transfer(x_grid, x_factors, ax=ax_x, styles=styles,
                  xlabel=r"$x = \rho h \lambda$ (step times rate times eigenvalue)",
                  title=r"(b) against $x = \rho h \lambda$")
    ax_x.axvspan(*x_kernel, color="0.85", zorder=0, label="this kernel")
    ax_x.axvline(2.0, color="C3", lw=0.8, ls=":", label="$x = 2$")
    ax_x.set_ylim(*x_ylim)
    ax_x.legend(loc="lower left", fontsize="small")
    return fig


def plot_lambda_min_draws(
    values: Mapping[tuple[str, str], Sequence[float]],
    networks: Sequence[str],
    readings: Sequence[str],
    reported: Mapping[str, Sequence[float]] | None = None,
):
    """One dot per seed of lambda_min, a panel per network and a row per reading.

    Args:
        values: ``(network, reading)`` -> lambda_min of every seed.
        networks: panel order. readings: row order (bottom up).
        reported: network -> published values, drawn as dotted vertical lines.

    Returns:
        The figure.
    """
    reported = reported or {}
    fig, axes = plt.subplots(1, len(networks), figsize=(11, 3.8), layout="constrained",
                             squeeze=False)
    for ax, name in zip(axes[0], networks, strict=True):
        for i, reading in enumerate(readings):
            v = np.asarray(values[(name, reading)], dtype=np.float64)
            jitter = np.linspace(-0.15, 0.15, v.size)
            ax.scatter(v, np.full(v.size, i) + jitter, s=18, label=reading)
        for value in reported.get(name, ()):
            ax.axvline(value, color="0.3", ls=":", lw=1)
        ax.set(xscale="log", yticks=range(len(readings)), yticklabels=list(readings),
               ylim=(-0.6, len(readings) - 0.4), xlabel=r"$\lambda_{\min}$", title=name)
    return fig
