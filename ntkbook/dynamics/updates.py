"""Sarvanau's (2025) NTK updates NTK1/NTK2/NTK3, faithful and time-consistent, without a Jacobian.

From the switch point ``theta_s`` every update is linear in ``J_s^T``, the transposed Jacobian of
the network's outputs on the kernel subset ``X`` (``n`` inputs), applied to an output-space vector
built from the kernel ``Theta = J_s J_s^T`` and the residual ``R = f(theta_s; X) - Y``. With the
eigendecomposition ``Theta = V diag(lam) V^T`` each update is

    theta = theta_s - J_s^T V diag(G(lam)) V^T R,

a *gain* ``G(lam)`` per eigen-direction (:func:`cumulative_gains`). ``J_s^T`` is one VJP of the
network (:func:`apply_update`); ``Theta`` is :func:`ntkbook.empirical_ntk`; the eigendecomposition
is float64 (LAPACK's divide-and-conquer ``evd``, one thread: :func:`lapack_threads`). On the
linearised model ``f_lin(theta) = f(theta_s) + J_s (theta - theta_s)`` the residual of each mode
is multiplied by ``1 - lam G(lam)``. The three updates, with rate ``rho``
(``df/dt = -rho Theta r``) and flow time ``t`` (``eta`` per SGD step):

* **NTK1**, ``K`` steps of gradient descent with the Jacobian frozen (thesis eq. 15) on the
  linearised model: ``G = (1 - (1 - rho h lam)^K) / lam`` for steps of flow time ``h``.
  :func:`ntk1_descent` runs the same steps one by one with JVPs and VJPs.
* **NTK2**, steps along the residual the flow predicts (eq. 16):
  ``G = rho sum_u h_u exp(-a_u lam)`` with exponent coefficient ``a_u`` of update ``u``.
* **NTK3**, the one-shot integrated flow (eq. 17): ``G = (1 - exp(-rho t lam)) / lam``
  (``(I - e^{-rho t Theta}) Theta^+``).

**Variants** (:class:`ReplacedSGD`). *Faithful* = the thesis' printed time scales: NTK1 and NTK2
step ``eta / N`` with ``N = n_kernel`` (one update per replaced SGD step); NTK2's exponent is
``2 Theta k / N`` with ``k`` the epoch counted from the switch; NTK3 uses ``t = E`` (the total
number of epochs) and ``N = n_train`` (the full training set) while ``Theta`` is built on the
subset. *Consistent* = every update covers the gradient-flow time of the SGD it replaces,
``t = eta S`` for ``S`` replaced steps, at the rate ``rho = 2c / n_kernel`` of the kernel's own
samples, where ``c`` is the loss scale of the SGD loss (``c = 1`` for the MSE of the regression
task, ``c = 1/2`` for classification, matching the cross-entropy's gradient ``softmax - y`` with the
NTK phase's ``(f - y)``). NTK2 consistent then uses ``a_u = rho eta u``.

**Residuals.** The updates are derived for the squared loss, ``r = f - Y``; for classification
``Y`` is one-hot (``"squared"``, the default). The thesis' published code instead uses
``r = softmax(f) - Y``, the cross-entropy's gradient with respect to the logits, frozen at
``theta_s`` and decayed as if it were a squared-loss residual (``"softmax"``):
:meth:`SubsetKernel.residual` offers both.

**Pseudoinverse cutoff.** The thesis writes NTK3 with ``Theta^+``. Every gain above is a smooth,
bounded function of ``lam >= 0`` (``G <= rho t``), so no inverse is needed; the cutoff only decides
which eigenvalues count as zero. Eigenvalues at or below ``rcond * lam_max`` get gain 0, with
``rcond = M * eps(float64)`` by default: the resolution of the float64 eigensolver
(:func:`ntkbook.flow.pinv_cutoff`). The float32 kernel's own rounding moves eigenvalues by far less
than the worst-case ``M * eps(float32) * lam_max`` (about 500 for the thesis' Fashion-MNIST kernel,
below which lie most of its 2000 eigenvalues), and a direction whose eigenvalue is noise carries
``||J^T v||^2 = v^T Theta v`` of the order of that noise, so it moves nothing. Cutting at the
worst case instead drops real directions, among them those that move the parameters most
(a unit residual along ``v`` moves them by ``G sqrt(lam)``, which peaks near
``lam = 1 / (rho t)``): :func:`ntkbook.hybrid.run_hybrid` measures both.
"""

