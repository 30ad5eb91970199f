"""The NTK flow in closed form, the loss bounds it gives, and the NTK updates of the hybrid method.

Convention, used by every function here. For the squared loss over ``N`` samples

    L(theta) = (c / N) * sum_i ||f(x_i) - y_i||^2,

gradient flow ``d theta / dt = -grad L`` moves the outputs as

    d f / dt = -(2 c / N) * Theta (f - y),

with ``Theta = J J^T`` the empirical NTK on the same ``N`` samples. The factor ``rho = 2 c / N``
is called the *rate* (:func:`flow_rate`):

* Berg (2024): ``L = (1/N) ||y - f||^2`` (the MSE), ``c = 1``, rate ``2 / N``;
* Sarvanau (2025): ``L = ||f - y||^2 / (2 N)``, ``c = 1/2``, rate ``1 / N``.

``t`` is always gradient-flow time: gradient descent or SGD with learning rate ``eta`` on the same
loss reaches ``t = eta * steps`` (:func:`sgd_flow_time`). ``N`` is always the number of samples the
kernel is built on. The residual is ``r = f - y``; a network with several outputs is flattened
row-major, ``(n, n_out) -> (n * n_out,)``, and so is its kernel (:func:`flat_ntk`).

Everything on kernels (eigendecompositions, matrix exponentials, pseudoinverses) is computed in
float64 with NumPy, whatever the dtype of the kernel. The parameter updates use JAX and the
network's own dtype: run with ``jax.config.update("jax_enable_x64", True)`` for float64.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import scipy.integrate
from jax.flatten_util import ravel_pytree

from ntkbook.core.kernel import check_finite, empirical_ntk
from ntkbook.core.mlp import MLP, Params

#: ``c`` in ``L = (c/N) ||f - y||^2`` for Berg (2024): the plain MSE, rate ``2/N``.
BERG_LOSS_SCALE = 1.0
#: ``c`` for Sarvanau (2025), ``L = ||f - y||^2 / (2N)``: rate ``1/N``.
SARVANAU_LOSS_SCALE = 0.5

#: Sarvanau's (2025) Fashion-MNIST setting (sec. 4.1, 4.5, 5.1.2): SGD step, batch size, training
#: set, NTK subset, total epochs and the (rounded) mean switch epoch of the parameter-norm
#: heuristic.
SARVANAU_FMNIST = {
    "learning_rate": 0.007,
    "batch_size": 128,
    "n_train": 42000,
    "n_kernel": 2000,
    "total_epochs": 15,
    "switch_epoch": 10,
}

ArrayLike = np.ndarray | jax.Array | float | Sequence[float]


# --------------------------------------------------------------------------- time and rate


def flow_rate(n_samples: int, loss_scale: float = BERG_LOSS_SCALE) -> float:
    """The rate ``rho = 2 c / N`` of ``df/dt = -rho Theta (f - y)`` for ``L = (c/N)||f - y||^2``.

    Args:
        n_samples: ``N``, the number of samples of the loss and of the kernel.
        loss_scale: ``c``; 1 for the MSE (Berg), 1/2 for Sarvanau's ``||f - y||^2 / (2N)``.

    Returns:
        The rate ``2 c / N``.
    """
    if n_samples < 1 or loss_scale <= 0:
        raise ValueError(f"need n_samples >= 1 and loss_scale > 0, got {n_samples}, {loss_scale}")
    return 2.0 * loss_scale / n_samples


def sgd_flow_time(learning_rate: float, steps: ArrayLike) -> np.ndarray | float:
    """Gradient-flow time reached by ``steps`` steps of (S)GD with ``learning_rate``: ``eta * k``.

    Valid for any batch size when each step descends the *mean* loss of its batch, whose
    expectation is the full loss: the flow time per step is ``eta`` either way.
    """
    steps_arr = np.asarray(steps, dtype=np.float64)
    out = learning_rate * steps_arr
    return float(out) if out.ndim == 0 else out


def steps_per_epoch(n_train: int, batch_size: int, drop_last: bool = False) -> int:
    """SGD steps in one epoch over ``n_train`` examples: ``ceil(n / b)``, or ``floor`` if
    ``drop_last``."""
    if n_train < 1 or batch_size < 1:
        raise ValueError(f"need n_train, batch_size >= 1, got {n_train}, {batch_size}")
    return n_train // batch_size if drop_last else math.ceil(n_train / batch_size)


def squared_loss(
    residual: ArrayLike, n_samples: int | None = None, loss_scale: float = BERG_LOSS_SCALE
) -> np.ndarray | float:
    """``(c/N) ||r||^2`` over the last axis of ``residual``.

    Args:
        residual: ``f - y`` flattened, shape ``(..., M)`` with ``M = N * n_out``.
        n_samples: ``N``; defaults to ``M`` (one output).
        loss_scale: ``c``.

    Returns:
        The loss, shape ``residual.shape[:-1]`` (a float for a single residual).
    """
    r = np.asarray(residual, dtype=np.float64)
    n = r.shape[-1] if n_samples is None else n_samples
    out = loss_scale / n * np.sum(r * r, axis=-1)
    return float(out) if out.ndim == 0 else out


# --------------------------------------------------------------------------- kernels


@dataclass(frozen=True)
class KernelEigh:
    """Eigendecomposition ``Theta = V diag(lam) V^T`` of a symmetric kernel, in float64.

    Attributes:
        eigenvalues: ``(M,)``, ascending.
        eigenvectors: ``(M, M)``, orthonormal columns.
    """

    eigenvalues: np.ndarray
    eigenvectors: np.ndarray

    @property
    def size(self) -> int:
        return self.eigenvalues.shape[0]

    def apply(self, gains: np.ndarray, r: np.ndarray) -> np.ndarray:
        """``V diag(gains) V^T r`` for ``gains`` of shape ``(..., M)`` and ``r`` of shape ``(M,)``.

        Returns:
            Shape ``gains.shape[:-1] + (M,)``.
        """
        coords = self.eigenvectors.T @ r
        return (gains * coords) @ self.eigenvectors.T


def kernel_eigh(theta: ArrayLike | KernelEigh) -> KernelEigh:
    """The float64 eigendecomposition of the symmetric part of ``theta`` (M, M).

    Raises:
        FloatingPointError: ``theta`` holds NaN or Inf.
        ValueError: ``theta`` is not square.
    """
    if isinstance(theta, KernelEigh):
        return theta
    k = np.asarray(theta, dtype=np.float64)
    if k.ndim != 2 or k.shape[0] != k.shape[1]:
        raise ValueError(f"expected a square kernel matrix, got shape {k.shape}")
    check_finite(k, "kernel")
    lam, vec = np.linalg.eigh(0.5 * (k + k.T))
    return KernelEigh(lam, vec)


def flat_ntk(net: MLP, params: Params, x: jax.Array) -> np.ndarray:
    """The empirical NTK on ``x`` (n, n_0) for the flattened outputs, shape ``(M, M)``, float64.

    ``M = n * n_out``, rows ordered ``(sample, output)`` like ``f.reshape(-1)``. For one output
    this is :func:`ntkbook.empirical_ntk`.
    """
    theta = empirical_ntk(net, params, x, full=net.n_outputs > 1)
    if net.n_outputs > 1:
        n, n_out = theta.shape[0], net.n_outputs
        theta = jnp.transpose(theta, (0, 2, 1, 3)).reshape(n * n_out, n * n_out)
    theta = np.asarray(theta, dtype=np.float64)
    check_finite(theta, "NTK")
    return theta


def pinv_cutoff(eigenvalues: np.ndarray, rcond: float | None = None) -> float:
    """Eigenvalues at or below this are treated as zero by the pseudoinverse.

    The cutoff is ``rcond * max|lam|``; the default ``rcond = M * eps(float64)`` is the
    backward-error bound of the eigensolver (:func:`ntkbook.eig_tolerance`), i.e. eigenvalues
    that cannot be told from zero. A float32 kernel needs ``rcond`` of about ``M * 1.2e-7``.
    """
    lam = np.asarray(eigenvalues, dtype=np.float64)
    rcond = lam.shape[0] * np.finfo(np.float64).eps if rcond is None else rcond
    return float(rcond * np.max(np.abs(lam)))


# --------------------------------------------------------------------------- the flow


def flow_residual(
    theta: ArrayLike | KernelEigh, r0: ArrayLike, t: ArrayLike, *, rate: float
) -> np.ndarray:
    """Residual of the NTK flow, ``r(t) = exp(-rate * t * Theta) r0``, via ``eigh(Theta)``.

    Solves ``dr/dt = -rate * Theta r`` exactly for a constant kernel.

    Args:
        theta: kernel ``(M, M)`` or its :class:`KernelEigh`.
        r0: initial residual ``f0 - y``, ``M`` entries (any shape, e.g. ``(n, n_out)``).
        t: time or times, shape ``()`` or ``(T,)``.
        rate: ``2c/N`` (:func:`flow_rate`).

    Returns:
        ``r(t)``, shape ``t.shape + r0.shape``, float64.
    """
    eig = kernel_eigh(theta)
    r0 = np.asarray(r0, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    gains = np.exp(-rate * t[..., None] * eig.eigenvalues)
    return eig.apply(gains, r0.reshape(-1)).reshape(t.shape + r0.shape)


def flow_outputs(
    theta: ArrayLike | KernelEigh, f0: ArrayLike, y: ArrayLike, t: ArrayLike, *, rate: float
) -> np.ndarray:
    """Outputs of the NTK flow, ``f(t) = y + exp(-rate t Theta)(f0 - y)``, shape ``t.shape +
    f0.shape``."""
    f0 = np.asarray(f0, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(f0.shape)
    return y + flow_residual(theta, f0 - y, t, rate=rate)


# --------------------------------------------------------------------------- loss bounds


def loss_bound(
    loss0: float,
    lam_min: float,
    t: ArrayLike,
    n_samples: int,
    loss_scale: float = BERG_LOSS_SCALE,
) -> np.ndarray | float:
    """The smallest-eigenvalue bound ``L(t) <= L(0) exp(-4 c lam_min t / N)`` of the NTK flow.

    Derivation for ``L = (c/N)||r||^2`` with ``dr/dt = -(2c/N) Theta r``:
    ``dL/dt = (2c/N) r^T dr/dt = -(4c^2/N^2) r^T Theta r <= -(4c^2/N^2) lam_min ||r||^2
    = -(4 c lam_min / N) L`` (Rayleigh), so Gronwall gives the bound. For Berg's MSE (``c = 1``)
    it is ``L(0) exp(-4 lam_min t / N)``. It is an equality when ``r0`` is an eigenvector of
    ``lam_min``. Any other normalisation of the *measured* loss leaves the ratio unchanged.

    Args:
        loss0: ``L(0)``.
        lam_min: smallest eigenvalue of the (constant) kernel.
        t: gradient-flow time(s).
        n_samples: ``N``, the kernel's sample count.
        loss_scale: ``c`` of the loss that is *trained*; it sets the rate.

    Returns:
        The bound at ``t``.
    """
    t = np.asarray(t, dtype=np.float64)
    out = loss0 * np.exp(-4.0 * loss_scale * lam_min * t / n_samples)
    return float(out) if out.ndim == 0 else out


def berg_faithful_bound(loss0: float, lam_min: float, t: ArrayLike) -> np.ndarray | float:
    """Berg's (2024) eqs. 9-10 as meant: ``L(t) <= L(0) exp(-4 lam_min t)``, missing a ``1/N``.

    His eq. 8 differentiates ``||y - f||^2`` (without the MSE's ``1/N``) while the flow carries
    ``2/N``; eq. 9 then reads ``(4/N) lam_min ||y - f||^2`` as ``4 lam_min L`` with
    ``L = (1/N)||y - f||^2``, using the ``1/N`` once instead of twice, and writes a stray factor
    ``t`` on its right-hand side; eq. 10 drops ``t`` from the exponent (``L(0) exp(-4 lam_min)``).
    This function integrates his differential inequality ``dL/dt <= -4 lam_min L``. Its rate is
    ``N`` times that of :func:`loss_bound`, so it is not a bound.
    """
    t = np.asarray(t, dtype=np.float64)
    out = loss0 * np.exp(-4.0 * lam_min * t)
    return float(out) if out.ndim == 0 else out


def du_learning_rate(
    learning_rate: float, n_samples: int, loss_scale: float = BERG_LOSS_SCALE
) -> float:
    """The step of Du et al. (2019) equal to GD with ``learning_rate`` on ``(c/N)||f - y||^2``.

    Du et al. descend ``(1/2)||y - u||^2``; the same update on ``(c/N)||f - y||^2`` has step
    ``2 c eta / N``.
    """
    return 2.0 * loss_scale * learning_rate / n_samples


def du_discrete_bound(
    loss0: float, lam_min: float, learning_rate: float, steps: ArrayLike
) -> np.ndarray | float:
    """Du et al. (2019), discrete GD: ``L(k) <= (1 - eta lam_min / 2)^k L(0)``.

    ``eta`` is the step in *their* convention (loss ``(1/2)||y - u||^2``, see
    :func:`du_learning_rate`); ``lam_min`` stands in for their ``lambda_0``, the smallest
    eigenvalue of the infinite-width Gram matrix. Their theorem also needs width
    ``Omega(N^6 / lambda_0^4)`` and ``eta = O(lambda_0 / N^2)``.
    """
    k = np.asarray(steps, dtype=np.float64)
    factor = 1.0 - learning_rate * lam_min / 2.0
    if factor < 0:
        raise ValueError(f"1 - eta lam_min / 2 = {factor:.3g} < 0: the step is outside the theorem")
    out = loss0 * factor**k
    return float(out) if out.ndim == 0 else out


# --------------------------------------------------------------------------- NTK updates


def ntk3_gains(eigenvalues: np.ndarray, t: float, *, rate: float, cutoff: float) -> np.ndarray:
    """``(1 - exp(-rate t lam)) / lam`` for ``lam > cutoff``, else 0: the spectral form of
    ``(I - exp(-rate t Theta)) Theta^+``. ``1 - exp(-x)`` is computed as ``-expm1(-x)``."""
    lam = np.asarray(eigenvalues, dtype=np.float64)
    keep = lam > cutoff
    safe = np.where(keep, lam, 1.0)
    return np.where(keep, -np.expm1(-rate * t * safe) / safe, 0.0)


def ntk3_coefficients(
    theta: ArrayLike | KernelEigh,
    r0: ArrayLike,
    t: float,
    *,
    rate: float,
    rcond: float | None = None,
) -> np.ndarray:
    """``c = (I - exp(-rate t Theta)) Theta^+ r0``, the output-space vector of NTK3.

    NTK3 is ``theta(t) = theta0 - J0^T c``. The pseudoinverse drops eigenvalues at or below
    :func:`pinv_cutoff` ``(rcond)``; their directions are (numerically) in the null space of
    ``J0^T``, so they would not move the parameters anyway.

    Args:
        theta: kernel ``(M, M)`` at ``theta0`` or its :class:`KernelEigh`.
        r0: ``f0 - y``, ``M`` entries.
        t: gradient-flow time.
        rate: ``2c/N`` (:func:`flow_rate`): ``1/N`` in Sarvanau's eq. 17.
        rcond: relative cutoff of the pseudoinverse (default ``M * eps(float64)``).

    Returns:
        ``c``, shape of ``r0``, float64.
    """
    eig = kernel_eigh(theta)
    r0 = np.asarray(r0, dtype=np.float64)
    gains = ntk3_gains(eig.eigenvalues, t, rate=rate, cutoff=pinv_cutoff(eig.eigenvalues, rcond))
    return eig.apply(gains, r0.reshape(-1)).reshape(r0.shape)


def _as_outputs(net: MLP, v: ArrayLike, n: int, dtype) -> jax.Array:
    v = jnp.asarray(v, dtype)
    if v.size != n * net.n_outputs:
        raise ValueError(f"expected {n * net.n_outputs} output entries, got shape {v.shape}")
    return v.reshape(n, net.n_outputs)


def apply_jacobian_transpose(net: MLP, params: Params, x: jax.Array, v: ArrayLike) -> Params:
    """``J(params)^T v`` with one VJP of the network; ``J`` is never formed.

    Args:
        net: the network.
        params: the point ``theta`` of the Jacobian.
        x: inputs ``(n, n_0)``.
        v: output-space vector, ``n * n_out`` entries (``(n,)``, ``(n, n_out)`` or flat).

    Returns:
        A parameter pytree like ``params``.
    """
    dtype = params[0][0].dtype
    x = jnp.asarray(x, dtype)
    return _vjp(net, params, x, _as_outputs(net, v, x.shape[0], dtype))


@partial(jax.jit, static_argnames=("net",))
def _apply(net: MLP, params: Params, x: jax.Array) -> jax.Array:
    return net.apply(params, x)


@partial(jax.jit, static_argnames=("net",))
def _vjp(net: MLP, params: Params, x: jax.Array, v: jax.Array) -> Params:
    _, vjp = jax.vjp(lambda p: net.apply(p, x), params)
    return vjp(v)[0]


@partial(jax.jit, static_argnames=("net",))
def _linearized(net: MLP, params0: Params, params: Params, x: jax.Array) -> jax.Array:
    delta = jax.tree_util.tree_map(lambda p, p0: p - p0, params, params0)
    f0, df = jax.jvp(lambda p: net.apply(p, x), (params0,), (delta,))
    return f0 + df


def ntk3_update(
    net: MLP,
    params0: Params,
    x: jax.Array,
    y: ArrayLike,
    t: float,
    *,
    loss_scale: float = SARVANAU_LOSS_SCALE,
    n_samples: int | None = None,
    theta: ArrayLike | KernelEigh | None = None,
    rcond: float | None = None,
) -> Params:
    """NTK3 (Sarvanau 2025, eq. 17): ``theta(t) = theta0 - J0^T (I - e^{-rate t Theta}) Theta^+
    (f0 - y)``.

    The exact solution at time ``t`` of gradient flow on the *linearised* model with the loss
    ``(c/N)||f - y||^2``, rate ``2c/N`` (``1/N`` for Sarvanau's ``c = 1/2``). ``J0^T`` is applied
    with one VJP of the network at ``theta0``.

    Args:
        net: the network.
        params0: ``theta0``.
        x: training inputs ``(n, n_0)``, the samples the kernel is built on.
        y: targets, ``(n,)`` or ``(n, n_out)``.
        t: gradient-flow time; replacing ``S`` SGD steps of rate ``eta`` means ``t = eta S``.
        loss_scale: ``c``.
        n_samples: ``N`` of the rate; default ``n``, the kernel's own sample count (the
            consistent choice). Sarvanau used the full training-set size with a subset kernel.
        theta: the kernel at ``theta0`` (``(M, M)``, :func:`flat_ntk`) or its eigendecomposition,
            if already computed.
        rcond: relative cutoff of the pseudoinverse (:func:`pinv_cutoff`).

    Returns:
        ``theta(t)``, a parameter pytree like ``params0``.

    Raises:
        FloatingPointError: the kernel or the outputs hold NaN/Inf.
    """
    dtype = params0[0][0].dtype
    x = jnp.asarray(x, dtype)
    n = x.shape[0]
    eig = kernel_eigh(flat_ntk(net, params0, x) if theta is None else theta)
    if eig.size != n * net.n_outputs:
        raise ValueError(f"kernel of size {eig.size} does not match {n} samples x outputs")
    f0 = np.asarray(_apply(net, params0, x), dtype=np.float64)
    check_finite(f0, "network output f(theta0)")
    r0 = f0 - np.asarray(y, dtype=np.float64).reshape(f0.shape)
    rate = flow_rate(n if n_samples is None else n_samples, loss_scale)
    coef = ntk3_coefficients(eig, r0, t, rate=rate, rcond=rcond)
    step = apply_jacobian_transpose(net, params0, x, coef)
    return jax.tree_util.tree_map(lambda p, s: p - s, params0, step)


# --------------------------------------------------------------------------- NTK1-3 per mode


def ntk1_transfer(
    eigenvalues: ArrayLike, *, rate: float, step_time: float, updates: int
) -> np.ndarray:
    """Residual factor per eigenvalue after ``updates`` NTK1 steps on the linearised model.

    NTK1 is gradient descent with the Jacobian frozen at ``theta0``: on the linearised model
    each step multiplies the residual by ``I - rate * step_time * Theta`` (``step_time`` = the
    learning rate), so the factor is ``(1 - rate step_time lam)^updates``.
    """
    lam = np.asarray(eigenvalues, dtype=np.float64)
    return (1.0 - rate * step_time * lam) ** updates


def ntk2_transfer(
    eigenvalues: ArrayLike, *, rate: float, step_times: ArrayLike, decay_times: ArrayLike
) -> np.ndarray:
    """Residual factor per eigenvalue after NTK2 updates, on the linearised model.

    Update ``j`` is ``theta <- theta - rate * step_times[j] * J0^T exp(-rate decay_times[j]
    Theta) r0``: a step of flow time ``step_times[j]`` along the residual the flow predicts at
    time ``decay_times[j]``. The factor is ``1 - rate lam sum_j step_j exp(-rate lam decay_j)``.
    Consistent time scales mean ``decay_times[j] = sum_{i<j} step_times[i]``, a left Riemann sum
    of NTK3's integral (:func:`ntk3_transfer`), to which it converges as the steps shrink.

    Args:
        eigenvalues: ``(K,)`` eigenvalues of the kernel.
        rate: ``2c/N``.
        step_times: ``(U,)`` flow time each update moves (``eta`` for one step of rate ``eta``).
        decay_times: ``(U,)`` flow time in the exponent of each update.

    Returns:
        ``(K,)`` residual factors.
    """
    lam = np.asarray(eigenvalues, dtype=np.float64)[:, None]
    steps = np.asarray(step_times, dtype=np.float64)
    decay = np.asarray(decay_times, dtype=np.float64)
    return 1.0 - rate * lam[:, 0] * np.sum(steps * np.exp(-rate * lam * decay), axis=1)


def ntk3_transfer(eigenvalues: ArrayLike, *, rate: float, t: float) -> np.ndarray:
    """Residual factor per eigenvalue of NTK3 (the exact flow): ``exp(-rate t lam)``."""
    return np.exp(-rate * t * np.asarray(eigenvalues, dtype=np.float64))


@dataclass(frozen=True)
class HybridTimeScales:
    """The coefficient of ``Theta`` in the exponent of Sarvanau's NTK2/NTK3, thesis vs consistent.

    Each ``*_exponent`` is the number ``a`` in ``exp(-a Theta)`` (Theta on the kernel subset).

    Attributes:
        steps_per_epoch: SGD steps per epoch.
        flow_time_per_epoch: ``eta * steps_per_epoch``.
        ntk2_thesis_exponent_per_epoch: ``2 / N`` per epoch ``k`` (thesis eq. 16).
        ntk2_consistent_exponent_per_epoch: ``rate * eta * steps_per_epoch``, ``rate = 1/N``.
        ntk2_thesis_step_per_update: the flow time one thesis NTK2 update moves, ``eta``.
        ntk3_thesis_exponent: ``T / N_train`` with ``T`` the total epochs (thesis eq. 17).
        ntk3_consistent_exponent: ``eta * S / N_kernel`` for the ``S`` SGD steps replaced.
    """

    steps_per_epoch: int
    flow_time_per_epoch: float
    ntk2_thesis_exponent_per_epoch: float
    ntk2_consistent_exponent_per_epoch: float
    ntk2_thesis_step_per_update: float
    ntk3_thesis_exponent: float
    ntk3_consistent_exponent: float


def hybrid_time_scales(
    learning_rate: float,
    batch_size: int,
    n_train: int,
    n_kernel: int,
    total_epochs: int,
    epochs_replaced: float,
) -> HybridTimeScales:
    """Time scales of Sarvanau's NTK2 and NTK3 as printed, against the consistent choice.

    Consistent: the update replaces ``S = epochs_replaced * steps_per_epoch`` SGD steps, i.e.
    gradient-flow time ``t = eta S``, and the rate uses the kernel's own sample count,
    ``1 / n_kernel`` (loss ``||f - y||^2 / (2N)``). Thesis: NTK2 decays with ``exp(-2 Theta k / N)``
    with ``k`` the epoch; NTK3 uses ``t = total_epochs`` and ``N = n_train``.
    """
    spe = steps_per_epoch(n_train, batch_size)
    per_epoch = learning_rate * spe
    rate = flow_rate(n_kernel, SARVANAU_LOSS_SCALE)
    return HybridTimeScales(
        steps_per_epoch=spe,
        flow_time_per_epoch=per_epoch,
        ntk2_thesis_exponent_per_epoch=2.0 / n_kernel,
        ntk2_consistent_exponent_per_epoch=rate * per_epoch,
        ntk2_thesis_step_per_update=learning_rate,
        ntk3_thesis_exponent=total_epochs / n_train,
        ntk3_consistent_exponent=rate * per_epoch * epochs_replaced,
    )


def hybrid_transfers(
    eigenvalues: ArrayLike,
    *,
    learning_rate: float,
    batch_size: int,
    n_train: int,
    n_kernel: int,
    total_epochs: int,
    switch_epoch: int,
) -> dict[str, np.ndarray]:
    """Residual factor per eigenvalue of each NTK update that replaces SGD from ``switch_epoch``.

    Sarvanau's loss ``||f - y||^2 / (2N)`` (rate ``1/N``) with a kernel on ``n_kernel`` samples.
    The ``S = (total_epochs - switch_epoch) * steps_per_epoch`` replaced SGD steps are, on the
    linearised model and in expectation, ``S`` GD steps of rate ``1/n_kernel``: the reference.

    * ``NTK1``: those ``S`` steps with the Jacobian frozen (:func:`ntk1_transfer`).
    * ``NTK2, thesis``: one update per replaced step, step ``eta / N``, exponent
      ``2 Theta k / N`` with ``k`` the epoch counted from the switch (eq. 16 with "t is the
      current epoch number"; sec. 4.5).
    * ``NTK2, consistent``: exponent ``Theta t_j / N`` with ``t_j = eta j`` after ``j`` steps.
    * ``NTK3, thesis``: ``exp(-T Theta / N_train)``, ``T = total_epochs`` (sec. 4.5).
    * ``NTK3, consistent``: ``exp(-eta S Theta / n_kernel)``.

    Args:
        eigenvalues: ``(K,)`` eigenvalues of the kernel on ``n_kernel`` samples (negative
            rounding noise is clipped to 0).
        learning_rate, batch_size, n_train, n_kernel, total_epochs, switch_epoch: the setting
            (see :data:`SARVANAU_FMNIST`).

    Returns:
        label -> ``(K,)`` residual factors, in the order above.
    """
    lam = np.clip(np.asarray(eigenvalues, dtype=np.float64), 0.0, None)
    spe = steps_per_epoch(n_train, batch_size)
    steps = (total_epochs - switch_epoch) * spe
    if steps < 1:
        raise ValueError(f"switch_epoch {switch_epoch} leaves no epochs of {total_epochs}")
    rate = flow_rate(n_kernel, SARVANAU_LOSS_SCALE)
    eta = np.full(steps, learning_rate)
    return {
        "NTK1 (= the replaced SGD steps)": ntk1_transfer(
            lam, rate=rate, step_time=learning_rate, updates=steps
        ),
        "NTK2, thesis": ntk2_transfer(
            lam, rate=rate, step_times=eta, decay_times=2.0 * (np.arange(steps) // spe)
        ),
        "NTK2, consistent": ntk2_transfer(
            lam, rate=rate, step_times=eta, decay_times=learning_rate * np.arange(steps)
        ),
        "NTK3, thesis": ntk3_transfer(
            lam, rate=flow_rate(n_train, SARVANAU_LOSS_SCALE), t=float(total_epochs)
        ),
        "NTK3, consistent": ntk3_transfer(lam, rate=rate, t=learning_rate * steps),
    }


# --------------------------------------------------------------------------- linearised model


def linearized_apply(net: MLP, params0: Params, params: Params, x: jax.Array) -> jax.Array:
    """``f_lin(theta) = f(theta0) + J0 (theta - theta0)`` on ``x``, with one ``jax.jvp``.

    Returns:
        Outputs ``(n, n_out)``.
    """
    return _linearized(net, params0, params, jnp.asarray(x, params0[0][0].dtype))


@dataclass(frozen=True)
class LinearizedPath:
    """A numerically integrated trajectory of the linearised model under gradient flow.

    Attributes:
        times: ``(T,)`` gradient-flow times.
        displacements: ``(T, P)`` flat ``theta(t) - theta0`` (``ravel_pytree`` order), float64.
        outputs: ``(T, n, n_out)`` outputs ``f_lin(theta(t))``, float64.
        n_rhs: number of right-hand-side evaluations the integrator used.
        unravel: flat vector -> parameter pytree.
        params0: ``theta0``.
    """

    times: np.ndarray
    displacements: np.ndarray
    outputs: np.ndarray
    n_rhs: int
    unravel: Callable[[jax.Array], Params]
    params0: Params

    def params_at(self, i: int) -> Params:
        """``theta(times[i])`` as a parameter pytree."""
        delta = self.unravel(jnp.asarray(self.displacements[i]))
        return jax.tree_util.tree_map(lambda p, d: p + d, self.params0, delta)


def integrate_linearized_flow(
    net: MLP,
    params0: Params,
    x: jax.Array,
    y: ArrayLike,
    times: ArrayLike,
    *,
    rate: float,
    rtol: float = 1e-13,
    atol: float = 1e-15,
    method: str = "DOP853",
) -> LinearizedPath:
    """Integrate ``d theta/dt = -rate J0^T (f_lin(theta) - y)`` numerically, in parameter space.

    The linearised model's gradient flow, integrated by :func:`scipy.integrate.solve_ivp` for the
    displacement ``theta - theta0`` (so ``rtol`` applies to what moves). The right-hand side is
    one JVP and one VJP at ``theta0`` (``jax.linearize`` and its transpose), compiled once; no
    kernel or Jacobian is formed, so this checks the closed forms independently.

    Args:
        net: the network.
        params0: ``theta0``; the integration runs in its dtype (use float64).
        x: inputs ``(n, n_0)``.
        y: targets, ``n * n_out`` entries.
        times: ``(T,)`` increasing times ``>= 0`` at which to report the state.
        rate: ``2c/N`` (:func:`flow_rate`).
        rtol, atol: tolerances of the integrator.
        method: a ``solve_ivp`` method; an explicit high-order one (``DOP853``) is exact enough
            and needs no ``P x P`` Jacobian.

    Returns:
        The :class:`LinearizedPath` at ``times``.

    Raises:
        RuntimeError: the integrator failed.
        FloatingPointError: the solution holds NaN/Inf.
    """
    dtype = params0[0][0].dtype
    x = jnp.asarray(x, dtype)
    flat0, unravel = ravel_pytree(params0)
    f0, jvp_fn = jax.linearize(lambda flat: net.apply(unravel(flat), x), flat0)
    vjp_fn = jax.linear_transpose(jvp_fn, flat0)
    y = _as_outputs(net, y, x.shape[0], dtype)
    r0 = f0 - y

    @jax.jit
    def rhs(delta):
        (g,) = vjp_fn(r0 + jvp_fn(delta))
        return -rate * g

    outputs_at = jax.jit(jax.vmap(lambda delta: f0 + jvp_fn(delta)))
    times = np.asarray(times, dtype=np.float64)
    if times.ndim != 1 or np.any(np.diff(times) < 0) or times[0] < 0:
        raise ValueError("times must be a 1-D increasing array of non-negative numbers")
    fun = lambda _, d: np.asarray(rhs(jnp.asarray(d, dtype)), dtype=np.float64)  # noqa: E731
    # One solve per interval, so that every reported time is a step of the integrator: dense
    # output between steps is several orders less accurate than the steps themselves.
    disp = np.zeros((times.shape[0], flat0.shape[0]))
    n_rhs = 0
    for i in range(1, times.shape[0]):
        if times[i] == times[i - 1]:
            disp[i] = disp[i - 1]
            continue
        sol = scipy.integrate.solve_ivp(
            fun, (times[i - 1], times[i]), disp[i - 1], method=method, rtol=rtol, atol=atol
        )
        if not sol.success:
            raise RuntimeError(f"integration of the linearised flow failed: {sol.message}")
        disp[i] = sol.y[:, -1]
        n_rhs += int(sol.nfev)
    check_finite(disp, "linearised flow")
    outputs = np.asarray(outputs_at(jnp.asarray(disp, dtype)), dtype=np.float64)
    return LinearizedPath(times, disp, outputs, n_rhs, unravel, params0)


def flatten_params(params: Params) -> np.ndarray:
    """All parameters as one float64 vector, in ``jax.flatten_util.ravel_pytree`` order."""
    return np.asarray(ravel_pytree(params)[0], dtype=np.float64)


def relative_error(a: ArrayLike, b: ArrayLike, axis: int | None = None) -> np.ndarray | float:
    """``||a - b|| / ||b||`` (Frobenius), over all entries or per index of ``axis`` kept."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if axis is None:
        return float(np.linalg.norm(a - b) / np.linalg.norm(b))
    a2 = np.moveaxis(a, axis, 0).reshape(a.shape[axis], -1)
    b2 = np.moveaxis(b, axis, 0).reshape(b.shape[axis], -1)
    return np.linalg.norm(a2 - b2, axis=1) / np.linalg.norm(b2, axis=1)
