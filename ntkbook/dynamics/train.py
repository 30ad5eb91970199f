"""Gradient descent and minibatch SGD on the squared loss, one compiled ``lax.scan`` per run.

The loss is ``L(theta) = (c/N) sum_i ||f(x_i) - y_i||^2`` (``c = loss_scale``: 1 for Berg's MSE,
1/2 for Sarvanau's); a minibatch step descends the same expression over its ``B`` examples, so
that the flow time per step is the learning rate either way (:func:`ntkbook.flow.sgd_flow_time`).

Parameter snapshots at chosen steps are written into a buffer inside the scan, so the NTK can be
compared before and after training (:func:`ntk_drift`) without a Python loop over steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ntkbook.core.kernel import empirical_ntk
from ntkbook.core.mlp import MLP, Params

__all__ = [
    "DriftRun",
    "TrainResult",
    "drift_sweep",
    "kernel_drift",
    "mse_loss",
    "ntk_drift",
    "train_gd",
    "train_sgd",
]


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


def _write(buffer: Params, slot: jax.Array, params: Params) -> Params:
    """``buffer[slot] = params`` where ``slot >= 0``; unchanged otherwise."""
    return jax.lax.cond(
        slot >= 0,
        lambda b: jax.tree_util.tree_map(lambda s, p: s.at[slot].set(p), b, params),
        lambda b: b,
        buffer,
    )


@partial(jax.jit, static_argnames=("net", "eval_every", "n_snap", "full_batch"))
def _run(net, params, x, y, lr, loss_scale, batches, slots, eval_every, n_snap, full_batch):
    """The scan. ``batches`` (S, B) indexes ``x``; ``slots`` (S + 1,) maps step -> snapshot slot."""
    steps = batches.shape[0]
    n_evals = -(-steps // eval_every) + 1
    loss_fn = partial(mse_loss, net)
    grad_fn = jax.value_and_grad(loss_fn)
    snaps = jax.tree_util.tree_map(
        lambda p: jnp.zeros((max(n_snap, 1),) + p.shape, p.dtype), params
    )
    evals = jnp.zeros((n_evals,), x.dtype)

    def step(carry, inputs):
        p, snaps, evals = carry
        k, idx = inputs
        snaps = _write(snaps, slots[k], p)
        if full_batch:
            loss, g = grad_fn(p, x, y, loss_scale)
        else:
            loss, g = grad_fn(p, x[idx], y[idx], loss_scale)
            evals = jax.lax.cond(
                k % eval_every == 0,
                lambda e: e.at[k // eval_every].set(loss_fn(p, x, y, loss_scale)),
                lambda e: e,
                evals,
            )
        p = jax.tree_util.tree_map(lambda a, b: a - lr * b, p, g)
        return (p, snaps, evals), loss

    ks = jnp.arange(steps)
    (params, snaps, evals), batch_losses = jax.lax.scan(step, (params, snaps, evals), (ks, batches))
    snaps = _write(snaps, slots[steps], params)
    final = loss_fn(params, x, y, loss_scale)
    return params, snaps, evals.at[-1].set(final), batch_losses


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


def _result(net, params, x, y, lr, loss_scale, batches, snapshot_steps, eval_every, full_batch):
    steps = batches.shape[0]
    slots, wanted = _slots(snapshot_steps, steps)
    out, snaps, evals, batch_losses = _run(
        net, params, x, y, lr, loss_scale, jnp.asarray(batches), jnp.asarray(slots),
        eval_every, len(wanted), full_batch,
    )  # fmt: skip
    batch_losses = np.asarray(batch_losses, dtype=np.float64)
    if full_batch:
        losses = np.append(batch_losses, float(evals[-1]))
        loss_steps = np.arange(steps + 1)
    else:
        losses = np.asarray(evals, dtype=np.float64)
        loss_steps = np.append(np.arange(0, steps, eval_every), steps)
    what = "gradient descent" if full_batch else "SGD"
    _check_finite_losses(losses, loss_steps, lr, what)
    _check_finite_losses(batch_losses, np.arange(steps), lr, what)
    snapshots = {
        s: jax.tree_util.tree_map(lambda b, i=i: b[i], snaps) for i, s in enumerate(wanted)
    }
    return TrainResult(out, losses, loss_steps, batch_losses, snapshots, lr, loss_scale)


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
    batches = np.zeros((int(steps), 0), dtype=np.int32)
    return _result(net, params, x, y, learning_rate, loss_scale, batches, snapshot_steps, 1, True)


def _sgd_batches(key: jax.Array, n: int, batch_size: int, epochs: int) -> np.ndarray:
    """``(epochs * (n // batch_size), batch_size)`` indices: a fresh permutation every epoch."""
    per_epoch = n // batch_size
    perms = jax.vmap(lambda k: jax.random.permutation(k, n))(jax.random.split(key, epochs))
    return np.asarray(perms[:, : per_epoch * batch_size]).reshape(epochs * per_epoch, batch_size)


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
    batches = _sgd_batches(key, x.shape[0], batch_size, int(epochs))
    every = x.shape[0] // batch_size if eval_every is None else int(eval_every)
    if every < 1:
        raise ValueError(f"eval_every must be >= 1, got {eval_every}")
    return _result(
        net, params, x, y, learning_rate, loss_scale, batches, snapshot_steps, every, False
    )


def kernel_drift(theta0, theta_t) -> float:
    """Relative change of a kernel, ``||Theta_t - Theta_0||_F / ||Theta_0||_F``, in float64."""
    a = np.asarray(theta0, dtype=np.float64)
    b = np.asarray(theta_t, dtype=np.float64)
    return float(np.linalg.norm(b - a) / np.linalg.norm(a))


def ntk_drift(net: MLP, params0: Params, params_list: Sequence[Params], x: jax.Array) -> np.ndarray:
    """``||Theta(theta_k) - Theta(theta_0)||_F / ||Theta(theta_0)||_F`` for each of
    ``params_list``, with the empirical NTK on ``x``.

    Returns:
        ``(len(params_list),)`` float64.
    """
    theta0 = empirical_ntk(net, params0, x)
    return np.array([kernel_drift(theta0, empirical_ntk(net, p, x)) for p in params_list])


@dataclass(frozen=True)
class DriftRun:
    """One gradient-descent run of :func:`drift_sweep`.

    Attributes:
        width: hidden width.
        seed: PRNG seed of the initialisation.
        ntk_drift: ``||Theta_T - Theta_0||_F / ||Theta_0||_F`` after the run.
        param_change: ``||theta_T - theta_0|| / ||theta_0||``.
        param_distance: ``||theta_T - theta_0||``.
        flow_times: ``(steps + 1,)`` gradient-flow times ``eta * k``.
        losses: ``(steps + 1,)`` full-batch losses.
    """

    width: int
    seed: int
    ntk_drift: float
    param_change: float
    param_distance: float
    flow_times: np.ndarray = field(repr=False)
    losses: np.ndarray = field(repr=False)


def _norm(params: Params) -> float:
    return float(np.sqrt(sum(float(jnp.sum(p * p)) for p in jax.tree_util.tree_leaves(params))))


def drift_sweep(
    x: jax.Array,
    y: jax.Array,
    widths: Sequence[int],
    seeds: Sequence[int],
    *,
    depth: int,
    learning_rate: float,
    steps: int,
    activation: str = "relu",
    parametrization: str = "ntk",
    loss_scale: float = 1.0,
) -> list[DriftRun]:
    """Train one network per width and seed with GD and measure how much its NTK moved.

    Networks are single-output MLPs ``(n_0, width, ..., width, 1)`` with ``depth`` weight layers,
    initialised with ``jax.random.PRNGKey(seed)`` in the dtype of ``x``'s default (float64 with
    ``jax_enable_x64``).

    Returns:
        One :class:`DriftRun` per ``(width, seed)``, widths outer.
    """
    runs = []
    for width in widths:
        net = MLP((x.shape[1],) + (int(width),) * (depth - 1) + (1,), activation, parametrization)
        for seed in seeds:
            params0 = net.init(jax.random.PRNGKey(int(seed)))
            result = train_gd(
                net, params0, x, y, learning_rate=learning_rate, steps=steps,
                loss_scale=loss_scale,
            )  # fmt: skip
            delta = jax.tree_util.tree_map(lambda a, b: a - b, result.params, params0)
            runs.append(
                DriftRun(
                    width=int(width),
                    seed=int(seed),
                    ntk_drift=float(ntk_drift(net, params0, [result.params], x)[0]),
                    param_change=_norm(delta) / _norm(params0),
                    param_distance=_norm(delta),
                    flow_times=result.flow_times,
                    losses=result.losses,
                )
            )
    return runs
