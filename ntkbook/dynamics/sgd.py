"""Minibatch SGD as one compiled ``lax.scan`` per epoch, on the cross-entropy or squared loss.

Every epoch is a fresh permutation of the training set cut into ``ceil(N / B)`` batches, the last
one shorter (padded and masked, so each step descends the mean loss of its real examples).
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ntkbook.core.mlp import MLP, Params

CLASSIFICATION, REGRESSION = "classification", "regression"


def example_losses(kind: str, out: jax.Array, y: jax.Array) -> jax.Array:
    """Per-example loss: cross-entropy of the logits, or the squared error of one output."""
    if kind == CLASSIFICATION:
        logp = jax.nn.log_softmax(out, axis=-1)
        return -jnp.take_along_axis(logp, y[:, None].astype(jnp.int32), axis=1)[:, 0]
    return jnp.sum((out - y.reshape(out.shape[0], -1)) ** 2, axis=1)


def epoch_batches(n: int, batch_size: int, rng: np.random.Generator):
    """One epoch's batches: a fresh permutation cut into ``ceil(n / batch_size)`` batches.

    Returns:
        ``(index, mask)``, both ``(ceil(n / B), B)``: ``index`` int32 rows of the training set
        (padding rows point at row 0), ``mask`` float32, 1 for real examples and 0 for padding.
    """
    if not 1 <= batch_size <= n:
        raise ValueError(f"batch_size must be in 1..{n}, got {batch_size}")
    n_batches = math.ceil(n / batch_size)
    perm = rng.permutation(n).astype(np.int32)
    index = np.zeros(n_batches * batch_size, np.int32)
    mask = np.zeros(n_batches * batch_size, np.float32)
    index[:n], mask[:n] = perm, 1.0
    return index.reshape(n_batches, batch_size), mask.reshape(n_batches, batch_size)


@partial(jax.jit, static_argnames=("net", "kind"))
def _sgd_scan(net: MLP, kind: str, params: Params, x, y, index, mask, learning_rate):
    def batch_loss(p, xb, yb, mb):
        return jnp.sum(example_losses(kind, net.apply(p, xb), yb) * mb) / jnp.sum(mb)

    grad = jax.grad(batch_loss)

    def step(p, batch):
        i, m = batch
        g = grad(p, x[i], y[i], m)
        return jax.tree_util.tree_map(lambda a, b: a - learning_rate * b, p, g), None

    return jax.lax.scan(step, params, (index, mask))[0]


def sgd_epoch(net: MLP, params: Params, x, y, index, mask, learning_rate: float,
              kind: str) -> Params:
    """SGD over the batches ``(index, mask)`` (:func:`epoch_batches`), one jitted ``lax.scan``.

    Each step is ``theta <- theta - eta grad (mean loss of the batch's real examples)``.

    Args:
        net: the network. params: parameters (their dtype is the run's).
        x: ``(N, d)`` training inputs (a device array, to avoid copies).
        y: ``(N,)`` labels (classification) or targets (regression).
        index, mask: ``(steps, B)``.
        learning_rate: ``eta``.
        kind: ``"classification"`` (cross-entropy) or ``"regression"`` (squared error).
    """
    return _sgd_scan(net, kind, params, x, y, jnp.asarray(index), jnp.asarray(mask),
                     learning_rate)


def sgd_steps(net: MLP, params: Params, x, y, n_steps: int, batch_size: int,
              learning_rate: float, kind: str, rng: np.random.Generator) -> Params:
    """``n_steps`` SGD steps, epoch after epoch (reshuffled), as one scan."""
    n = int(x.shape[0])
    index, mask = [], []
    while sum(len(i) for i in index) < n_steps:
        i, m = epoch_batches(n, batch_size, rng)
        index.append(i)
        mask.append(m)
    index = np.concatenate(index)[:n_steps]
    mask = np.concatenate(mask)[:n_steps]
    return sgd_epoch(net, params, x, y, index, mask, learning_rate, kind)