from __future__ import annotations

import ctypes
import glob
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache, partial

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

from ntkbook.core.kernel import check_finite, empirical_ntk
from ntkbook.core.mlp import MLP, Params
from ntkbook.dynamics import flow

METHODS = ("NTK1", "NTK2", "NTK3")
VARIANTS = ("faithful", "consistent")


# --------------------------------------------------------------------------- time scales


@dataclass(frozen=True)
class ReplacedSGD:
    """The SGD an NTK update replaces, and the sizes its time scales depend on.

    Attributes:
        learning_rate: ``eta``.
        steps_per_epoch: SGD steps per epoch (``ceil(n_train / batch)``).
        epochs_replaced: epochs after the switch, ``E - s``.
        total_epochs: ``E``.
        n_train: training-set size (the faithful NTK3's ``N``).
        n_kernel: samples of the kernel subset.
        loss_scale: ``c`` of the SGD loss ``(c/N) sum ||f - y||^2`` (consistent variant).
    """

    learning_rate: float
    steps_per_epoch: int
    epochs_replaced: int
    total_epochs: int
    n_train: int
    n_kernel: int
    loss_scale: float = 0.5

    @property
    def steps(self) -> int:
        """``S``, the SGD steps replaced."""
        return self.steps_per_epoch * self.epochs_replaced

    @property
    def flow_time(self) -> float:
        """``eta S``, the gradient-flow time of the replaced SGD."""
        return self.learning_rate * self.steps

    @property
    def consistent_rate(self) -> float:
        """``2c / n_kernel``."""
        return flow.flow_rate(self.n_kernel, self.loss_scale)

    @property
    def faithful_rate(self) -> float:
        """``1 / n_kernel``: the thesis' ``eta / N`` step (NTK1, NTK2)."""
        return 1.0 / self.n_kernel

    def ntk3_exponent(self, variant: str) -> float:
        """``a`` in NTK3's ``exp(-a Theta)``: ``E / n_train`` (faithful) or ``rho eta S``."""
        _check_variant(variant)
        if variant == "faithful":
            return self.total_epochs / self.n_train
        return self.consistent_rate * self.flow_time

    def equivalent_flow_time(self, variant: str) -> float:
        """The flow time of the replaced SGD (at the consistent rate) that NTK3 of ``variant``
        integrates: ``eta S`` for consistent, ``(E / n_train) / rho`` for faithful."""
        return self.ntk3_exponent(variant) / self.consistent_rate


def _check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {VARIANTS}")


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown NTK method {method!r}; choose one of {METHODS}")


# --------------------------------------------------------------------------- gains


def ntk1_gains(lam: np.ndarray, *, rate: float, step: float, n_updates: int) -> np.ndarray:
    """``(1 - (1 - rate step lam)^K) / lam`` for ``K = n_updates`` and eigenvalues ``lam`` of shape
    ``(M,)`` (returns ``(M,)``), with limit ``K rate step`` at ``lam = 0``. Steps with
    ``rate step lam > 2`` grow the residual: the result is then huge or infinite, which
    :func:`residual_factors` reports."""
    lam = np.clip(np.asarray(lam, dtype=np.float64), 0.0, None)
    x = rate * step * lam
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        small = -np.expm1(n_updates * np.log1p(-np.minimum(x, 0.5)))
        large = 1.0 - np.power(1.0 - x, n_updates)
        num = np.where(x < 0.5, small, large)
        safe = np.where(lam > 0, lam, 1.0)
        return np.where(lam > 0, num / safe, n_updates * rate * step)


