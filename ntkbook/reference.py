"""Brute-force references: the explicit Jacobian, for tests and benchmarks only.

These materialise ``J`` of shape ``(n * n_out, n_params)``; never use them on a hot path.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from ntkbook.mlp import MLP, Params


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
