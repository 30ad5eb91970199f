"""The empirical NTK of an MLP from its layer structure, without a Jacobian.

For a dense layer ``h_l = s_l a_{l-1} W_l + b_l`` the gradient of output ``o`` with respect to
``W_l`` is the outer product ``s_l a_{l-1}^T g_l^o`` of the layer input and the back-propagated
output gradient ``g_l^o = df_o/dh_l``; with respect to ``b_l`` it is ``g_l^o``. Summing the
products of these gradients over all parameters gives

    Theta_{oo'}(x, x') = sum_l (s_l^2 <a_{l-1}(x), a_{l-1}(x')> + 1) <g_l^o(x), g_l^o'(x')>,

a sum over layers of Hadamard products of two small Gram matrices. Its cost is one forward
pass, one backward pass per output and two ``n x width`` Gram products per layer, where the
explicit Jacobian would need ``n x n_params`` memory.

The last layer's back-propagated gradient is the identity (``g_D^o = e_o``), and the one before
it is ``s_D W_D[:, o] * phi'(h_{D-1})``, so for the mean-over-outputs kernel the sum over outputs
of that layer collapses to one weighted Gram product.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ntkbook.core.mlp import MLP, Params

DEFAULT_BLOCK_ROWS = 512


def _forward_backward(net: MLP, params: Params, x: jax.Array, scales):
    """Layer inputs ``a_{l-1}`` and back-propagated output gradients of one batch.

    ``scales[l]`` multiplies ``a @ W`` in layer ``l``.

    Returns:
        inputs: list of ``D`` arrays, ``inputs[l]`` of shape ``(n, n_l)`` (``inputs[0] = x``).
        slopes: list of ``D - 1`` arrays ``phi'(h_l)`` of shape ``(n, n_l)``, hidden layers.
        grads: list of ``D - 1`` arrays ``g_l`` of shape ``(n, n_out, n_l)``, hidden layers.
    """
    inputs, slopes = [x], []
    a = x
    for layer in range(net.depth - 1):
        w, b = params[layer]
        h = (a @ w) * scales[layer] + b
        # phi'(h) elementwise: a JVP with a tangent of ones, exact for any activation.
        a, slope = jax.jvp(net.phi, (h,), (jnp.ones_like(h),))
        inputs.append(a)
        slopes.append(slope)
    grads = []
    if net.depth > 1:
        w_out = params[-1][0]
        g = scales[-1] * w_out.T[None, :, :] * slopes[-1][:, None, :]
        grads.append(g)
        for layer in range(net.depth - 2, 0, -1):
            w = params[layer][0]
            g = jnp.einsum("noj,ij->noi", g, w) * scales[layer] * slopes[layer - 1][:, None, :]
            grads.append(g)
        grads.reverse()
    return inputs, slopes, grads


def _input_gram(scale, a1: jax.Array, a2: jax.Array) -> jax.Array:
    """``s_l^2 a1 a2^T + 1``: the factor that the weights and bias of a layer contribute."""
    return (scale * scale) * (a1 @ a2.T) + 1.0


@partial(jax.jit, static_argnames=("net",))
def _features(net: MLP, params: Params, x: jax.Array):
    """Everything the Gram products need from one block of rows (see :func:`_forward_backward`)."""
    return _forward_backward(net, params, x, net.weight_scales())


def _mean_gram(net: MLP, params: Params, f1, f2, scales) -> jax.Array:
    """Mean-over-outputs kernel between two blocks of features, shape ``(n1, n2)``."""
    (in1, sl1, g1), (in2, sl2, g2) = f1, f2
    n_out, depth = net.n_outputs, net.depth
    # The output layer: g_D^o = e_o, so its mean over outputs is the input factor alone.
    theta = _input_gram(scales[-1], in1[-1], in2[-1])
    if depth > 1:
        # Last hidden layer: sum_o g^o g'^o = s_D^2 (phi' * ||W_D row||^2) phi'^T.
        w_out = params[-1][0]
        row_norms = jnp.sum(w_out * w_out, axis=1) * (scales[-1] ** 2 / n_out)
        g_gram = (sl1[-1] * row_norms) @ sl2[-1].T
        theta = theta + _input_gram(scales[-2], in1[-2], in2[-2]) * g_gram
    for layer in range(depth - 2):
        n1, n2 = in1[0].shape[0], in2[0].shape[0]
        g_gram = g1[layer].reshape(n1, -1) @ g2[layer].reshape(n2, -1).T / n_out
        theta = theta + _input_gram(scales[layer], in1[layer], in2[layer]) * g_gram
    return theta


def _full_gram(net: MLP, params: Params, f1, f2, scales) -> jax.Array:
    """Kernel for every output pair between two blocks of features, ``(n1, n2, out, out)``."""
    (in1, _, g1), (in2, _, g2) = f1, f2
    depth = net.depth
    eye = jnp.eye(net.n_outputs, dtype=in1[0].dtype)
    theta = _input_gram(scales[-1], in1[-1], in2[-1])[:, :, None, None] * eye
    for layer in range(depth - 1):
        g_gram = jnp.einsum("aoi,bpi->abop", g1[layer], g2[layer])
        inputs = _input_gram(scales[layer], in1[layer], in2[layer])
        theta = theta + inputs[:, :, None, None] * g_gram
    return theta


@partial(jax.jit, static_argnames=("net", "full"))
def _gram(net: MLP, params: Params, f1, f2, full: bool) -> jax.Array:
    gram = _full_gram if full else _mean_gram
    return gram(net, params, f1, f2, net.weight_scales())


@partial(jax.jit, static_argnames=("net", "full"))
def _kernel_one_block(net: MLP, params: Params, x1, x2, full: bool) -> jax.Array:
    scales = net.weight_scales()
    f1 = _forward_backward(net, params, x1, scales)
    f2 = f1 if x2 is None else _forward_backward(net, params, x2, scales)
    return (_full_gram if full else _mean_gram)(net, params, f1, f2, scales)


@partial(jax.jit, static_argnames=("net",))
def masked_ntk(net: MLP, params: Params, x: jax.Array, scales: jax.Array, mask: jax.Array):
    """Kernel ``(n, n)`` of a narrower network embedded in a wide single-output ``net``.

    ``net`` has equal hidden widths ``m`` and one output; ``mask`` (m,) is 1 for the hidden units
    that exist and 0 for the others, and ``scales`` (depth,) holds the narrower network's
    per-layer factors. Masked units have zero activation and slope, so they add nothing to the
    kernel, whatever their weights. Width, mask and scales are traced values and the hidden
    layers run in one ``lax.scan``, so one small compiled program serves every width of a given
    depth: a sweep compiles once per (activation, depth), not once per grid cell.
    """
    if net.n_outputs != 1 or len(set(net.sizes[1:-1])) > 1:
        raise ValueError("masked_ntk needs one output and equal hidden widths")

    def activate(h):
        a, slope = jax.jvp(net.phi, (h,), (jnp.ones_like(h),))
        return a * mask, slope * mask

    if net.depth == 1:
        return _input_gram(scales[0], x, x)
    (w0, b0), (w_out, _) = params[0], params[-1]
    a, slope = activate((x @ w0) * scales[0] + b0)
    hidden = params[1:-1]
    if hidden:
        stacked = (jnp.stack([w for w, _ in hidden]), jnp.stack([b for _, b in hidden]),
                   scales[1:-1])

        def forward(carry, layer):
            w, b, s = layer
            a_in, slope_in = carry
            return activate((a_in @ w) * s + b), carry  # emit this layer's input and its slope

        (a, slope), (a_ins, slopes_in) = jax.lax.scan(forward, (a, slope), stacked)
    theta = _input_gram(scales[-1], a, a)
    g = scales[-1] * w_out[:, 0] * slope  # df/dh of the last hidden layer, (n, m)
    if hidden:

        def backward(carry, layer):
            g, theta = carry
            w, s, a_in, slope_in = layer
            theta = theta + _input_gram(s, a_in, a_in) * (g @ g.T)
            return ((g @ w.T) * s * slope_in, theta), None

        layers = (stacked[0], stacked[2], a_ins, slopes_in)
        (g, theta), _ = jax.lax.scan(backward, (g, theta), layers, reverse=True)
    return theta + _input_gram(scales[0], x, x) * (g @ g.T)


def _pad_rows(x: jax.Array, rows: int) -> jax.Array:
    if x.shape[0] == rows:
        return x
    return jnp.concatenate([x, jnp.zeros((rows - x.shape[0],) + x.shape[1:], x.dtype)])


def empirical_ntk(
    net: MLP,
    params: Params,
    x1: jax.Array,
    x2: jax.Array | None = None,
    *,
    full: bool = False,
    block_rows: int = DEFAULT_BLOCK_ROWS,
) -> jax.Array:
    """The empirical NTK ``J(x1) J(x2)^T`` of ``net`` at ``params``, from the layer structure.

    Args:
        net: the network.
        params: its parameters, as returned by :meth:`MLP.init`; their dtype sets the kernel's.
        x1: inputs, shape ``(n1, n_0)``.
        x2: inputs, shape ``(n2, n_0)``; ``None`` means ``x1`` (and a symmetric result).
        full: if True return every output pair, shape ``(n1, n2, n_out, n_out)``; otherwise the
            mean over the output diagonal, shape ``(n1, n2)``, which is exact for one output and
            what the infinite-width limit makes exact for several.
        block_rows: rows of ``x1`` and ``x2`` handled at once, to bound memory. Inputs are padded
            to a whole number of blocks, so repeated calls with the same shapes reuse one
            compiled program.

    Returns:
        The kernel, shape ``(n1, n2)`` or ``(n1, n2, n_out, n_out)``.
    """
    dtype = params[0][0].dtype
    x1 = jnp.asarray(x1, dtype)
    symmetric = x2 is None
    x2 = x1 if symmetric else jnp.asarray(x2, dtype)
    if x1.ndim != 2 or x2.ndim != 2 or x1.shape[1] != net.sizes[0] or x2.shape[1] != net.sizes[0]:
        raise ValueError(
            f"inputs must have shape (n, {net.sizes[0]}); got {x1.shape} and {x2.shape}"
        )
    n1, n2 = x1.shape[0], x2.shape[0]
    rows = max(1, min(block_rows, max(n1, n2)))
    if n1 <= rows and n2 <= rows:
        return _kernel_one_block(net, params, x1, None if symmetric else x2, full)
    b1, b2 = math.ceil(n1 / rows), math.ceil(n2 / rows)
    x1p = _pad_rows(x1, b1 * rows).reshape(b1, rows, -1)
    feats1 = [_features(net, params, x1p[i]) for i in range(b1)]
    if symmetric:
        feats2 = feats1
    else:
        x2p = _pad_rows(x2, b2 * rows).reshape(b2, rows, -1)
        feats2 = [_features(net, params, x2p[j]) for j in range(b2)]
    blocks: dict[tuple[int, int], jax.Array] = {}
    for i in range(b1):
        for j in range(b2):
            if symmetric and j < i:
                # Theta is symmetric: a lower block is the transpose of an upper one.
                upper = jnp.swapaxes(blocks[(j, i)], 0, 1)
                blocks[(i, j)] = jnp.swapaxes(upper, 2, 3) if full else upper
            else:
                blocks[(i, j)] = _gram(net, params, feats1[i], feats2[j], full)
    theta = jnp.concatenate(
        [jnp.concatenate([blocks[(i, j)] for j in range(b2)], axis=1) for i in range(b1)], axis=0
    )
    return theta[:n1, :n2]


def check_finite(theta: jax.Array | np.ndarray, what: str = "NTK") -> None:
    """Raise ``FloatingPointError`` naming ``what`` if ``theta`` holds NaN or Inf."""
    values = np.asarray(theta)
    if not np.all(np.isfinite(values)):
        bad = int(np.size(values) - np.count_nonzero(np.isfinite(values)))
        raise FloatingPointError(
            f"{what} has {bad} NaN/Inf entries: the network overflowed in {values.dtype}. "
            "Use float64 (jax.config.update('jax_enable_x64', True)) or smaller inputs."
        )


def flat_ntk(net: MLP, params: Params, x: jax.Array) -> np.ndarray:
    """The empirical NTK for the flattened outputs, ``(M, M)`` float64 with ``M = n * n_out``.

    Rows are ordered ``(sample, output)`` like ``f.reshape(-1)``: the ``(n, n, n_out, n_out)``
    kernel of :func:`empirical_ntk` ``(full=True)`` transposed to ``(n, n_out, n, n_out)`` and
    reshaped. For one output this is :func:`empirical_ntk`.

    Args:
        net: the network. params: the point of the kernel.
        x: inputs ``(n, n_0)``.

    Raises:
        FloatingPointError: the kernel holds NaN/Inf.
    """
    theta = empirical_ntk(net, params, x, full=net.n_outputs > 1)
    if net.n_outputs > 1:
        n, n_out = theta.shape[0], net.n_outputs
        theta = jnp.transpose(theta, (0, 2, 1, 3)).reshape(n * n_out, n * n_out)
    theta = np.asarray(theta, dtype=np.float64)
    check_finite(theta, "NTK")
    return theta
