"""The linearised model's cross-entropy gradient flow on the NTK subset, integrated in output
space.

**The flow.** Linearise the network at the switch point ``theta_s`` on the subset ``X`` (``n``
inputs, ``K`` outputs): ``f(theta) = f_s + J (theta - theta_s)``, ``J`` the ``(nK, P)`` Jacobian
at ``theta_s``, rows ordered ``(sample, output)``. The mean cross-entropy
``L = (1/n) sum_i CE(softmax(f_i), y_i)`` has the output gradient ``(softmax(f) - Y) / n``, so
its gradient flow with rate ``rho`` (``1/n`` for the mean; an argument, for other conventions) is

    d theta/dt = -rho J^T (softmax(f(theta)) - Y).

The velocity is always ``J^T`` times something, so ``theta(t) = theta_s - J^T C(t)`` with
``C(t) = rho int_0^t (softmax(f(tau)) - Y) dtau`` (``n x K``), and
``f(t) = f_s - J J^T C = f_s - Theta C``. Differentiating ``C`` closes the system in output space:

    dC/dt = rho (softmax(f_s - Theta C) - Y),    C(0) = 0.

``Theta C`` is the full kernel ``(nK x nK)`` applied to ``C`` flattened row-major
(``kind="full"``: the exact flow of the linearised network) or the mean kernel ``Theta_mean``
``(n x n)`` applied to every output column, ``Theta_mean (x) I`` (``kind="mean"``, the
approximation of :class:`ntkbook.dynamics.updates.SubsetKernel`; exact when the full kernel is
``Theta_mean (x) I``). For the squared loss the same construction gives
``dC/dt = rho (f_s - Theta C - Y)``, NTK3's closed form; the softmax has none, so
:func:`crossentropy_flow` integrates ``n K`` numbers, one kernel matvec per evaluation, and
:func:`crossentropy_update` ends with ONE VJP per requested time,
``theta_s - J^T C`` (:func:`ntkbook.dynamics.updates.apply_update`); no Jacobian is formed. The
loss never increases: ``dL/dt = -(rho/n) g^T Theta g <= 0``, ``g = softmax(f) - Y``, for either
PSD kernel.

**Scaling.** The solver integrates ``c = C / rho``: ``dc/dt = softmax(f_s - rho Theta c) - Y``
has entries in ``[-1, 1]`` whatever ``rho`` is, so ``atol`` means the same for every subset.

**Stiffness and the solver.** The Jacobian of the right-hand side is ``-rho H Theta`` with
``H = blockdiag(diag(p_i) - p_i p_i^T)``, ``p_i = softmax(f_i)``, PSD with ``||H|| <= 1/2``. It is
similar to the symmetric ``-rho H^{1/2} Theta H^{1/2}``: its eigenvalues are real, in
``[-rho lam_max / 2, 0]``, so the flow is stable but stiff, and an explicit solver's step is
limited to about ``3.3 / (rho lam_max ||H||)``; as the fit improves ``H -> 0`` on the fitted
samples and the stiffness decays. The solver is diffrax's Tsit5 (6 matvecs per step) with a PID
controller (``pcoeff=0.3, icoeff=0.4``): one ``jit`` program, unchanged on a GPU, float64 state
(``jax.enable_x64`` scoped to the solve). One solve reaches the last time and reports every
requested time from the solver's dense interpolant.

**Measured** (Fashion-MNIST, width 1000 after 10 epochs, ``n = 2000``, ``K = 10``, mean kernel,
``rho = 1/n``, ``rho lam_max = 1045``, the replaced SGD's ``eta S = 11.5``; 2 shared CPU cores):
float64, rtol 1e-8: 63 / 349 / 2086 / 5729 steps to ``t`` = 1.15 / 11.5 / 115 / 1150 (1.4 / 13 /
96 / 216 s), 2 rejected. Stability sets the steps: rtol 1e-10 takes 424 / 2161 to 11.5 / 115, rtol
1e-6 333 / 2083 (and 31 / 259 rejected); Dopri5 370 / 2211, Bosh3 (3 matvecs) 653 / 3072, Dopri8
(12) 228 / 1404: none is cheaper. Full kernel, ``n = 300`` (``nK = 3000``, ``rho lam_max = 1659``):
76 / 317 / 858 / 1465 steps (2 / 12 / 35 / 56 s).

**float32 kernels.** The matvec runs in the kernel's dtype. In float32 it rounds ``c`` and sums in
float32: the logits carry noise of about ``1e-5 t`` (9e-4 at ``t = 115``), which the controller
cannot resolve below an rtol of about 1e-7 (rtol 1e-8: 1653 / 9745 steps, 5x). At rtol 1e-6 it
takes float64's steps at 2.4x less time per step (5.5 / 41 s to 11.5 / 115), ``C`` within 1e-4 of
float64's. So: a float32 kernel with rtol >= 1e-6, float64 for tighter tolerances.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial

import diffrax
import jax
import jax.numpy as jnp
import numpy as np

from ntkbook.core.kernel import check_finite, empirical_ntk, flat_ntk
from ntkbook.core.mlp import MLP, Params
from ntkbook.core.products import outputs as network_outputs
from ntkbook.dynamics.linearised import as_targets
from ntkbook.dynamics.updates import SubsetKernel, apply_update

__all__ = ["KINDS", "CrossEntropyFlow", "crossentropy_flow", "crossentropy_update", "dense_kernel"]

KINDS = ("mean", "full")
#: Explicit diffrax solvers :func:`crossentropy_flow` offers (``"tsit5"``, the default: none of the
#: others takes fewer matvecs, see the module docstring).
SOLVERS = {"tsit5": diffrax.Tsit5, "dopri5": diffrax.Dopri5, "dopri8": diffrax.Dopri8,
           "bosh3": diffrax.Bosh3}


@dataclass(frozen=True)
class CrossEntropyFlow:
    """The linearised cross-entropy flow in output space at the requested times.

    Attributes:
        times: ``(T,)`` float64, increasing.
        coefficients: ``(T, n, K)`` float64, ``C(t)``: ``theta(t) = theta_s - J^T C(t)``.
        outputs: ``(T, n, K)`` float64, the linearised outputs ``f_s - Theta C(t)``.
        loss: ``(T,)`` float64, the mean cross-entropy of ``outputs[j]`` against the targets.
        steps: accepted solver steps. rejected: rejected solver steps.
        seconds: wall seconds of the solve (compilation included on a shape's first call).
        kind: ``"mean"`` or ``"full"``. rate: ``rho``.
    """

    times: np.ndarray
    coefficients: np.ndarray = field(repr=False)
    outputs: np.ndarray = field(repr=False)
    loss: np.ndarray
    steps: int
    rejected: int
    seconds: float
    kind: str
    rate: float


def _mean_ce(f: jax.Array, y: jax.Array) -> jax.Array:
    return -jnp.sum(y * jax.nn.log_softmax(f, axis=-1), axis=(-2, -1)) / f.shape[-2]


@partial(jax.jit, static_argnames=("kind", "solver", "max_steps"))
def _solve(theta, f_s, y, rate, times, rtol, atol, *, kind, solver, max_steps):
    n, k = f_s.shape
    a = (rate * theta).astype(theta.dtype)

    def kernel_times(c):
        ac = a @ c.astype(a.dtype) if kind == "mean" else (a @ c.reshape(-1).astype(a.dtype))
        return ac.astype(c.dtype).reshape(n, k)

    def velocity(t, c, args):
        return jax.nn.softmax(f_s - kernel_times(c), axis=1) - y

    controller = diffrax.PIDController(rtol=rtol, atol=atol, pcoeff=0.3, icoeff=0.4)
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(velocity), SOLVERS[solver](), 0.0, times[-1], None, jnp.zeros_like(f_s),
        saveat=diffrax.SaveAt(ts=times), stepsize_controller=controller, max_steps=max_steps,
        throw=False)
    coeffs = rate * sol.ys
    out = f_s - jax.vmap(kernel_times)(sol.ys)
    return (coeffs, out, _mean_ce(out, y), sol.stats["num_accepted_steps"],
            sol.stats["num_rejected_steps"], sol.result == diffrax.RESULTS.max_steps_reached,
            sol.result == diffrax.RESULTS.successful)


def crossentropy_flow(
    theta: np.ndarray,
    outputs: np.ndarray,
    targets: np.ndarray,
    *,
    rate: float,
    times: np.ndarray,
    kind: str = "mean",
    rtol: float = 1e-9,
    atol: float = 1e-11,
    max_steps: int = 1_000_000,
    solver: str = "tsit5",
) -> CrossEntropyFlow:
    """Integrate ``dC/dt = rho (softmax(f_s - Theta C) - Y)``, ``C(0) = 0`` (module docstring).

    Args:
        theta: the kernel at ``theta_s``, symmetric PSD: ``(n, n)`` for ``kind="mean"``,
            ``(nK, nK)`` rows ``(sample, output)`` for ``"full"``; symmetrised. The matvec runs
            in float32 for a float32 kernel (fast, but use rtol >= 1e-6: module docstring),
            otherwise in float64. State, outputs and loss are float64.
        outputs: ``(n, K)`` logits ``f_s``. targets: ``(n, K)`` one-hot rows (or probabilities).
        rate: ``rho > 0`` (``1/n`` for the mean cross-entropy).
        times: ``(T,)`` non-negative, non-decreasing flow times; one solve serves all.
        kind: ``"mean"`` or ``"full"``.
        rtol, atol: tolerances of the step-size controller on ``c = C / rho`` (entries of order
            ``t``).
        max_steps: the solver's step budget.
        solver: an explicit solver of :data:`SOLVERS`.

    Returns:
        The :class:`CrossEntropyFlow` at ``times``.

    Raises:
        ValueError: bad shapes, kind, rate, times or targets.
        FloatingPointError: NaN/Inf in the inputs or the solution.
        RuntimeError: the solver ran out of ``max_steps`` or failed.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {tuple(SOLVERS)}, got {solver!r}")
    f_s = np.asarray(outputs, np.float64)
    if f_s.ndim != 2 or f_s.shape[1] < 2:
        raise ValueError(f"outputs must be (n, K) logits with K >= 2, got shape {f_s.shape}")
    n, k = f_s.shape
    y = np.asarray(targets, np.float64)
    if y.shape != f_s.shape:
        raise ValueError(f"targets must have the outputs' shape {f_s.shape}, got {y.shape}")
    if np.any(y < 0) or not np.allclose(y.sum(axis=1), 1.0):
        raise ValueError("targets must be one-hot rows (or probabilities summing to 1)")
    m = n if kind == "mean" else n * k
    theta = np.asarray(theta)
    theta = theta.astype(np.float32 if theta.dtype == np.float32 else np.float64)
    if theta.shape != (m, m):
        raise ValueError(f"a {kind!r} kernel for {n} samples and {k} outputs is ({m}, {m}), "
                         f"got {theta.shape}")
    if not (np.isfinite(rate) and rate > 0):
        raise ValueError(f"rate must be positive and finite, got {rate}")
    times = np.asarray(times, np.float64)
    if (times.ndim != 1 or times.size == 0 or not np.all(np.isfinite(times))
            or times[0] < 0 or np.any(np.diff(times) < 0)):
        raise ValueError("times must be a non-empty 1-D non-decreasing array of finite times >= 0")
    check_finite(theta, "kernel of the cross-entropy flow")
    check_finite(f_s, "outputs at the switch point")
    theta = 0.5 * theta + 0.5 * theta.T
    tic = time.perf_counter()
    with jax.enable_x64(True):
        res = _solve(jnp.asarray(theta), jnp.asarray(f_s), jnp.asarray(y), float(rate),
                     jnp.asarray(times), float(rtol), float(atol), kind=kind,
                     solver=solver, max_steps=int(max_steps))
        coeffs, out, loss, steps, rejected, exhausted, ok = jax.device_get(res)
    seconds = time.perf_counter() - tic
    if exhausted:
        raise RuntimeError(
            f"the cross-entropy flow used all {max_steps} solver steps before t = {times[-1]:g} "
            f"(rho lam_max <= {rate * np.abs(theta).sum(axis=1).max():.3g} makes it stiff): "
            "raise max_steps or shorten the times")
    if not np.all(np.isfinite(coeffs)) or not np.all(np.isfinite(out)):
        raise FloatingPointError(
            "the cross-entropy flow produced NaN/Inf: rho Theta C overflowed float64 (kernel "
            f"entries up to {np.abs(theta).max():.3g}, rho = {rate:.3g}); rescale the kernel or "
            "the rate, or check the network for overflow (float64 parameters)")
    if not ok:
        raise RuntimeError("the cross-entropy flow's solver failed (step size underflow?)")
    return CrossEntropyFlow(times, np.asarray(coeffs), np.asarray(out), np.asarray(loss),
                            int(steps), int(rejected), seconds, kind, float(rate))


def dense_kernel(kernel: SubsetKernel) -> np.ndarray:
    """``V diag(lam) V^T`` from a :class:`SubsetKernel`, with the eigenvalues at or below its
    cutoff (negative ones among them) set to 0: PSD, float64, ``(M, M)``."""
    lam = np.where(kernel.eigenvalues > kernel.cutoff, kernel.eigenvalues, 0.0)
    return (kernel.eigenvectors * lam) @ kernel.eigenvectors.T


def crossentropy_update(
    net: MLP,
    params: Params,
    x: np.ndarray,
    targets: np.ndarray,
    *,
    rate: float,
    times: np.ndarray,
    kind: str = "mean",
    kernel: SubsetKernel | None = None,
    **options,
) -> tuple[list[Params], CrossEntropyFlow]:
    """The linearised cross-entropy flow from ``params`` on ``x``: parameters at every time.

    Builds the kernel (``"mean"``: :func:`ntkbook.core.kernel.empirical_ntk`; ``"full"``:
    :func:`ntkbook.core.kernel.flat_ntk`) and the outputs at ``params``, or takes both from
    ``kernel``; integrates with float64 matvecs (:func:`crossentropy_flow`); and applies
    ``theta_s - J^T C(t)`` with one VJP per time (:func:`ntkbook.dynamics.updates.apply_update`).

    Args:
        net: the network. params: ``theta_s``; their dtype is the network's and the VJP's.
        x: ``(n, n_0)`` subset inputs. targets: ``(n, K)`` one-hot.
        rate: ``rho``. times: ``(T,)`` flow times. kind: ``"mean"`` or ``"full"``.
        kernel: a :class:`SubsetKernel` at ``params`` on ``x`` (its ``kind`` must be ``kind``):
            reuse its eigendecomposition (:func:`dense_kernel`) and outputs.
        **options: ``rtol``, ``atol``, ``max_steps``, ``solver`` of :func:`crossentropy_flow`.

    Returns:
        ``(parameters, flow)``: a list of ``T`` parameter pytrees like ``params``, and the flow.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    dtype = params[0][0].dtype
    xj = jnp.asarray(x, dtype)
    if kernel is not None:
        if kernel.kind != kind:
            raise ValueError(f"kernel is {kernel.kind!r} but kind={kind!r}")
        theta, f_s = dense_kernel(kernel), kernel.outputs
    else:
        theta = (np.asarray(empirical_ntk(net, params, xj)) if kind == "mean"
                 else flat_ntk(net, params, xj))
        f_s = network_outputs(net, params, xj)
    theta = np.asarray(theta, np.float64)  # float64 matvecs: the default rtol is tight
    y = as_targets(net, targets, xj.shape[0])
    flow = crossentropy_flow(theta, f_s, y, rate=rate, times=times, kind=kind, **options)
    new = [apply_update(net, params, xj, c) for c in flow.coefficients]
    return new, flow
