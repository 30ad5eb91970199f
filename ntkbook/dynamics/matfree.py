"""NTK3 on a whole training set without forming the kernel: Lanczos on NTK-vector products.

The kernel ``Theta = J J^T`` (every output pair, ``M = n * n_out`` rows) is only ever applied to
a vector (:func:`ntkbook.core.products.ntk_matvec`: one VJP and one JVP, streamed over row
blocks), so memory is ``O(M + n_params)`` and one product costs about one epoch of full-batch
gradient computation. NTK3's coefficient vector

    c = (I - exp(-rho t Theta)) Theta^+ r = G(Theta) r,   G = ntkbook.dynamics.gains.ntk3_gains,

is a smooth matrix function (``G(0) = rho t`` -- on the null space of ``Theta`` the value does not
matter, because ``J^T`` maps it to zero), so it is computed by the Lanczos method: ``k``
products give ``G(Theta) r ~ ||r|| Q_k G(T_k) e_1``, and the iteration stops when that
approximation changes by less than ``tol`` relative to its norm. The update is then applied with
the same ``J^T`` product and the same gains as the dense NTK3
(:func:`ntkbook.dynamics.updates.ntk3_update`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ntkbook.core.kernel import check_finite
from ntkbook.core.mlp import MLP, Params
from ntkbook.core.products import (
    DEFAULT_BLOCK_ROWS,
    jacobian_transpose_product,
    network_outputs,
    ntk_matvec,
)
from ntkbook.dynamics.conventions import SARVANAU_LOSS_SCALE, flow_rate
from ntkbook.dynamics.gains import ntk3_gains
from ntkbook.dynamics.updates import output_residual


@dataclass(frozen=True)
class LanczosResult:
    """``f(A) b`` by Lanczos.

    Attributes:
        value: the approximation, shaped like ``b``.
        iterations: matrix-vector products used.
        converged: whether the stopping rule was met.
        change: relative change of the last update.
        ritz_values: eigenvalues of the final tridiagonal matrix (approximate extreme
            eigenvalues of ``A``).
    """

    value: np.ndarray
    iterations: int
    converged: bool
    change: float
    ritz_values: np.ndarray


def lanczos_matrix_function(
    matvec: Callable[[np.ndarray], np.ndarray],
    b: np.ndarray,
    f: Callable[[np.ndarray], np.ndarray],
    *,
    max_iter: int = 100,
    tol: float = 1e-6,
    check_every: int = 1,
) -> LanczosResult:
    """``f(A) b`` for a symmetric positive semi-definite ``A`` given only by ``matvec``.

    Lanczos with full reorthogonalisation (float64): after ``k`` steps
    ``f(A) b ~ ||b|| Q_k f(T_k) e_1``. Stops when the approximation changes by less than
    ``tol`` (relative), at an invariant subspace (``beta ~ 0``), or after ``max_iter`` products.

    Args:
        matvec: ``v -> A v`` on flat float64 vectors of ``b``'s size.
        b: the vector (any shape; flattened).
        f: the scalar function, applied to an array of eigenvalues.
        max_iter: most products.
        tol: relative stopping tolerance.
        check_every: evaluate the stopping rule every this many steps.
    """
    shape = np.shape(b)
    b = np.asarray(b, dtype=np.float64).ravel()
    norm_b = np.linalg.norm(b)
    if norm_b == 0:
        return LanczosResult(np.zeros(shape), 0, True, 0.0, np.zeros(0))
    basis = [b / norm_b]
    alphas: list[float] = []
    betas: list[float] = []
    previous, change, converged = None, np.inf, False
    for k in range(1, max_iter + 1):
        w = np.array(matvec(basis[-1]), dtype=np.float64).ravel()  # a writable copy
        check_finite(w, "NTK-vector product")
        alphas.append(float(basis[-1] @ w))
        q = np.array(basis)
        w -= q.T @ (q @ w)  # full reorthogonalisation, twice is enough
        w -= q.T @ (q @ w)
        beta = float(np.linalg.norm(w))
        invariant = beta <= 1e-12 * max(abs(a) for a in alphas)
        if k % check_every == 0 or invariant or k == max_iter:
            value, ritz = _lanczos_value(alphas, betas, q, f, norm_b)
            if previous is not None:
                scale = max(float(np.linalg.norm(value)), 1e-300)
                change = float(np.linalg.norm(value - previous)) / scale
                converged = change < tol
            previous = value
            if converged or invariant:
                converged = True
                break
        betas.append(beta)
        basis.append(w / beta)
    return LanczosResult(previous.reshape(shape), k, converged, change, ritz)


def _lanczos_value(alphas, betas, q, f, norm_b):
    k = len(alphas)
    tri = np.diag(alphas) + np.diag(betas[: k - 1], 1) + np.diag(betas[: k - 1], -1)
    ritz, vecs = np.linalg.eigh(tri)
    coeffs = vecs @ (f(np.clip(ritz, 0.0, None)) * vecs[0])
    return norm_b * (q.T @ coeffs), ritz


@dataclass(frozen=True)
class MatrixFreeNTK3:
    """NTK3 computed matrix-free: the new parameters and how the solve went.

    Attributes:
        params: ``theta(t)``, a pytree like ``theta0``.
        lanczos: the Lanczos solve of ``c = G(Theta) r``.
        initial_residual_norm: ``||r||`` at ``theta0``.
    """

    params: Params
    lanczos: LanczosResult
    initial_residual_norm: float


def ntk3_matrix_free(
    net: MLP,
    params0: Params,
    x: jax.Array,
    y: jax.Array,
    t: float,
    *,
    loss_scale: float = SARVANAU_LOSS_SCALE,
    n_samples: int | None = None,
    max_iter: int = 100,
    tol: float = 1e-4,
    block_rows: int = DEFAULT_BLOCK_ROWS,
    residual: str = "squared",
) -> MatrixFreeNTK3:
    """NTK3, ``theta0 - J0^T G(Theta0) r0``, with ``Theta0`` never formed.

    Same result as :func:`ntkbook.dynamics.updates.ntk3_update` with the exact full kernel
    (``kind="full"``), in ``O(n * n_out + n_params)`` memory: the same gains
    (:func:`ntkbook.dynamics.gains.ntk3_gains`, evaluated on the Ritz values), residual and
    ``J^T`` product; only ``G(Theta) r`` is computed by Lanczos instead of an eigendecomposition.

    Args:
        net: the network. params0: ``theta0``.
        x: training inputs ``(n, n_0)``. y: targets ``(n,)`` or ``(n, n_out)``.
        t: gradient-flow time (``eta * S`` to replace ``S`` SGD steps of rate ``eta``).
        loss_scale: ``c`` of ``(c/N)||f - y||^2``; rate ``2c/N``.
        n_samples: ``N`` of the rate; default ``n``.
        max_iter, tol: Lanczos limits (see :func:`lanczos_matrix_function`).
        block_rows: rows per JVP/VJP block.
        residual: ``"squared"`` (``f - y``, the squared loss's flow) or ``"softmax"``
            (``softmax(f) - y``, the cross-entropy's gradient frozen at ``theta0``).

    Raises:
        FloatingPointError: the outputs or a kernel-vector product hold NaN/Inf.
    """
    dtype = params0[0][0].dtype
    x = jnp.asarray(x, dtype)
    n, n_out = x.shape[0], net.n_outputs
    f0 = np.asarray(network_outputs(net, params0, x, block_rows), dtype=np.float64)
    r0 = output_residual(f0, y, residual)
    check_finite(r0, f"initial residual ({residual}) at theta0")
    rate = flow_rate(n if n_samples is None else n_samples, loss_scale)

    def matvec(v: np.ndarray) -> np.ndarray:
        out = ntk_matvec(net, params0, x, jnp.asarray(v.reshape(n, n_out), dtype), block_rows)
        return np.asarray(out, dtype=np.float64)

    result = lanczos_matrix_function(matvec, r0, partial(ntk3_gains, rate=rate, t=t),
                                     max_iter=max_iter, tol=tol)
    step = jacobian_transpose_product(net, params0, x, result.value, block_rows)
    params = jax.tree_util.tree_map(lambda p, s: p - s, params0, step)
    return MatrixFreeNTK3(params, result, float(np.linalg.norm(r0)))


def accuracy(net: MLP, params: Params, x: jax.Array, labels: np.ndarray,
             block_rows: int = DEFAULT_BLOCK_ROWS) -> float:
    """Fraction of rows whose largest output is the label (labels ``(n,)`` integers)."""
    logits = network_outputs(net, params, jnp.asarray(x, params[0][0].dtype), block_rows)
    return float(np.mean(np.asarray(jnp.argmax(logits, axis=1)) == np.asarray(labels)))
