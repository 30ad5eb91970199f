"""How far the NTK moves during training: kernel drift and its sweep over widths.

The drift of a kernel is ``||Theta_t - Theta_0||_F / ||Theta_0||_F``; in the NTK parametrisation
it falls with the width (lazy training). :func:`drift_sweep` trains one network per width and
seed with full-batch gradient descent (:func:`ntkbook.dynamics.train.train_gd`) and measures the
drift of its empirical NTK and the change of its parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from ntkbook.core.kernel import empirical_ntk
from ntkbook.core.mlp import MLP, Params
from ntkbook.dynamics.train import train_gd

__all__ = ["DriftRun", "drift_sweep", "init_key", "kernel_drift", "ntk_drift"]


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


def init_key(seed: int, width: int) -> jax.Array:
    """The initialisation key of the network of ``width`` and ``seed``: ``fold_in(PRNGKey(seed),
    width)``. JAX's counter-based bits make ``PRNGKey(seed)`` draws of two shapes share their
    leading entries (nested draws); folding the width in makes them independent."""
    return jax.random.fold_in(jax.random.PRNGKey(int(seed)), int(width))


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
    initialised with :func:`init_key` ``(seed, width)`` in the dtype of ``x``'s default (float64
    with ``jax_enable_x64``): every ``(width, seed)`` is an independent draw, so the networks of
    one seed at two widths do not share the leading entries of their weights.

    Returns:
        One :class:`DriftRun` per ``(width, seed)``, widths outer.
    """
    runs = []
    for width in widths:
        net = MLP((x.shape[1],) + (int(width),) * (depth - 1) + (1,), activation, parametrization)
        for seed in seeds:
            params0 = net.init(init_key(seed, width))
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
