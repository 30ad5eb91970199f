"""Berg's verification: train networks by SGD and watch the loss, the bounds and the NTK move.

One run trains a single-output MLP on the 200-image subset with minibatch SGD (one compiled
``lax.scan``, :func:`ntkbook.dynamics.train.train_sgd`) and keeps parameter snapshots at chosen
epochs;
the empirical NTK of every snapshot is then computed in float64, giving the kernel's drift
``||Theta_t - Theta_0||_F / ||Theta_0||_F``, its extreme eigenvalues and its largest diagonal
entry along training, and the loss the linearised model of ``Theta_0`` would reach (the
closed-form flow at the same gradient-flow times ``eta * k``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from ntkbook.core.kernel import empirical_ntk
from ntkbook.core.mlp import MLP
from ntkbook.core.spectrum import eigvalsh
from ntkbook.dynamics.closed_form import flow_residual
from ntkbook.dynamics.conventions import flow_rate
from ntkbook.dynamics.train import train_sgd
from ntkbook.experiments.drift import kernel_drift


@dataclass(frozen=True)
class VerificationRun:
    """One SGD run with its kernel history.

    Attributes:
        seed: initialisation seed.
        epochs: ``(E,)`` epoch of each loss value (0 = at initialisation; fractional when the
            loss is evaluated more often than once an epoch).
        steps: ``(E,)`` SGD steps taken at each loss value.
        losses: ``(E,)`` full-batch MSE ``(1/N)||f - y||^2`` at ``steps``.
        linearised_losses: ``(E,)`` the same loss along the closed-form NTK flow of the initial
            kernel (rate ``2/N``) at the flow times ``learning_rate * steps``.
        batch_losses: ``(S,)`` loss of the sample(s) each step descended, before the step.
        snapshot_epochs: epochs at which the kernel was computed.
        drift: ``||Theta_t - Theta_0||_F / ||Theta_0||_F`` at each snapshot.
        lambda_min, lambda_max: extreme eigenvalues of ``Theta_t`` (float64) at each snapshot.
        diag_max: largest diagonal entry ``max_i Theta_t(x_i, x_i)`` at each snapshot.
    """

    seed: int
    epochs: np.ndarray = field(repr=False)
    losses: np.ndarray = field(repr=False)
    snapshot_epochs: tuple[int, ...]
    drift: np.ndarray
    lambda_min: np.ndarray
    lambda_max: np.ndarray
    steps: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    linearised_losses: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    batch_losses: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    diag_max: np.ndarray = field(default_factory=lambda: np.zeros(0))


def _kernel64(net: MLP, params, x: np.ndarray) -> np.ndarray:
    if not jax.config.jax_enable_x64:
        raise RuntimeError("kernels are computed in float64: call "
                           "jax.config.update('jax_enable_x64', True) first")
    params64 = jax.tree_util.tree_map(lambda p: jnp.asarray(p, jnp.float64), params)
    return np.asarray(empirical_ntk(net, params64, jnp.asarray(x, jnp.float64)))


def verification_run(
    net: MLP,
    x: np.ndarray,
    y: np.ndarray,
    *,
    seed: int,
    epochs: int,
    learning_rate: float = 1e-3,
    batch_size: int = 1,
    snapshot_epochs: Sequence[int] = (),
    dtype: str = "float32",
    eval_every: int | None = None,
) -> VerificationRun:
    """Train ``net`` from ``PRNGKey(seed)`` with SGD on the MSE and record loss and kernel.

    Args:
        net: a single-output network. x: inputs ``(N, n_0)``. y: targets ``(N,)``.
        seed: initialisation seed: ``PRNGKey(seed)``; the data order uses
            ``fold_in(PRNGKey(seed), 1)``, so no run's data order is another seed's initialisation.
        epochs, learning_rate, batch_size: Berg's protocol is 100, 1e-3 and 1.
        snapshot_epochs: epochs (0..epochs) at which to compute the NTK in float64.
        dtype: the training dtype.
        eval_every: SGD steps between full-batch loss evaluations; default one epoch.
    """
    params = net.init(jax.random.PRNGKey(seed), jnp.dtype(dtype))
    steps_per_epoch = x.shape[0] // batch_size
    wanted = sorted({int(e) for e in snapshot_epochs} | {0})
    result = train_sgd(net, params, jnp.asarray(x, dtype), jnp.asarray(y, dtype),
                       learning_rate=learning_rate, epochs=epochs, batch_size=batch_size,
                       key=jax.random.fold_in(jax.random.PRNGKey(seed), 1),
                       snapshot_steps=[e * steps_per_epoch for e in wanted],
                       eval_every=eval_every)
    kernels = [_kernel64(net, result.snapshots[e * steps_per_epoch], x) for e in wanted]
    spectra = [eigvalsh(k) for k in kernels]
    params64 = jax.tree_util.tree_map(lambda p: jnp.asarray(p, jnp.float64), params)
    r0 = np.asarray(net.apply(params64, jnp.asarray(x, jnp.float64)))[:, 0] - np.asarray(y)
    steps = np.asarray(result.loss_steps)
    r_lin = flow_residual(kernels[0], r0, learning_rate * steps.astype(np.float64),
                          rate=flow_rate(x.shape[0]))
    return VerificationRun(
        seed=seed,
        epochs=steps / steps_per_epoch,
        losses=np.asarray(result.losses),
        snapshot_epochs=tuple(wanted),
        drift=np.array([kernel_drift(kernels[0], k) for k in kernels]),
        lambda_min=np.array([s[0] for s in spectra]),
        lambda_max=np.array([s[-1] for s in spectra]),
        steps=steps,
        linearised_losses=np.mean(r_lin**2, axis=-1),
        batch_losses=np.asarray(result.batch_losses),
        diag_max=np.array([float(np.max(np.diagonal(k))) for k in kernels]),
    )
