"""The measured λ_min beside the theory: Nguyen, Mondelli & Montúfar (2021) and the limit kernel.

**The paper.** Q. Nguyen, M. Mondelli, G. Montúfar, "Tight bounds on the smallest eigenvalue of
the neural tangent kernel for deep ReLU networks", ICML 2021, PMLR 139:8119-8129; read in the
LaTeX of arXiv:2012.11654v5 (theorems numbered by section there).

*Setting (Sec. 1-2).* A bias-free ReLU network with one output, ``f_l = relu(W_l^T f_{l-1})``
for ``l < L`` and ``f_L = W_L^T f_{L-1}``, widths ``n_0 = d, n_1, ..., n_{L-1}, n_L = 1``,
weights ``(W_l)_ij ~ N(0, beta_l^2)`` i.i.d., *no* 1/sqrt(n) multipliers (the variance is in
``beta_l``), ``relu'(0) = 0``; the empirical NTK is ``Kbar = J J^T`` with J the Jacobian of the
N outputs with respect to all weights. Data ``x_1..x_N`` i.i.d. from ``P_X`` with
Assumption 2.1 (``E||x|| = Theta(sqrt d)``, ``E||x||^2 = Theta(d)``, ``E||x - Ex||^2 =
Omega(d)``) and Assumption 2.2 (Lipschitz concentration: ``P(|f(x) - Ef| > t) <=
2 exp(-c t^2 / ||f||_Lip^2)``; e.g. Gaussian, uniform on the sphere or the hypercube).
All Omega/O hold "for sufficiently large N, d, n_1, ..., n_{L-1}"; the depth L is a constant.
``mu_r(relu) = (-1)^((r-2)/2) (r-3)!! / (sqrt(2 pi) sqrt(r!))`` is the r-th Hermite coefficient
of ReLU (even r >= 2).

*Theorem 3.2 (limiting NTK).* With ``beta_l = 1`` and ``(prod_{l<L} 2/n_l) Kbar -> K^(L)``
(He-normalised recursion, ``G^(1) = X X^T``, no biases), zero-mean ``P_X`` and any even
``r >= 2``, w.p. >= ``1 - N e^{-Omega(d)} - N^2 e^{-Omega(d N^{-2/(r-0.5)})}``:
``L O(d) >= lambda_min(K^(L)) >= mu_r(relu)^2 Omega(d)``; these Omega/O hide no dependence
on L.

*Theorem 4.1 (finite widths).* Fix ``delta > 0`` and even ``r >= 2``; ``xi_k = 1`` if
``n_k = Omega(N log N log(N/delta))`` and ``prod_{l=1}^{k-2} log n_l = o(min_{l<=k-1} n_l)``,
else 0. Then, w.p. >= ``1 - delta - sum_k xi_k N^2 exp(-Omega(min_{l<k} n_l /
(N^{2/(r/2-0.1)} prod log n_l))) - N sum_l exp(-Omega(n_l)) - N exp(-Omega(d))``,

    lambda_min(Kbar) >= sum_{k=2}^{L} xi_{k-1} mu_r^2 Omega(d prod_{l=1}^{L-1} n_l
                          prod_{l != k} beta_l^2) + lambda_min(X X^T) Omega(prod_{l=1}^{L-1} n_l
                          prod_{l=2}^{L} beta_l^2),

and, w.p. >= ``1 - sum_l exp(-Omega(n_l)) - exp(-Omega(d))``,
``lambda_min(Kbar) <= sum_{k=1}^{L} O(d prod_{l=1}^{L-1} n_l prod_{l != k} beta_l^2)``.
The constants are unspecified and "may depend on L". The k-th term is layer k's gradient
block. When a layer k with ``xi_k = 1`` has ``beta_{k+1} = min_l beta_l`` (e.g. one wide layer
and He/LeCun ``beta_l = c / sqrt(n_{l-1})``) both bounds scale as
``(d prod n_l)(prod beta_l^2)(min_l beta_l)^{-2}``: tight up to a constant.

**How it maps onto ntkbook's MLP.** Layer l of :class:`ntkbook.MLP` computes ``a @ W s_l + b``
with ``W ~ N(0, sigma_l^2)`` (``s_l`` = :meth:`MLP.weight_scales`, ``sigma_l`` =
:meth:`MLP.init_stds`). Its forward map is the paper's with ``W' = s_l W``, so
``beta_l = s_l sigma_l``; and the gradient with respect to the trained W is ``s_l`` times the
one with respect to W', so layer k's weight block of the NTK is ``s_k^2`` times the paper's.
The theorem's order expression for ntkbook is therefore

    T(n, L) = sum_{k=1}^{L} t_k,   t_k = s_k^2 (prod_{l=0}^{L-1} n_l) prod_{l != k} beta_l^2,

(:func:`theorem_scale`), which is the paper's exactly for ``"standard"`` (Glorot
``beta_l^2 = 2/(n_{l-1}+n_l)``, ``s_l = 1``). ``"ntk"`` (``s_l = 1/sqrt(n_{l-1})``,
``sigma = 1``, LeCun's ``beta``) gives ``t_k = 1``: T = L whatever the width, so the theorem
says λ_min neither grows nor vanishes with the width — it tends to the limit kernel's.
``"berg"`` (``s_l = 1/sqrt(n_l)`` for hidden layers, 1 for the output) gives ``t_k = d``: also
flat in the width. (Caution for ``"standard"``: :func:`ntkbook.experiments.grids.lambda_min_grid`
draws each narrower network as the leading units of the widest one's draw, so its Glorot
variance is the widest network's, not its own; such rows are not the theorem's networks.)
What the theorem does *not* cover: (i) biases — ``"ntk"`` and ``"berg"`` draw them from
N(0, 1), ``"standard"`` starts them at 0 but trains them (their gradient blocks only add to
the kernel); Berg's growth of λ_min with the width comes from his biases
and unscaled output layer, outside the theorem; (ii) the width condition ``n = Omega(N log N
log(N/delta))``, whose constant is unspecified — :data:`WIDE_FACTOR` ``* N ln N`` marks the
cells that meet it with the constant set to 1, as an indication only; (iii) the depth: the
finite-width constants may depend on L, so only Theorem 3.2 speaks about depth, and only
through bounds (depth-independent below, linear in L above). :func:`predicted_lambda_min_scaling`
therefore offers the upper bound's shape ``sum_k t_k`` (default) or the tight single-term
shape ``max_k t_k``; one constant C, fitted on log scale, scales it to the measurements, and
the per-cell ratios say where the shape holds. (iv) Activations other than ReLU: no theorem
here; for them only the measurement and the infinite-width λ_min are compared.

The infinite-width λ_min comes from :func:`ntkbook.core.limit.infinite_width_kernels` on the
same inputs (NTK parametrisation, biases included — ntkbook's own limit, not the paper's
He-normalised bias-free ``K^(L)``), so it is exact for the networks measured and needs no
theorem; only ``"ntk"`` has one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ntkbook.core import spectrum
from ntkbook.core.limit import infinite_width_kernels
from ntkbook.core.mlp import MLP
from ntkbook.stats import fit_power_law

PAPER = ("Nguyen, Mondelli & Montúfar (2021), Tight bounds on the smallest eigenvalue of the "
         "NTK for deep ReLU networks, ICML, PMLR 139:8119-8129 (arXiv:2012.11654)")
#: Activations the theorem is about.
THEORY_ACTIVATIONS = ("relu",)
#: The unspecified constant of the width condition n = Omega(N log N), set to 1 (indicative).
WIDE_FACTOR = 1.0
DEPTH_SHAPES = ("sum", "max")

__all__ = [
    "DEPTH_SHAPES",
    "PAPER",
    "THEORY_ACTIVATIONS",
    "WIDE_FACTOR",
    "InfiniteWidthLambda",
    "TheoryComparison",
    "compare_with_theory",
    "infinite_width_lambda_min",
    "layer_terms",
    "predicted_lambda_min_scaling",
    "relu_hermite_coefficient",
    "theorem_scale",
    "wide_width",
]


def relu_hermite_coefficient(r: int) -> float:
    """``mu_r(relu)`` of the paper's eq. (Hermite expansion), for even ``r >= 2``."""
    if r < 2 or r % 2:
        raise ValueError(f"r must be an even integer >= 2, got {r}")
    double_fact = math.prod(range(r - 3, 0, -2)) if r > 3 else 1  # (r-3)!!, (-1)!! = 1
    return (-1) ** ((r - 2) // 2) * double_fact / math.sqrt(math.factorial(r)) / math.sqrt(
        2 * math.pi)


