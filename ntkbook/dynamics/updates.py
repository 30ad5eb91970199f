"""Sarvanau's (2025) NTK updates on a kernel subset, dense: the kernel, its eigendecomposition and
one VJP.

From the switch point ``theta_s`` every update is linear in ``J_s^T``, the transposed Jacobian of
the network's outputs on the kernel subset ``X`` (``n`` inputs), applied to an output-space vector
built from the kernel ``Theta = J_s J_s^T`` and the residual ``R`` at ``theta_s``. With the
eigendecomposition ``Theta = V diag(lam) V^T`` each update is

    theta = theta_s - J_s^T V diag(G(lam)) V^T R,

with the gains ``G`` of :mod:`ntkbook.dynamics.gains`. :func:`subset_kernel` forms ``Theta``
(:func:`ntkbook.empirical_ntk`) and its float64 eigendecomposition
(:func:`ntkbook.core.spectrum.symmetric_eigh`); :meth:`SubsetKernel.coefficients` applies the
gains and the pseudoinverse cutoff; :func:`apply_update` applies ``J_s^T`` with one VJP
(:func:`ntkbook.core.products.jacobian_transpose_product`, shared with the matrix-free NTK3 of
:mod:`ntkbook.dynamics.matfree`). :func:`ntk3_update` is NTK3 in one call.

**Residuals.** The updates are derived for the squared loss, ``R = f - Y``; for classification
``Y`` is one-hot (``"squared"``, the default). The thesis' published code instead uses
``R = softmax(f) - Y``, the cross-entropy's gradient with respect to the logits, frozen at
``theta_s`` and decayed as if it were a squared-loss residual (``"softmax"``):
:func:`output_residual`.

**Pseudoinverse cutoff.** The thesis writes NTK3 with ``Theta^+``. Every gain is a smooth,
bounded function of ``lam >= 0`` (``G <= rho t``), so no inverse is needed; the cutoff only decides
which eigenvalues count as zero. Eigenvalues at or below ``rcond * lam_max`` get gain 0, with
``rcond = M * eps(float64)`` by default: the resolution of the float64 eigensolver
(:func:`ntkbook.dynamics.conventions.pinv_cutoff`). The float32 kernel's own rounding moves
eigenvalues by far less than the worst-case ``M * eps(float32) * lam_max`` (about 500 for the
thesis' Fashion-MNIST kernel, below which lie most of its 2000 eigenvalues), and a direction whose
eigenvalue is noise carries ``||J^T v||^2 = v^T Theta v`` of the order of that noise, so it moves
nothing. Cutting at the worst case instead drops real directions, among them those that move the
parameters most (a unit residual along ``v`` moves them by ``G sqrt(lam)``, which peaks near
``lam = 1 / (rho t)``): the hybrid experiment measures both.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from ntkbook.core.kernel import check_finite, empirical_ntk, flat_ntk
from ntkbook.core.mlp import MLP, Params
from ntkbook.core.products import jacobian_transpose_product, outputs
from ntkbook.core.spectrum import symmetric_eigh
from ntkbook.dynamics.conventions import SARVANAU_LOSS_SCALE, flow_rate, pinv_cutoff
from ntkbook.dynamics.gains import ReplacedSGD, cumulative_gains, ntk3_gains
from ntkbook.dynamics.linearised import as_targets

__all__ = [
    "RESIDUALS", "SubsetKernel", "apply_update", "frozen_jacobian_steps", "ntk3_update",
    "ntk_update", "output_residual", "phase_loss", "subset_kernel",
]

RESIDUALS = ("squared", "softmax")


def output_residual(outputs: np.ndarray, targets: np.ndarray, kind: str = "squared") -> np.ndarray:
    """The output-space residual an NTK update drives to zero, ``(n, n_out)`` float64.

    Args:
        outputs: ``(n, n_out)`` logits or outputs ``f``. targets: ``Y``, same number of entries.
        kind: ``"squared"``, ``f - Y``, the gradient of ``||f - Y||^2 / 2`` (one-hot ``Y`` for
            classification); or ``"softmax"``, ``softmax(f) - Y``, the gradient of the
            cross-entropy with respect to the logits (what the thesis' published code uses).
    """
    outputs = np.asarray(outputs, np.float64)
    targets = np.asarray(targets, np.float64).reshape(outputs.shape)
    if kind == "squared":
        return outputs - targets
    if kind == "softmax":
        z = outputs - outputs.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True) - targets
    raise ValueError(f"unknown residual {kind!r}; choose one of {RESIDUALS}")


@dataclass(frozen=True)
class SubsetKernel:
    """The kernel on the NTK subset at ``theta_s``, eigendecomposed, and the outputs there.

    Attributes:
        eigenvalues: ``(M,)`` ascending, float64; ``M = n`` (mean kernel) or ``n * n_out``.
        eigenvectors: ``(M, M)``.
        outputs: ``(n, n_out)`` float64, ``f(theta_s; X)``.
        targets: ``(n, n_out)`` float64, ``Y`` (one-hot rows for classification).
        kind: ``"mean"`` (``Theta_mean (x) I``) or ``"full"`` (every output pair).
        cutoff: eigenvalues at or below it get gain 0.
        seconds: ``{"kernel": ..., "outputs": ..., "eigh": ...}`` wall seconds.
    """

    eigenvalues: np.ndarray
    eigenvectors: np.ndarray = field(repr=False)
    outputs: np.ndarray = field(repr=False)
    targets: np.ndarray = field(repr=False)
    kind: str
    cutoff: float
    seconds: dict

    def residual(self, kind: str = "squared") -> np.ndarray:
        """The residual at ``theta_s``, ``(n, n_out)`` (:func:`output_residual`)."""
        return output_residual(self.outputs, self.targets, kind)

    def coefficients(self, gains: np.ndarray, residual: str = "squared") -> np.ndarray:
        """``c = V diag(G) V^T R`` with gains 0 at or below the cutoff; ``(n, n_out)`` float64.

        The mean kernel ``Theta_mean (x) I`` applies ``V diag(G) V^T`` (``(n, n)``) to every output
        column of ``R``; the full kernel applies it to ``R`` flattened row-major.

        Args:
            gains: ``(M,)``, e.g. a row of :func:`ntkbook.dynamics.gains.cumulative_gains`.
            residual: ``"squared"`` or ``"softmax"`` (:func:`output_residual`).
        """
        g = np.where(self.eigenvalues > self.cutoff, gains, 0.0)
        v, r = self.eigenvectors, self.residual(residual)
        if self.kind == "mean":
            return v @ (g[:, None] * (v.T @ r))
        flat = v @ (g * (v.T @ r.reshape(-1)))
        return flat.reshape(r.shape)


def phase_loss(out: np.ndarray, targets: np.ndarray, residual: str = "squared") -> float:
    """The loss whose output gradient is ``residual``: ``||f - Y||^2 / (2n)`` (``"squared"``)
    or the mean cross-entropy of the logits against one-hot ``Y`` (``"softmax"``)."""
    out, targets = np.asarray(out, np.float64), np.asarray(targets, np.float64)
    if residual == "squared":
        return float(0.5 * np.sum((out - targets) ** 2) / out.shape[0])
    if residual == "softmax":
        z = out - out.max(axis=1, keepdims=True)
        logp = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
        return float(-np.sum(targets * logp) / out.shape[0])
    raise ValueError(f"unknown residual {residual!r}; choose one of {RESIDUALS}")


def subset_kernel(
    net: MLP,
    params: Params,
    x: np.ndarray,
    y: np.ndarray,
    *,
    kind: str = "mean",
    rcond: float | None = None,
) -> SubsetKernel:
    """Kernel, outputs and float64 eigendecomposition at ``params`` on the subset ``x``.

    Args:
        net: the network. params: ``theta_s``; their dtype is the kernel's.
        x: ``(n, n_0)`` subset inputs. y: targets, ``(n,)`` or ``(n, n_out)``.
        kind: ``"mean"`` (default; the mean-over-outputs kernel ``(n, n)``, applied to every
            output column) or ``"full"`` (the exact kernel over every output pair,
            ``(n n_out)^2`` entries, :func:`ntkbook.core.kernel.flat_ntk`).
        rcond: relative pseudoinverse cutoff; default ``M * eps(float64)`` (see the module
            docstring).

    Raises:
        FloatingPointError: the kernel or the outputs hold NaN/Inf (names the fix).
    """
    if kind not in ("mean", "full"):
        raise ValueError(f"kind must be 'mean' or 'full', got {kind!r}")
    dtype = params[0][0].dtype
    xj = jnp.asarray(x, dtype)
    tic = time.perf_counter()
    if kind == "mean":
        theta = np.asarray(jax.block_until_ready(empirical_ntk(net, params, xj)), np.float64)
    else:
        theta = flat_ntk(net, params, xj)
    check_finite(theta, "NTK on the subset at the switch point")
    t_kernel = time.perf_counter() - tic
    tic = time.perf_counter()
    f_s = outputs(net, params, xj)
    check_finite(f_s, "network output at the switch point")
    t_outputs = time.perf_counter() - tic
    tic = time.perf_counter()
    lam, vec = symmetric_eigh(theta)
    t_eigh = time.perf_counter() - tic
    return SubsetKernel(lam, vec, f_s, as_targets(net, y, xj.shape[0]), kind,
                        pinv_cutoff(lam, rcond),
                        {"kernel": t_kernel, "outputs": t_outputs, "eigh": t_eigh})


def apply_update(net: MLP, params: Params, x: np.ndarray, coefficients: np.ndarray) -> Params:
    """``theta_s - J_s^T c`` with one VJP of the network at ``theta_s`` (``J`` never formed).

    Args:
        net: the network. params: ``theta_s``.
        x: ``(n, n_0)`` subset inputs.
        coefficients: ``c``, ``(n, n_out)`` output-space vector (:meth:`SubsetKernel.coefficients`).

    Returns:
        A parameter pytree like ``params``, in their dtype.
    """
    step = jacobian_transpose_product(net, params, x, coefficients)
    return jax.tree_util.tree_map(lambda p, s: p - s, params, step)


def frozen_jacobian_steps(net: MLP, params: Params, x: np.ndarray, targets: np.ndarray, *,
                          step: float, n_updates: int, residual: str = "squared") -> list[Params]:
    """NTK1 as the thesis' published code runs it: ``n_updates`` steps
    ``theta <- theta - step J_s^T r(theta)``, the Jacobian frozen at the switch ``theta_s`` but the
    residual ``r`` (:func:`output_residual`) re-evaluated on the *network* at every step.

    On the linearised model with the squared residual this is NTK1's gain
    (:func:`ntkbook.dynamics.gains.ntk1_gains`); with the softmax residual of a real network it
    is not linear in anything, and the bounded residual keeps a step that would make the
    linearised squared-loss iteration diverge from blowing up.

    Args:
        net: the network. params: ``theta_s``.
        x: ``(n, n_0)`` subset inputs. targets: ``(n, n_out)`` (one-hot for classification).
        step: the step on the residual (the code's ``2 eta / N``). n_updates: steps.
        residual: ``"squared"`` or ``"softmax"``.

    Returns:
        The parameters after each step, ``n_updates`` pytrees like ``params``.
    """
    current, out = params, []
    for _ in range(int(n_updates)):
        r = output_residual(outputs(net, current, x), targets, residual)
        move = jacobian_transpose_product(net, params, x, step * r)
        current = jax.tree_util.tree_map(lambda p, m: p - m, current, move)
        out.append(current)
    return out


def ntk_update(
    net: MLP,
    params: Params,
    x: np.ndarray,
    kernel: SubsetKernel,
    method: str,
    variant: str,
    replaced: ReplacedSGD,
    residual: str = "squared",
) -> list[Params]:
    """The parameters after each replaced epoch (NTK1, NTK2) or the one-shot result (NTK3).

    Returns:
        A list of parameter pytrees: ``epochs_replaced`` of them, or one for NTK3.
    """
    gains = cumulative_gains(method, variant, kernel.eigenvalues, replaced)
    return [apply_update(net, params, x, kernel.coefficients(g, residual)) for g in gains]


def ntk3_update(
    net: MLP,
    params0: Params,
    x: jax.Array,
    y,
    t: float,
    *,
    loss_scale: float = SARVANAU_LOSS_SCALE,
    n_samples: int | None = None,
    kernel: SubsetKernel | None = None,
    kind: str = "full",
    rcond: float | None = None,
    residual: str = "squared",
) -> Params:
    """NTK3 (Sarvanau 2025, eq. 17): ``theta(t) = theta0 - J0^T (I - e^{-rho t Theta}) Theta^+ R``.

    The exact solution at time ``t`` of gradient flow on the *linearised* model with the loss
    ``(c/N)||f - y||^2``, rate ``rho = 2c/N`` (``1/N`` for Sarvanau's ``c = 1/2``): the gains
    :func:`ntkbook.dynamics.gains.ntk3_gains` on the eigendecomposed kernel, then one VJP.

    Args:
        net: the network. params0: ``theta0``.
        x: training inputs ``(n, n_0)``, the samples the kernel is built on.
        y: targets, ``(n,)`` or ``(n, n_out)``.
        t: gradient-flow time; replacing ``S`` SGD steps of rate ``eta`` means ``t = eta S``.
        loss_scale: ``c``.
        n_samples: ``N`` of the rate; default ``n``, the kernel's own sample count (the
            consistent choice). Sarvanau used the full training-set size with a subset kernel.
        kernel: :func:`subset_kernel` at ``theta0`` on ``(x, y)``, if already computed.
        kind: ``"full"`` (default, the exact kernel) or ``"mean"`` (``Theta_mean (x) I``), when
            ``kernel`` is not given.
        rcond: relative cutoff of the pseudoinverse, when ``kernel`` is not given.
        residual: ``"squared"`` (``f - y``) or ``"softmax"`` (:func:`output_residual`).

    Returns:
        ``theta(t)``, a parameter pytree like ``params0``.

    Raises:
        FloatingPointError: the kernel or the outputs hold NaN/Inf.
    """
    if kernel is None:
        kernel = subset_kernel(net, params0, x, y, kind=kind, rcond=rcond)
    n = kernel.outputs.shape[0]
    rate = flow_rate(n if n_samples is None else n_samples, loss_scale)
    gains = ntk3_gains(kernel.eigenvalues, rate=rate, t=t)
    return apply_update(net, params0, x, kernel.coefficients(gains, residual))