def ntk2_gains(lam: np.ndarray, *, rate: float, step: float, decay: np.ndarray) -> np.ndarray:
    """``rate step sum_u exp(-decay_u lam)`` for ``lam`` ``(M,)``: one update per entry of
    ``decay`` ``(U,)`` (the coefficient ``a_u`` of update ``u`` in ``exp(-a_u Theta)``).
    Returns ``(M,)``."""
    lam = np.clip(np.asarray(lam, dtype=np.float64), 0.0, None)
    decay = np.asarray(decay, dtype=np.float64)
    return rate * step * np.exp(-np.outer(lam, decay)).sum(axis=1)


def _geometric_gains(lam: np.ndarray, rate: float, step: float, n_updates: int) -> np.ndarray:
    """``rate step sum_{u < K} exp(-rate step u lam)`` in closed form (NTK2 consistent)."""
    x = rate * step * np.clip(np.asarray(lam, dtype=np.float64), 0.0, None)
    safe = np.where(x > 0, x, 1.0)
    ratio = np.where(x > 0, np.expm1(-n_updates * safe) / np.expm1(-safe), n_updates)
    return rate * step * ratio


def ntk3_gains(lam: np.ndarray, *, rate: float, t: float) -> np.ndarray:
    """``(1 - exp(-rate t lam)) / lam`` for ``lam`` ``(M,)``, with limit ``rate t`` at 0 (no
    cutoff applied here). Returns ``(M,)``."""
    lam = np.clip(np.asarray(lam, dtype=np.float64), 0.0, None)
    safe = np.where(lam > 0, lam, 1.0)
    return np.where(lam > 0, -np.expm1(-rate * t * safe) / safe, rate * t)


def cumulative_gains(
    method: str, variant: str, lam: np.ndarray, replaced: ReplacedSGD
) -> np.ndarray:
    """Gains of ``method``/``variant`` after each replaced epoch (NTK1, NTK2) or at the end
    (NTK3, one shot).

    Args:
        method: ``"NTK1"``, ``"NTK2"`` or ``"NTK3"``.
        variant: ``"faithful"`` or ``"consistent"`` (see the module docstring).
        lam: ``(M,)`` eigenvalues of the kernel on the subset.
        replaced: the SGD being replaced.

    Returns:
        ``(epochs_replaced, M)`` for NTK1/NTK2 (row ``j``: after ``j + 1`` epochs), ``(1, M)`` for
        NTK3.
    """
    _check_method(method)
    _check_variant(variant)
    eta, spe = replaced.learning_rate, replaced.steps_per_epoch
    epochs = np.arange(1, replaced.epochs_replaced + 1)
    if method == "NTK3":
        rate = 1.0 / replaced.n_train if variant == "faithful" else replaced.consistent_rate
        t = replaced.total_epochs if variant == "faithful" else replaced.flow_time
        return ntk3_gains(lam, rate=rate, t=float(t))[None, :]
    rate = replaced.faithful_rate if variant == "faithful" else replaced.consistent_rate
    if method == "NTK1":
        return np.stack([ntk1_gains(lam, rate=rate, step=eta, n_updates=int(j * spe))
                         for j in epochs])
    if variant == "consistent":
        return np.stack([_geometric_gains(lam, rate, eta, int(j * spe)) for j in epochs])
    # Faithful NTK2: spe updates per epoch, exponent 2 k / n_kernel in epoch k = 0, 1, ...
    per_epoch = [spe * ntk2_gains(lam, rate=rate, step=eta, decay=[2.0 * k / replaced.n_kernel])
                 for k in range(replaced.epochs_replaced)]
    return np.cumsum(np.stack(per_epoch), axis=0)


