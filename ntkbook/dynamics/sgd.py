"""Minibatch SGD, the one implementation: batches as ``(index, mask)`` and one compiled scan.

An epoch is a permutation of the ``N`` training rows cut into batches of ``B`` (:func:`batches`),
with an explicit policy for the ``N mod B`` rows left over:

* ``drop_last=False`` (the hybrid experiment): ``ceil(N / B)`` batches, the last one padded with
  rows whose mask is 0, so every example is used once per epoch;
* ``drop_last=True`` (Berg's verification, :func:`ntkbook.dynamics.train.train_sgd`):
  ``floor(N / B)`` full batches, the left-over rows sit the epoch out.

Every step descends the mean loss of its batch's real examples,

    theta <- theta - eta grad [ c * sum_i m_i l_i(theta) / sum_i m_i ],

with the per-example loss ``l_i`` of :func:`example_losses` (cross-entropy of the logits, or the
squared error ``||f(x_i) - y_i||^2``) and the loss scale ``c``. :func:`minibatch_scan` runs any
number of such steps as one ``lax.scan``, optionally recording the loss of every batch, the
full-batch loss every ``eval_every`` steps and parameter snapshots at chosen steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ntkbook.core.mlp import MLP, Params
from ntkbook.dynamics.conventions import steps_per_epoch

CLASSIFICATION, REGRESSION = "classification", "regression"


def example_losses(kind: str, out: jax.Array, y: jax.Array) -> jax.Array:
    """Per-example loss ``(B,)``: cross-entropy of the logits ``out`` ``(B, n_out)`` against
    integer labels ``y`` ``(B,)`` (``"classification"``), or the squared error
    ``||out_i - y_i||^2`` against targets of ``B * n_out`` entries (``"regression"``)."""
    if kind == CLASSIFICATION:
        logp = jax.nn.log_softmax(out, axis=-1)
        return -jnp.take_along_axis(logp, y[:, None].astype(jnp.int32), axis=1)[:, 0]
    return jnp.sum((out - y.reshape(out.shape[0], -1)) ** 2, axis=1)


def batches(permutations: np.ndarray, batch_size: int, *, drop_last: bool):
    """Cut each row of ``permutations`` ``(E, N)`` into batches: the one batching function.

    Args:
        permutations: ``(E, N)`` integer row orders, one per epoch.
        batch_size: ``B``, ``1 <= B <= N``.
        drop_last: ``True``: ``floor(N / B)`` full batches per epoch; ``False``: ``ceil(N / B)``,
            the last padded (padding rows point at row 0 and have mask 0).

    Returns:
        ``(index, mask)``, both ``(E * n_batches, B)``: ``index`` int32 rows, ``mask`` float32
        (1 for real examples, 0 for padding), epochs one after the other.
    """
    perms = np.asarray(permutations, np.int32)
    if perms.ndim == 1:
        perms = perms[None]
    n_epochs, n = perms.shape
    if not 1 <= batch_size <= n:
        raise ValueError(f"batch_size must be in 1..{n}, got {batch_size}")
    per_epoch = steps_per_epoch(n, batch_size, drop_last=drop_last)
    used = min(n, per_epoch * batch_size)
    index = np.zeros((n_epochs, per_epoch * batch_size), np.int32)
    mask = np.zeros((n_epochs, per_epoch * batch_size), np.float32)
    index[:, :used], mask[:, :used] = perms[:, :used], 1.0
    shape = (n_epochs * per_epoch, batch_size)
    return index.reshape(shape), mask.reshape(shape)


def epoch_batches(n: int, batch_size: int, rng: np.random.Generator, drop_last: bool = False):
    """One epoch's batches from a NumPy permutation (:func:`batches`), ``ceil(n / B)`` of them
    unless ``drop_last``. Returns ``(index, mask)``, both ``(n_batches, B)``."""
    if not 1 <= batch_size <= n:
        raise ValueError(f"batch_size must be in 1..{n}, got {batch_size}")
    return batches(rng.permutation(n), batch_size, drop_last=drop_last)


@dataclass(frozen=True)
class ScanResult:
    """What :func:`minibatch_scan` returns.

    Attributes:
        params: parameters after the last step.
        batch_losses: ``(S,)`` loss of the batch each step descended, before that step
            (``None`` unless recorded).
        evals: ``(ceil(S / eval_every) + 1,)`` full-batch losses at steps
            ``0, eval_every, ...`` and after the last step (``None`` unless ``eval_every``).
        snapshots: pytree of ``(n_snapshots, ...)`` stacked parameters (``None`` if none).
    """

    params: Params
    batch_losses: jax.Array | None
    evals: jax.Array | None
    snapshots: Params | None


def _write(buffer: Params, slot: jax.Array, params: Params) -> Params:
    """``buffer[slot] = params`` where ``slot >= 0``; unchanged otherwise."""
    return jax.lax.cond(
        slot >= 0,
        lambda b: jax.tree_util.tree_map(lambda s, p: s.at[slot].set(p), b, params),
        lambda b: b,
        buffer,
    )


@partial(jax.jit, static_argnames=("net", "kind", "record", "eval_every", "n_snap"))
def _scan(net, kind, params, x, y, index, mask, learning_rate, loss_scale, slots,
          record, eval_every, n_snap):
    def batch_loss(p, xb, yb, mb):
        losses = example_losses(kind, net.apply(p, xb), yb)
        return loss_scale * (jnp.sum(losses * mb) / jnp.sum(mb))

    def full_loss(p):
        return loss_scale * jnp.sum(example_losses(kind, net.apply(p, x), y)) / x.shape[0]

    grad = jax.value_and_grad(batch_loss) if record else jax.grad(batch_loss)
    steps = index.shape[0]
    snaps = jax.tree_util.tree_map(lambda p: jnp.zeros((n_snap,) + p.shape, p.dtype), params)
    evals = jnp.zeros((-(-steps // eval_every) + 1 if eval_every else 0,), x.dtype)

    def step(carry, inputs):
        p, snaps, evals = carry
        k, i, m = inputs
        if n_snap:
            snaps = _write(snaps, slots[k], p)
        if eval_every:
            evals = jax.lax.cond(k % eval_every == 0,
                                 lambda e: e.at[k // eval_every].set(full_loss(p)),
                                 lambda e: e, evals)
        if record:
            loss, g = grad(p, x[i], y[i], m)
        else:
            loss, g = None, grad(p, x[i], y[i], m)
        p = jax.tree_util.tree_map(lambda a, b: a - learning_rate * b, p, g)
        return (p, snaps, evals), loss

    (params, snaps, evals), losses = jax.lax.scan(
        step, (params, snaps, evals), (jnp.arange(steps), index, mask))
    if n_snap:
        snaps = _write(snaps, slots[steps], params)
    if eval_every:
        evals = evals.at[-1].set(full_loss(params))
    return params, losses, evals, snaps


def minibatch_scan(
    net: MLP,
    params: Params,
    x: jax.Array,
    y: jax.Array,
    index,
    mask,
    learning_rate: float,
    *,
    kind: str,
    loss_scale: float = 1.0,
    record: bool = False,
    eval_every: int = 0,
    snapshot_slots=None,
) -> ScanResult:
    """SGD over the batches ``(index, mask)`` (:func:`batches`), one jitted ``lax.scan``.

    Each step is ``theta <- theta - eta grad (c * mean loss of the batch's real examples)``.

    Args:
        net: the network. params: parameters (their dtype is the run's).
        x: ``(N, n_0)`` training inputs (a device array, to avoid copies).
        y: ``(N,)`` labels (classification) or ``(N,)``/``(N, n_out)`` targets (regression).
        index, mask: ``(S, B)`` batches.
        learning_rate: ``eta``.
        kind: ``"classification"`` (cross-entropy) or ``"regression"`` (squared error).
        loss_scale: ``c``.
        record: also return every batch's loss before its step.
        eval_every: record the full-batch loss ``c/N sum_i l_i`` every this many steps and after
            the last (0: never).
        snapshot_slots: ``(S + 1,)`` int32, ``slots[k] >= 0`` keeps the parameters after ``k``
            steps in that slot (``None``: no snapshots).

    Returns:
        A :class:`ScanResult`.
    """
    if snapshot_slots is None:
        slots, n_snap = jnp.full((1,), -1, jnp.int32), 0
    else:
        slots = jnp.asarray(snapshot_slots, jnp.int32)
        n_snap = int(np.max(np.asarray(snapshot_slots), initial=-1)) + 1
    out, losses, evals, snaps = _scan(
        net, kind, params, x, y, jnp.asarray(index), jnp.asarray(mask), learning_rate,
        loss_scale, slots, bool(record), int(eval_every), n_snap)
    return ScanResult(out, losses if record else None, evals if eval_every else None,
                      snaps if n_snap else None)


def sgd_epoch(net: MLP, params: Params, x, y, index, mask, learning_rate: float,
              kind: str) -> Params:
    """SGD over the batches ``(index, mask)`` (:func:`epoch_batches`): :func:`minibatch_scan`
    with ``c = 1``, returning the parameters.

    Args:
        net: the network. params: parameters (their dtype is the run's).
        x: ``(N, d)`` training inputs (a device array, to avoid copies).
        y: ``(N,)`` labels (classification) or targets (regression).
        index, mask: ``(steps, B)``.
        learning_rate: ``eta``.
        kind: ``"classification"`` (cross-entropy) or ``"regression"`` (squared error).
    """
    return minibatch_scan(net, params, x, y, index, mask, learning_rate, kind=kind).params


def sgd_steps(net: MLP, params: Params, x, y, n_steps: int, batch_size: int,
              learning_rate: float, kind: str, rng: np.random.Generator) -> Params:
    """``n_steps`` SGD steps, epoch after epoch (reshuffled, ``ceil`` policy), as one scan."""
    n = int(x.shape[0])
    index, mask = [], []
    while sum(len(i) for i in index) < n_steps:
        i, m = epoch_batches(n, batch_size, rng)
        index.append(i)
        mask.append(m)
    index = np.concatenate(index)[:n_steps]
    mask = np.concatenate(mask)[:n_steps]
    return sgd_epoch(net, params, x, y, index, mask, learning_rate, kind)
