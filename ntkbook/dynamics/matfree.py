"""Matrix-free NTK products and NTK3 on a whole training set, without forming the kernel.

The kernel ``Theta = J J^T`` (every output pair, ``M = n * n_out`` rows) is only ever applied to
a vector: ``J^T v`` is one VJP of the network, ``J u`` one JVP, each streamed over row blocks of
the data, so memory is ``O(M + n_params)`` and one product costs about one epoch of full-batch
gradient computation. NTK3's coefficient vector

    c = (I - exp(-rho t Theta)) Theta^+ r = f(Theta) r,   f(lam) = (1 - exp(-rho t lam)) / lam,

is a smooth matrix function (``f(0) = rho t`` — on the null space of ``Theta`` the value does not
matter, because ``J^T`` maps it to zero), so it is computed by the Lanczos method: ``k``
products give ``f(Theta) r ~ ||r|| Q_k f(T_k) e_1``, and the iteration stops when that
approximation changes by less than ``tol`` relative to its norm.
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
from ntkbook.dynamics.updates import output_residual

DEFAULT_BLOCK_ROWS = 4096


def _blocks(n: int, rows: int):
    return [(i, min(i + rows, n)) for i in range(0, n, rows)]


@partial(jax.jit, static_argnames=("net",))
def _vjp_block(net: MLP, params: Params, x: jax.Array, v: jax.Array) -> Params:
    _, vjp = jax.vjp(lambda p: net.apply(p, x), params)
    return vjp(v)[0]


@partial(jax.jit, static_argnames=("net",))
def _jvp_block(net: MLP, params: Params, x: jax.Array, tangent: Params) -> jax.Array:
    return jax.jvp(lambda p: net.apply(p, x), (params,), (tangent,))[1]


def _padded_blocks(x: jax.Array, rows: int):
    """Row blocks of ``x``, the last zero-padded to ``rows``: one compiled shape for all."""
    out = []
    for start, stop in _blocks(x.shape[0], rows):
        block = x[start:stop]
        if stop - start < rows:
            block = jnp.concatenate([block, jnp.zeros((rows - (stop - start),) + x.shape[1:],
                                                      x.dtype)])
        out.append((start, stop, block))
    return out


def network_outputs(net: MLP, params: Params, x: jax.Array,
                    block_rows: int = DEFAULT_BLOCK_ROWS) -> jax.Array:
    """``net.apply(params, x)`` streamed over row blocks, shape ``(n, n_out)``."""
    rows = min(block_rows, x.shape[0])
    return jnp.concatenate([net.apply(params, xb)[: stop - start]
                            for start, stop, xb in _padded_blocks(x, rows)])


def _residual(net: MLP, params: Params, x: jax.Array, y, block_rows: int,
              kind: str = "squared") -> np.ndarray:
    """``f(x) - y`` (``"squared"``) or ``softmax(f(x)) - y`` (``"softmax"``) in float64,
    ``(n, n_out)``; NaN/Inf is an error."""
    f0 = np.asarray(network_outputs(net, params, x, block_rows), dtype=np.float64)
    residual = output_residual(f0, y, kind)
    check_finite(residual, f"initial residual ({kind}) at theta0")
    return residual


def jacobian_transpose_product(net: MLP, params: Params, x: jax.Array, v: jax.Array,
                               block_rows: int = DEFAULT_BLOCK_ROWS) -> Params:
    """``J^T v`` for outputs ``v`` of shape ``(n, n_out)``, streamed over row blocks."""
    rows = min(block_rows, x.shape[0])
    total = None
    for start, stop, xb in _padded_blocks(x, rows):
        vb = jnp.zeros((rows, net.n_outputs), v.dtype).at[: stop - start].set(v[start:stop])
        part = _vjp_block(net, params, xb, vb)
        total = part if total is None else jax.tree_util.tree_map(jnp.add, total, part)
    return total


def jacobian_product(net: MLP, params: Params, x: jax.Array, tangent: Params,
                     block_rows: int = DEFAULT_BLOCK_ROWS) -> jax.Array:
    """``J u`` for a parameter-space tangent ``u``: outputs of shape ``(n, n_out)``."""
    rows = min(block_rows, x.shape[0])
    parts = [_jvp_block(net, params, xb, tangent)[: stop - start]
             for start, stop, xb in _padded_blocks(x, rows)]
    return jnp.concatenate(parts)


def ntk_matvec(net: MLP, params: Params, x: jax.Array, v: jax.Array,
               block_rows: int = DEFAULT_BLOCK_ROWS) -> jax.Array:
    """``Theta v = J (J^T v)`` for ``v`` of shape ``(n, n_out)``; ``Theta`` is the full kernel
    over every output pair, never formed."""
    tangent = jacobian_transpose_product(net, params, x, v, block_rows)
    return jacobian_product(net, params, x, tangent, block_rows)


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


def ntk3_gain_function(rate: float, t: float) -> Callable[[np.ndarray], np.ndarray]:
    """``f(lam) = (1 - exp(-rate t lam)) / lam`` with its limit ``rate t`` at ``lam = 0``."""

    def f(lam: np.ndarray) -> np.ndarray:
        lam = np.asarray(lam, dtype=np.float64)
        z = rate * t * lam
        small = z < 1e-8
        safe = np.where(small, 1.0, lam)
        return np.where(small, rate * t * (1 - z / 2), -np.expm1(-z) / safe)

    return f


@dataclass(frozen=True)
class MatrixFreeNTK3:
    """NTK3 computed matrix-free: the new parameters and how the solve went."""

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
    loss_scale: float = 0.5,
    n_samples: int | None = None,
    max_iter: int = 100,
    tol: float = 1e-4,
    block_rows: int = DEFAULT_BLOCK_ROWS,
    residual: str = "squared",
) -> MatrixFreeNTK3:
    """NTK3, ``theta0 - J0^T f(Theta0) (f0 - y)``, with ``Theta0`` never formed.

    Same result as :func:`ntkbook.flow.ntk3_update` (the exact full kernel over every output
    pair), in ``O(n * n_out + n_params)`` memory.

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
    """
    dtype = params0[0][0].dtype
    x = jnp.asarray(x, dtype)
    n, n_out = x.shape[0], net.n_outputs
    r0 = _residual(net, params0, x, y, block_rows, residual)
    rate = 2.0 * loss_scale / (n if n_samples is None else n_samples)

    def matvec(v: np.ndarray) -> np.ndarray:
        out = ntk_matvec(net, params0, x, jnp.asarray(v.reshape(n, n_out), dtype), block_rows)
        return np.asarray(out, dtype=np.float64)

    result = lanczos_matrix_function(matvec, r0, ntk3_gain_function(rate, t),
                                     max_iter=max_iter, tol=tol)
    coef = jnp.asarray(result.value, dtype)
    step = jacobian_transpose_product(net, params0, x, coef, block_rows)
    params = jax.tree_util.tree_map(lambda p, s: p - s, params0, step)
    return MatrixFreeNTK3(params, result, float(np.linalg.norm(r0)))


def ntk3_dense_mean_kernel(
    net: MLP,
    params0: Params,
    x: jax.Array,
    y: jax.Array,
    t: float,
    *,
    loss_scale: float = 0.5,
    n_samples: int | None = None,
    residual: str = "squared",
) -> Params:
    """NTK3 with the dense mean-over-outputs kernel ``Theta_mean (x) I`` on ``x``.

    The ``(n, n)`` kernel is formed by :func:`ntkbook.empirical_ntk` and eigendecomposed in
    float64; every output column of the residual (``residual`` as in :func:`ntk3_matrix_free`)
    gets the same matrix function. Memory ``n^2``.
    """
    from ntkbook.core.kernel import empirical_ntk

    dtype = params0[0][0].dtype
    x = jnp.asarray(x, dtype)
    n = x.shape[0]
    theta = np.asarray(empirical_ntk(net, params0, x), dtype=np.float64)
    check_finite(theta, "mean-over-outputs NTK")
    lam, vecs = np.linalg.eigh(0.5 * (theta + theta.T))
    r0 = _residual(net, params0, x, y, DEFAULT_BLOCK_ROWS, residual)
    rate = 2.0 * loss_scale / (n if n_samples is None else n_samples)
    gains = ntk3_gain_function(rate, t)(np.clip(lam, 0.0, None))
    coef = vecs @ (gains[:, None] * (vecs.T @ r0))
    step = jacobian_transpose_product(net, params0, x, jnp.asarray(coef, dtype))
    return jax.tree_util.tree_map(lambda p, s: p - s, params0, step)


def accuracy(net: MLP, params: Params, x: jax.Array, labels: np.ndarray,
             block_rows: int = DEFAULT_BLOCK_ROWS) -> float:
    """Fraction of rows whose largest output is the label (labels ``(n,)`` integers)."""
    logits = network_outputs(net, params, jnp.asarray(x, params[0][0].dtype), block_rows)
    return float(np.mean(np.asarray(jnp.argmax(logits, axis=1)) == np.asarray(labels)))
