"""Gradient descent and minibatch SGD on the squared loss, with snapshots and loss history.

The loss is ``L(theta) = (c/N) sum_i ||f(x_i) - y_i||^2`` (``c = loss_scale``: 1 for Berg's MSE,
1/2 for Sarvanau's); a minibatch step descends the same expression over its ``B`` examples, so
that the flow time per step is the learning rate either way
(:func:`ntkbook.dynamics.conventions.sgd_flow_time`). Both run as one compiled scan of
:func:`ntkbook.dynamics.sgd.minibatch_scan` (gradient descent is the batch of all ``N`` rows
every step; SGD uses the ``drop_last`` batch policy with JAX permutations), with parameter
snapshots at chosen steps written inside the scan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from ntkbook.core.mlp import MLP, Params
from ntkbook.dynamics.sgd import REGRESSION, batches, minibatch_scan

__all__ = ["TrainResult", "mse_loss", "train_gd", "train_sgd"]


@dataclass(frozen=True)
class TrainResult:
    """What a training run returns.

    Attributes:
        params: parameters after the last step.
        losses: ``(E,)`` full-batch loss at the steps ``loss_steps``, float64.
        loss_steps: ``(E,)`` number of steps taken when each loss was measured (0 = at init).
        batch_losses: ``(S,)`` loss of the batch each step descended, before that step.
        snapshots: step -> parameters after that many steps.
        learning_rate: the step size.
        loss_scale: ``c`` of the loss.
    """

    params: Params
    losses: np.ndarray
    loss_steps: np.ndarray
    batch_losses: np.ndarray
    snapshots: dict[int, Params] = field(repr=False)
    learning_rate: float
    loss_scale: float

    @property
    def flow_times(self) -> np.ndarray:
        """Gradient-flow time ``eta * k`` of each entry of ``losses``."""
        return self.learning_rate * self.loss_steps.astype(np.float64)


def _targets(net: MLP, x: jax.Array, y) -> jax.Array:
    y = jnp.asarray(y, x.dtype)
    if y.ndim == 1:
        y = y[:, None]
    if y.shape != (x.shape[0], net.n_outputs):
        raise ValueError(f"targets must have shape ({x.shape[0]}, {net.n_outputs}), got {y.shape}")
    return y


def mse_loss(
    net: MLP, params: Params, x: jax.Array, y: jax.Array, loss_scale: float = 1.0
) -> jax.Array:
    """``(c/N) sum_i ||f(x_i) - y_i||^2`` for ``x`` (N, n_0) and ``y`` (N, n_out)."""
    r = net.apply(params, x) - y
    return loss_scale * jnp.sum(r * r) / x.shape[0]


def _slots(snapshot_steps: Sequence[int], steps: int) -> tuple[np.ndarray, list[int]]:
    wanted = sorted({int(s) for s in snapshot_steps})
    if wanted and (wanted[0] < 0 or wanted[-1] > steps):
        raise ValueError(f"snapshot steps must lie in [0, {steps}], got {list(snapshot_steps)}")
    slots = np.full(steps + 1, -1, dtype=np.int32)
    slots[wanted] = np.arange(len(wanted), dtype=np.int32)
    return slots, wanted


def _check_finite_losses(losses: np.ndarray, steps: np.ndarray, lr: float, what: str) -> None:
    bad = ~np.isfinite(losses)
    if np.any(bad):
        first = int(steps[np.argmax(bad)])
        raise FloatingPointError(
            f"{what} diverged: the loss is NaN/Inf at step {first} (learning rate {lr:g}). "
            "Lower the learning rate: gradient descent on (c/N)||f - y||^2 is stable only for "
            "lr < N / (c * lambda_max(NTK)); or compute in float64 "
            "(jax.config.update('jax_enable_x64', True))."
        )


def _result(net, params, x, y, lr, loss_scale, index, snapshot_steps, eval_every, full_batch):
    """Run the scan over ``index`` (S, B) and collect losses and snapshots."""
    steps = index.shape[0]
    slots, wanted = _slots(snapshot_steps, steps)
    run = minibatch_scan(
        net, params, x, y, index, np.ones(index.shape, np.float32), lr, kind=REGRESSION,
        loss_scale=loss_scale, record=True, eval_every=max(steps, 1) if full_batch else eval_every,
        snapshot_slots=slots if wanted else None,
    )  # fmt: skip
    batch_losses = np.asarray(run.batch_losses, dtype=np.float64)
    if full_batch:
        losses = np.append(batch_losses, float(run.evals[-1]))
        loss_steps = np.arange(steps + 1)
    else:
        losses = np.asarray(run.evals, dtype=np.float64)
        loss_steps = np.append(np.arange(0, steps, eval_every), steps)
    what = "gradient descent" if full_batch else "SGD"
    _check_finite_losses(losses, loss_steps, lr, what)
    _check_finite_losses(batch_losses, np.arange(steps), lr, what)
    snapshots = {
        s: jax.tree_util.tree_map(lambda b, i=i: b[i], run.snapshots) for i, s in enumerate(wanted)
    }
    return TrainResult(run.params, losses, loss_steps, batch_losses, snapshots, lr, loss_scale)


def train_gd(
    net: MLP,
    params: Params,
    x: jax.Array,
    y: jax.Array,
    *,
    learning_rate: float,
    steps: int,
    loss_scale: float = 1.0,
    snapshot_steps: Sequence[int] = (),
) -> TrainResult:
    """Full-batch gradient descent ``theta <- theta - eta grad L`` for ``steps`` steps.

    Args:
        net: the network.
        params: initial parameters; their dtype is the run's.
        x: inputs ``(N, n_0)``.
        y: targets ``(N,)`` or ``(N, n_out)``.
        learning_rate: ``eta``.
        steps: number of steps.
        loss_scale: ``c`` in ``(c/N)||f - y||^2``.
        snapshot_steps: step counts (0..steps) after which to keep the parameters.

    Returns:
        A :class:`TrainResult` whose ``losses`` has the loss after every step, ``(steps + 1,)``.

    Raises:
        FloatingPointError: the loss became NaN/Inf (the message names the step and the fix).
    """
    dtype = params[0][0].dtype
    x = jnp.asarray(x, dtype)
    y = _targets(net, x, y)
    index = np.tile(np.arange(x.shape[0], dtype=np.int32), (int(steps), 1))
    return _result(net, params, x, y, learning_rate, loss_scale, index, snapshot_steps, 1, True)


def _sgd_batches(key: jax.Array, n: int, batch_size: int, epochs: int) -> np.ndarray:
    """``(epochs * (n // batch_size), batch_size)`` indices: a fresh JAX permutation every
    epoch (keys ``jax.random.split(key, epochs)``), cut by the ``drop_last`` policy."""
    perms = jax.vmap(lambda k: jax.random.permutation(k, n))(jax.random.split(key, epochs))
    return batches(np.asarray(perms), batch_size, drop_last=True)[0]


def train_sgd(
    net: MLP,
    params: Params,
    x: jax.Array,
    y: jax.Array,
    *,
    learning_rate: float,
    epochs: int,
    batch_size: int,
    key: jax.Array,
    loss_scale: float = 1.0,
    snapshot_steps: Sequence[int] = (),
    eval_every: int | None = None,
) -> TrainResult:
    """Minibatch SGD: every epoch a fresh permutation, cut into ``N // batch_size`` batches.

    The ``N mod batch_size`` examples left over by an epoch's permutation sit that epoch out
    (a different few each epoch), so every step has the same shape.

    Args:
        net: the network.
        params: initial parameters; their dtype is the run's.
        x: inputs ``(N, n_0)``.
        y: targets ``(N,)`` or ``(N, n_out)``.
        learning_rate: ``eta``.
        epochs: passes over the data.
        batch_size: ``B``; 1 is Berg's choice.
        key: PRNG key of the permutations.
        loss_scale: ``c``.
        snapshot_steps: step counts after which to keep the parameters.
        eval_every: steps between full-batch loss evaluations; default one epoch.

    Returns:
        A :class:`TrainResult`; ``losses`` at steps ``0, eval_every, ...`` and the last step.

    Raises:
        FloatingPointError: the loss became NaN/Inf (the message names the step and the fix).
    """
    dtype = params[0][0].dtype
    x = jnp.asarray(x, dtype)
    y = _targets(net, x, y)
    if not 1 <= batch_size <= x.shape[0]:
        raise ValueError(f"batch_size must be in 1..{x.shape[0]}, got {batch_size}")
    index = _sgd_batches(key, x.shape[0], batch_size, int(epochs))
    every = x.shape[0] // batch_size if eval_every is None else int(eval_every)
    if every < 1:
        raise ValueError(f"eval_every must be >= 1, got {eval_every}")
    return _result(net, params, x, y, learning_rate, loss_scale, index, snapshot_steps, every,
                   False)