def wide_width(n_samples: int, factor: float = WIDE_FACTOR) -> float:
    """``factor * N ln N``: Theorem 4.1's width condition with its constant set to ``factor``
    (and the ``log(N/delta)`` factor dropped) — an indication, not the theorem's threshold."""
    return float(factor * n_samples * math.log(n_samples))


def layer_terms(n_inputs: int, width: int, depth: int, parametrization: str = "ntk"
                ) -> np.ndarray:
    """The theorem's per-layer terms ``t_k``, ``k = 1..depth``, for ntkbook's network
    ``(n_inputs, width, ..., width, 1)``: ``(depth,)`` float64 (see the module docstring)."""
    net = MLP((int(n_inputs),) + (int(width),) * (int(depth) - 1) + (1,), "relu",
              parametrization)
    log_s2 = 2 * np.log(np.asarray(net.weight_scales(), dtype=np.float64))
    log_beta2 = log_s2 + 2 * np.log([w_std for w_std, _ in net.init_stds()])
    log_fans = np.log(np.asarray(net.sizes[:-1], dtype=np.float64)).sum()  # prod_{l<L} n_l
    return np.exp(log_s2 + log_fans + log_beta2.sum() - log_beta2)


def theorem_scale(n_inputs: int, width: int, depth: int, parametrization: str = "ntk",
                  depth_shape: str = "sum") -> float:
    """``T(n, L)``: ``sum_k t_k`` (the upper bound's shape) or ``max_k t_k`` (the tight shape)."""
    if depth_shape not in DEPTH_SHAPES:
        raise ValueError(f"depth_shape must be one of {DEPTH_SHAPES}, got {depth_shape!r}")
    terms = layer_terms(n_inputs, width, depth, parametrization)
    return float(terms.sum() if depth_shape == "sum" else terms.max())


