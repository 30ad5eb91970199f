"""Network-level products: outputs, ``J^T v`` and ``J u`` without forming the Jacobian.

``J`` is the Jacobian of the flattened outputs ``f(params; x)`` (``n * n_out`` rows, ordered
``(sample, output)`` like ``f.reshape(-1)``) with respect to the parameters. ``J^T v`` is one
reverse-mode pass (:func:`vjp`), ``J u`` one forward-mode pass (:func:`jvp`); both are compiled
once per network and block shape. The streamed versions cut the rows of ``x`` into blocks of
``block_rows`` (the last zero-padded, so that every block has one compiled shape) and sum or
concatenate the blocks: memory ``O(block_rows * width + n_params)`` for any ``n``. The NTK itself
is then only ever applied to a vector, ``Theta v = J (J^T v)`` (:func:`ntk_matvec`).

Every function runs in the dtype of ``params``; :func:`outputs` returns float64 NumPy.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ntkbook.core.mlp import MLP, Params

DEFAULT_BLOCK_ROWS = 4096


@partial(jax.jit, static_argnames=("net",))
def apply(net: MLP, params: Params, x: jax.Array) -> jax.Array:
    """``net.apply(params, x)``, compiled once per network and shape: ``(n, n_out)``."""
    return net.apply(params, x)


@partial(jax.jit, static_argnames=("net",))
def vjp(net: MLP, params: Params, x: jax.Array, v: jax.Array) -> Params:
    """``J(params; x)^T v`` for ``v`` of shape ``(n, n_out)``: a parameter pytree like
    ``params`` (one reverse-mode pass)."""
    _, pullback = jax.vjp(lambda p: net.apply(p, x), params)
    return pullback(v)[0]


@partial(jax.jit, static_argnames=("net",))
def jvp(net: MLP, params: Params, x: jax.Array, tangent: Params) -> jax.Array:
    """``J(params; x) u`` for a tangent pytree ``u`` like ``params``: ``(n, n_out)`` (one
    forward-mode pass)."""
    return jax.jvp(lambda p: net.apply(p, x), (params,), (tangent,))[1]


def as_outputs(net: MLP, v, n: int, dtype) -> jax.Array:
    """An output-space vector of ``n * n_out`` entries (``(n,)``, ``(n, n_out)`` or flat) as
    ``(n, n_out)`` in ``dtype``.

    Raises:
        ValueError: ``v`` has the wrong number of entries.
    """
    v = jnp.asarray(v, dtype)
    if v.size != n * net.n_outputs:
        raise ValueError(f"expected {n * net.n_outputs} output entries, got shape {v.shape}")
    return v.reshape(n, net.n_outputs)


def outputs(net: MLP, params: Params, x) -> np.ndarray:
    """``f(params; x)`` as float64 NumPy, ``(n, n_out)`` (one compiled forward pass)."""
    dtype = params[0][0].dtype
    return np.asarray(jax.block_until_ready(apply(net, params, jnp.asarray(x, dtype))),
                      np.float64)


def _padded_blocks(x: jax.Array, rows: int):
    """``(start, stop, block)`` for row blocks of ``x``, the last zero-padded to ``rows``."""
    out = []
    for start in range(0, x.shape[0], rows):
        stop = min(start + rows, x.shape[0])
        block = x[start:stop]
        if stop - start < rows:
            pad = jnp.zeros((rows - (stop - start),) + x.shape[1:], x.dtype)
            block = jnp.concatenate([block, pad])
        out.append((start, stop, block))
    return out


def network_outputs(net: MLP, params: Params, x: jax.Array,
                    block_rows: int = DEFAULT_BLOCK_ROWS) -> jax.Array:
    """``net.apply(params, x)`` streamed over row blocks, ``(n, n_out)`` in the params' dtype."""
    rows = min(block_rows, x.shape[0])
    return jnp.concatenate([apply(net, params, xb)[: stop - start]
                            for start, stop, xb in _padded_blocks(x, rows)])


def jacobian_transpose_product(net: MLP, params: Params, x: jax.Array, v,
                               block_rows: int = DEFAULT_BLOCK_ROWS) -> Params:
    """``J^T v``, streamed over row blocks: ``sum_blocks J_b^T v_b``.

    Args:
        net: the network. params: the point of the Jacobian; their dtype is the computation's.
        x: inputs ``(n, n_0)``.
        v: output-space vector, ``n * n_out`` entries (``(n,)``, ``(n, n_out)`` or flat).
        block_rows: rows per VJP; one block (no padding) when ``n <= block_rows``.

    Returns:
        A parameter pytree like ``params``.
    """
    dtype = params[0][0].dtype
    x = jnp.asarray(x, dtype)
    v = as_outputs(net, v, x.shape[0], dtype)
    rows = min(block_rows, x.shape[0])
    total = None
    for start, stop, xb in _padded_blocks(x, rows):
        vb = jnp.zeros((rows, net.n_outputs), v.dtype).at[: stop - start].set(v[start:stop])
        part = vjp(net, params, xb, vb)
        total = part if total is None else jax.tree_util.tree_map(jnp.add, total, part)
    return total


def jacobian_product(net: MLP, params: Params, x: jax.Array, tangent: Params,
                     block_rows: int = DEFAULT_BLOCK_ROWS) -> jax.Array:
    """``J u`` for a parameter-space tangent ``u``, streamed over row blocks: ``(n, n_out)``."""
    rows = min(block_rows, x.shape[0])
    parts = [jvp(net, params, xb, tangent)[: stop - start]
             for start, stop, xb in _padded_blocks(x, rows)]
    return jnp.concatenate(parts)


def ntk_matvec(net: MLP, params: Params, x: jax.Array, v: jax.Array,
               block_rows: int = DEFAULT_BLOCK_ROWS) -> jax.Array:
    """``Theta v = J (J^T v)`` for ``v`` of shape ``(n, n_out)``: the full kernel over every
    output pair, never formed. Returns ``(n, n_out)``."""
    tangent = jacobian_transpose_product(net, params, x, v, block_rows)
    return jacobian_product(net, params, x, tangent, block_rows)