def residual_factors(lam: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """``1 - lam G``: what an update does to each mode of the linearised model's residual."""
    return 1.0 - np.clip(np.asarray(lam, dtype=np.float64), 0.0, None) * gains


# --------------------------------------------------------------------------- the kernel subset


RESIDUALS = ("squared", "softmax")


def output_residual(outputs: np.ndarray, targets: np.ndarray, kind: str = "squared") -> np.ndarray:
    """The output-space residual an NTK update drives to zero, ``(n, n_out)`` float64.

    ``"squared"``: ``f - Y``; ``"softmax"``: ``softmax(f) - Y`` (see :meth:`SubsetKernel.residual`).
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
        """The output-space residual the updates drive to zero, ``(n, n_out)``.

        * ``"squared"``: ``f - Y``, the gradient of the squared loss ``||f - Y||^2 / 2``
          (one-hot ``Y`` for classification).
        * ``"softmax"``: ``softmax(f) - Y``, the gradient of the cross-entropy with respect to
          the logits, frozen at ``theta_s`` (what the thesis' published code uses).
        """
        return output_residual(self.outputs, self.targets, kind)

    def coefficients(self, gains: np.ndarray, residual: str = "squared") -> np.ndarray:
        """``V diag(G) V^T r`` with gains 0 at or below the cutoff; shape ``(n, n_out)``."""
        g = np.where(self.eigenvalues > self.cutoff, gains, 0.0)
        v, r = self.eigenvectors, self.residual(residual)
        if self.kind == "mean":
            return v @ (g[:, None] * (v.T @ r))
        flat = v @ (g * (v.T @ r.reshape(-1)))
        return flat.reshape(r.shape)


def _as_targets(net: MLP, y: np.ndarray, n: int) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    y = y.reshape(n, -1)
    if y.shape[1] != net.n_outputs:
        raise ValueError(
            f"NTK targets must have {net.n_outputs} columns (one-hot for classification), got "
            f"shape {y.shape}"
        )
    return y


@partial(jax.jit, static_argnames=("net",))
def _apply(net: MLP, params: Params, x: jax.Array) -> jax.Array:
    return net.apply(params, x)


def outputs(net: MLP, params: Params, x) -> np.ndarray:
    """``f(params; x)`` as float64, ``(n, n_out)`` (one jitted forward pass)."""
    dtype = params[0][0].dtype
    return np.asarray(jax.block_until_ready(_apply(net, params, jnp.asarray(x, dtype))),
                      np.float64)


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


@cache
def _openblas():
    """scipy's bundled OpenBLAS (``None`` if it is not found): its thread count can be set."""
    folder = os.path.join(os.path.dirname(scipy.__file__), os.pardir, "scipy.libs")
    for path in sorted(glob.glob(os.path.join(folder, "libscipy_openblas*.so"))):
        try:
            lib = ctypes.CDLL(path)
            lib.scipy_openblas_get_num_threads()
            return lib
        except (OSError, AttributeError):
            continue
    return None


@contextmanager
def lapack_threads(n: int) -> Iterator[None]:
    """Run scipy's LAPACK with ``n`` threads inside the block (a no-op where its OpenBLAS cannot
    be found).

    On a machine whose cores are busy, OpenBLAS's spinning worker threads can make a dense
    eigendecomposition ten times slower; one thread costs at most the parallel speed-up.
    """
    lib = _openblas()
    if lib is None:
        yield
        return
    before = lib.scipy_openblas_get_num_threads()
    lib.scipy_openblas_set_num_threads(int(n))
    try:
        yield
    finally:
        lib.scipy_openblas_set_num_threads(before)


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
        kind: ``"mean"`` (default; the mean-over-outputs kernel, applied to every output column)
            or ``"full"`` (the exact kernel over every output pair, ``(n n_out)^2`` entries).
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
        theta = flow.flat_ntk(net, params, xj)
    check_finite(theta, "NTK on the subset at the switch point")
    t_kernel = time.perf_counter() - tic
    tic = time.perf_counter()
    f_s = outputs(net, params, xj)
    check_finite(f_s, "network output at the switch point")
    t_outputs = time.perf_counter() - tic
    tic = time.perf_counter()
    with lapack_threads(1):
        lam, vec = scipy.linalg.eigh(0.5 * (theta + theta.T), driver="evd", check_finite=False)
    t_eigh = time.perf_counter() - tic
    rcond = lam.shape[0] * float(np.finfo(np.float64).eps) if rcond is None else rcond
    return SubsetKernel(lam, vec, f_s, _as_targets(net, y, xj.shape[0]), kind,
                        flow.pinv_cutoff(lam, rcond),
                        {"kernel": t_kernel, "outputs": t_outputs, "eigh": t_eigh})


def apply_update(net: MLP, params: Params, x: np.ndarray, coefficients: np.ndarray) -> Params:
    """``theta_s - J_s^T c`` with one VJP of the network at ``theta_s`` (``J`` never formed).

    Args:
        coefficients: ``(n, n_out)`` output-space vector.
    """
    dtype = params[0][0].dtype
    step = flow.apply_jacobian_transpose(net, params, jnp.asarray(x, dtype),
                                         jnp.asarray(coefficients, dtype))
    return jax.tree_util.tree_map(lambda p, s: p - s, params, step)


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


# --------------------------------------------------------------------------- NTK1 step by step


@partial(jax.jit, static_argnames=("net", "n_steps", "linearised"))
def _ntk1_scan(net, params0, x, y, step_size, n_steps, linearised):
    f0, jvp = jax.linearize(lambda p: net.apply(p, x), params0)
    vjp = jax.linear_transpose(jvp, params0)

    def one(p, _):
        if linearised:
            delta = jax.tree_util.tree_map(jnp.subtract, p, params0)
            out = f0 + jvp(delta)
        else:
            out = net.apply(p, x)
        (g,) = vjp(out - y)
        return jax.tree_util.tree_map(lambda a, b: a - step_size * b, p, g), None

    return jax.lax.scan(one, params0, None, length=n_steps)[0]


def ntk1_descent(
    net: MLP,
    params0: Params,
    x: np.ndarray,
    y: np.ndarray,
    *,
    rate: float,
    step: float,
    n_steps: int,
    linearised: bool = True,
) -> Params:
    """NTK1 literally: ``theta <- theta - rate step J_s^T (f(theta) - Y)``, ``n_steps`` times.

    ``x`` is ``(n, n_0)`` and ``y`` ``(n,)`` or ``(n, n_out)``; returns the parameters.

    ``J_s^T`` is the VJP at ``theta_s = params0`` (``jax.linearize`` and its transpose, compiled
    once, in one ``lax.scan``). With ``linearised`` (default) ``f`` is the linearised model
    ``f(theta_s) + J_s (theta - theta_s)`` (one JVP per step) and the result equals
    :func:`cumulative_gains` ``("NTK1")``; otherwise ``f`` is the network itself (the thesis'
    eq. 15 read literally).
    """
    dtype = params0[0][0].dtype
    xj = jnp.asarray(x, dtype)
    yj = jnp.asarray(_as_targets(net, y, xj.shape[0]), dtype)
    out = _ntk1_scan(net, params0, xj, yj, rate * step, int(n_steps), bool(linearised))
    return out


# --------------------------------------------------------------------------- diagnostics


def time_scale_rows(replaced: ReplacedSGD) -> list[dict]:
    """What each variant's time scale means, in rows for a table: the rate, the flow time and the
    exponent coefficient ``a`` of ``exp(-a Theta)``, faithful beside consistent."""
    spe, eta = replaced.steps_per_epoch, replaced.learning_rate
    rho = replaced.consistent_rate
    rows = [
        {"quantity": "NTK1/NTK2 step (rate x flow time)",
         "faithful": replaced.faithful_rate * eta, "consistent": rho * eta},
        {"quantity": "NTK2 exponent per epoch", "faithful": 2.0 / replaced.n_kernel,
         "consistent": rho * eta * spe},
        {"quantity": "NTK3 exponent a", "faithful": replaced.ntk3_exponent("faithful"),
         "consistent": replaced.ntk3_exponent("consistent")},
        {"quantity": "NTK3 flow time (at the consistent rate)",
         "faithful": replaced.equivalent_flow_time("faithful"),
         "consistent": replaced.equivalent_flow_time("consistent")},
        {"quantity": "NTK3 flow time in SGD steps",
         "faithful": replaced.equivalent_flow_time("faithful") / eta,
         "consistent": float(replaced.steps)},
    ]
    for row in rows:
        row["faithful / consistent"] = (row["faithful"] / row["consistent"]
                                        if row["consistent"] else float("nan"))
    return rows