def predicted_lambda_min_scaling(widths: Sequence[int], depths: Sequence[int], n_inputs: int,
                                 parametrization: str = "ntk", depth_shape: str = "sum"
                                 ) -> np.ndarray:
    """The theorem's λ_min up to its one unspecified constant: ``T(n, L)``, shape
    ``(len(depths), len(widths))``; ``C * T`` is the theory curve (fit C with
    :func:`compare_with_theory`)."""
    return np.array([[theorem_scale(n_inputs, w, d, parametrization, depth_shape)
                      for w in widths] for d in depths])


@dataclass(frozen=True)
class InfiniteWidthLambda:
    """λ_min of the infinite-width NTK (NTK parametrisation) on one input set.

    Attributes:
        activation: the activation.
        depths: ``(D,)`` depths, increasing.
        lambda_min: ``(D,)`` float64 smallest eigenvalue of the limit kernel at each depth.
    """

    activation: str
    depths: tuple[int, ...]
    lambda_min: np.ndarray

    def at(self, depth: int) -> float:
        return float(self.lambda_min[self.depths.index(int(depth))])


def infinite_width_lambda_min(x, activation: str, depths: Iterable[int]) -> InfiniteWidthLambda:
    """λ_min of :func:`ntkbook.core.limit.infinite_width_kernels` on ``x`` (``(N, d)``) for each
    depth, from one recursion; eigenvalues by :func:`ntkbook.core.spectrum.eigvalsh`."""
    depths = tuple(sorted({int(d) for d in depths}))
    kernels = infinite_width_kernels(np.asarray(x, dtype=np.float64), activation=activation,
                                     depths=depths)
    lam = np.array([spectrum.eigvalsh(kernels[d][0])[0] for d in depths])
    return InfiniteWidthLambda(activation, depths, lam)


