"""Brute-force references: the explicit Jacobian, for tests and benchmarks only.

These materialise ``J`` of shape ``(n * n_out, n_params)``; never use them on a hot path.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from ntkbook.core.mlp import MLP, Params


def jacobian(net: MLP, params: Params, x: jax.Array) -> jax.Array:
    """Explicit Jacobian of the outputs, shape ``(n, n_out, n_params)``, via ``jacrev``."""
    flat, unravel = ravel_pytree(params)
    return jax.jacrev(lambda p: net.apply(unravel(p), x))(flat)


def jacobian_ntk(
    net: MLP, params: Params, x1: jax.Array, x2: jax.Array | None = None, *, full: bool = False
) -> jax.Array:
    """``J1 J2^T`` from explicit Jacobians: ``(n1, n2, out, out)`` if ``full``, else the mean
    over the output diagonal, ``(n1, n2)``."""
    dtype = params[0][0].dtype
    x1 = jnp.asarray(x1, dtype)
    j1 = jacobian(net, params, x1)
    j2 = j1 if x2 is None else jacobian(net, params, jnp.asarray(x2, dtype))
    theta = jnp.einsum("aop,bqp->aboq", j1, j2)
    if full:
        return theta
    return jnp.trace(theta, axis1=2, axis2=3) / net.n_outputs


def jacobian_lambda_min(net: MLP, params: Params, x: jax.Array, block_rows: int = 50) -> float:
    """``lambda_min(J J^T)`` as ``sigma_min(J)^2`` from an SVD of the explicit Jacobian.

    An eigensolver applied to the kernel resolves eigenvalues only down to about
    ``n eps ||Theta||``; the SVD of ``J`` resolves ``sigma_min`` to about ``eps sigma_max``, so
    ``lambda_min`` to about ``eps^2 ||Theta||``. A check for tiny eigenvalues, not a hot path:
    ``J`` has ``n * n_params`` entries. Single-output networks only.
    """
    if net.n_outputs != 1:
        raise ValueError("jacobian_lambda_min needs a single-output network")
    dtype = params[0][0].dtype
    x = jnp.asarray(x, dtype)
    rows = [jacobian(net, params, x[i : i + block_rows])[:, 0, :]
            for i in range(0, x.shape[0], block_rows)]
    jac = np.asarray(jnp.concatenate(rows), dtype=np.float64)
    # The SVD of J^T's R factor has J's singular values at a cost linear in n_params.
    r = np.linalg.qr(jac.T, mode="r")
    sigma = np.linalg.svd(r, compute_uv=False)
    return float(sigma[-1] ** 2)