@dataclass(frozen=True)
class TheoryComparison:
    """Measured λ_min of one activation's grid beside the theory.

    Shapes: D = len(depths), W = len(widths), S = len(seeds). Arrays of the theorem are nan for
    activations outside :data:`THEORY_ACTIVATIONS`; ``limit`` is nan unless the
    parametrisation is ``"ntk"``.

    Attributes:
        measured: ``(D, W, S)`` λ_min per cell and seed (nan where a row is missing).
        geo_mean, low, high: ``(D, W)`` geometric mean over seeds and its ``level``
            t-interval (on log λ; nan with one seed or a non-positive λ).
        scaling: ``(D, W)`` the theorem's ``T(n, L)``; theory = ``constant * scaling``.
        constant: C fitted by least squares on log scale over every positive cell and seed.
        ratio: ``(D, W)`` geo_mean / theory.
        wide: ``(W,)`` width >= :func:`wide_width` (``N ln N``).
        width_exponent: ``(D, 3)`` measured exponent of λ_min ~ width^b per depth: fit to the
            geometric means, and the ``level`` percentile interval of ``n_boot`` resamples of
            the seeds (nan bounds with one seed).
        theory_exponent: ``(D,)`` the same fit to ``scaling``.
        limit: ``(D,)`` infinite-width λ_min; limit_ratio: ``(D, W)`` geo_mean / limit.
    """

    activation: str
    parametrization: str
    depth_shape: str
    n_samples: int
    n_inputs: int
    widths: tuple[int, ...]
    depths: tuple[int, ...]
    seeds: tuple[int, ...]
    level: float
    measured: np.ndarray
    geo_mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    scaling: np.ndarray
    constant: float
    theory: np.ndarray
    ratio: np.ndarray
    wide: np.ndarray
    width_exponent: np.ndarray
    theory_exponent: np.ndarray
    limit: np.ndarray
    limit_ratio: np.ndarray
    notes: tuple[str, ...] = field(default=())

    @property
    def has_theory(self) -> bool:
        return bool(np.isfinite(self.constant))

    def summary(self) -> dict:
        """Numbers for a sentence: the constant, |log ratio| max and median over cells (all, and
        the cells meeting the width condition), the worst cell, the measured and theory width
        exponents per depth, and the largest |λ/λ_∞ - 1| at the widest width."""
        out: dict = {"activation": self.activation, "parametrization": self.parametrization,
                     "constant": self.constant, "wide_width": wide_width(self.n_samples),
                     "n_wide_cells": int(self.wide.sum()) * len(self.depths)}
        log_ratio = np.abs(np.log(self.ratio))
        for name, mask in (("", np.ones_like(log_ratio, bool)),
                           ("_wide", np.broadcast_to(self.wide, log_ratio.shape))):
            vals = log_ratio[mask & np.isfinite(log_ratio)]
            out[f"max_abs_log_ratio{name}"] = float(vals.max()) if vals.size else float("nan")
            out[f"median_abs_log_ratio{name}"] = (float(np.median(vals)) if vals.size
                                                  else float("nan"))
        out["worst_cell"] = None
        if np.isfinite(log_ratio).any():
            i, j = np.unravel_index(np.nanargmax(log_ratio), log_ratio.shape)
            out["worst_cell"] = {"depth": self.depths[i], "width": self.widths[j],
                                 "ratio": float(self.ratio[i, j])}
        out["width_exponent"] = {d: tuple(float(v) for v in self.width_exponent[i])
                                 for i, d in enumerate(self.depths)}
        out["theory_exponent"] = {d: float(v) for d, v in zip(self.depths, self.theory_exponent,
                                                               strict=True)}
        gap = np.abs(self.limit_ratio[:, -1] - 1.0)
        out["max_rel_gap_to_limit_at_widest"] = (float(np.nanmax(gap)) if np.isfinite(gap).any()
                                                 else float("nan"))
        return out

    def cells_frame(self):
        """One row per (depth, width): depth, width, lambda_min (geometric mean), low, high,
        theory, ratio, wide, limit — plain data for :mod:`ntkbook.report.theory_plots`."""
        import pandas as pd

        d_idx, w_idx = np.meshgrid(range(len(self.depths)), range(len(self.widths)),
                                   indexing="ij")
        d_idx, w_idx = d_idx.ravel(), w_idx.ravel()
        return pd.DataFrame({
            "activation": self.activation,
            "depth": np.asarray(self.depths)[d_idx], "width": np.asarray(self.widths)[w_idx],
            "lambda_min": self.geo_mean.ravel(), "low": self.low.ravel(),
            "high": self.high.ravel(), "theory": self.theory.ravel(),
            "ratio": self.ratio.ravel(), "wide": self.wide[w_idx],
            "limit": self.limit[d_idx],
        })


def _grid(rows: Sequence[Mapping], activation: str):
    rows = [r for r in rows if r["activation"] == activation]
    if not rows:
        raise ValueError(f"no rows for activation {activation!r}")
    pars = {r["parametrization"] for r in rows}
    if len(pars) != 1:
        raise ValueError(f"rows mix parametrizations {sorted(pars)}; pass one")
    widths = tuple(sorted({int(r["width"]) for r in rows}))
    depths = tuple(sorted({int(r["depth"]) for r in rows}))
    seeds = tuple(sorted({int(r["seed"]) for r in rows}))
    measured = np.full((len(depths), len(widths), len(seeds)), np.nan)
    for r in rows:
        measured[depths.index(int(r["depth"])), widths.index(int(r["width"])),
                 seeds.index(int(r["seed"]))] = float(r["lambda_min"])
    return pars.pop(), widths, depths, seeds, measured


def _log_stats(measured: np.ndarray, level: float):
    """log λ ``(D, W, S)`` (nan where missing or <= 0), and per cell the geometric mean and its
    t-interval; a cell with a non-positive λ has no geometric mean (nan)."""
    from scipy import stats as _stats

    positive = np.isfinite(measured) & (measured > 0)
    logs = np.where(positive, np.log(np.where(positive, measured, 1.0)), np.nan)
    count = positive.sum(axis=-1)
    usable = (count > 0) & ~np.any(np.isfinite(measured) & (measured <= 0), axis=-1)
    mean = np.full(count.shape, np.nan)
    mean[usable] = np.nanmean(logs[usable], axis=-1)
    half = np.full(count.shape, np.nan)
    ok = usable & (count >= 2)
    half[ok] = (_stats.t.ppf(0.5 + level / 2, count[ok] - 1)
                * np.nanstd(logs[ok], axis=-1, ddof=1) / np.sqrt(count[ok]))
    return logs, np.exp(mean), np.exp(mean - half), np.exp(mean + half)


def _width_exponent(widths, logs: np.ndarray, n_boot: int, level: float, seed: int):
    """``(b, low, high)`` for one depth; ``logs`` is ``(W, S)`` log λ."""
    full = np.all(np.isfinite(logs), axis=0)  # seeds with every width
    y = logs[:, full]
    if y.shape[1] == 0:
        return (float("nan"),) * 3
    b = fit_power_law(widths, np.exp(y.mean(axis=1)))[0]
    if y.shape[1] < 2:
        return b, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, y.shape[1], size=(n_boot, y.shape[1]))
    ly = y[:, picks].mean(axis=2)  # (W, n_boot)
    slopes = np.polyfit(np.log(np.asarray(widths, dtype=np.float64)), ly, 1)[0]
    low, high = np.quantile(slopes, [0.5 - level / 2, 0.5 + level / 2])
    return b, float(low), float(high)


def compare_with_theory(
    rows: Sequence[Mapping],
    x,
    activation: str,
    *,
    depth_shape: str = "sum",
    limit: bool = True,
    level: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> TheoryComparison:
    """Compare one activation's λ_min grid rows with the theorem and the infinite-width λ_min.

    Args:
        rows: rows of :func:`ntkbook.experiments.grids.lambda_min_grid` (keys activation, width,
            depth, seed, lambda_min, parametrization); other activations' rows are ignored.
        x: the grid's inputs ``(N, d)``: N and d enter the theory, and the limit kernel is
            computed on them.
        activation: which activation's rows to compare.
        depth_shape: ``"sum"`` or ``"max"`` over layers (see the module docstring).
        limit: compute the infinite-width λ_min (only for the ``"ntk"`` parametrisation).
        level, n_boot, seed: interval coverage, bootstrap resamples over seeds, and their seed.
    """
    parametrization, widths, depths, seeds, measured = _grid(rows, activation)
    x = np.asarray(x, dtype=np.float64)
    n_samples, n_inputs = x.shape
    logs, geo, low, high = _log_stats(measured, level)
    shape = (len(depths), len(widths))
    notes = []
    if activation in THEORY_ACTIVATIONS:
        scaling = predicted_lambda_min_scaling(widths, depths, n_inputs, parametrization,
                                               depth_shape)
        resid = logs - np.log(scaling)[..., None]
        constant = float(np.exp(np.nanmean(resid))) if np.isfinite(resid).any() else np.nan
        theory_exp = np.array([fit_power_law(widths, s)[0] for s in scaling])
    else:
        scaling, constant = np.full(shape, np.nan), float("nan")
        theory_exp = np.full(len(depths), np.nan)
        notes.append(f"no theorem for {activation}: only the measurement and the limit")
    if parametrization == "standard":
        notes.append("the theorem's Glorot variances are those of each width; rows of "
                     "lambda_min_grid nest narrow nets in the widest draw, whose Glorot variance "
                     "is the widest net's, so narrow 'standard' cells are not Glorot nets")
    if parametrization != "ntk":
        notes.append(f"no infinite-width limit for parametrization {parametrization!r}")
    theory = constant * scaling
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = geo / theory
    if limit and parametrization == "ntk":
        lim = infinite_width_lambda_min(x, activation, depths).lambda_min
    else:
        lim = np.full(len(depths), np.nan)
    exps = np.array([_width_exponent(widths, logs[i], n_boot, level, seed)
                     for i in range(len(depths))])
    return TheoryComparison(
        activation=activation, parametrization=parametrization, depth_shape=depth_shape,
        n_samples=n_samples, n_inputs=n_inputs, widths=widths, depths=depths, seeds=seeds,
        level=level, measured=measured, geo_mean=geo, low=low, high=high, scaling=scaling,
        constant=constant, theory=theory, ratio=ratio,
        wide=np.asarray(widths) >= wide_width(n_samples), width_exponent=exps,
        theory_exponent=theory_exp, limit=lim, limit_ratio=geo / lim[:, None],
        notes=tuple(notes),
    )
