"""Berg's verification: train networks by SGD and watch the loss, the bounds and the NTK move.

One run trains a single-output MLP on the 200-image subset with minibatch SGD (one compiled
``lax.scan``, :func:`ntkbook.dynamics.train.train_sgd`) and keeps parameter snapshots at chosen
epochs;
the empirical NTK of every snapshot is then computed in float64, giving the kernel's drift
``||Theta_t - Theta_0||_F / ||Theta_0||_F`` and its extreme eigenvalues along training.
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
from ntkbook.dynamics.train import train_sgd
from ntkbook.experiments.drift import kernel_drift


@dataclass(frozen=True)
class VerificationRun:
    """One SGD run with its kernel history.

    Attributes:
        seed: initialisation seed.
        epochs: ``(E + 1,)`` epoch of each loss value (0 = at initialisation).
        losses: ``(E + 1,)`` full-batch MSE ``(1/N)||f - y||^2`` after each epoch.
        snapshot_epochs: epochs at which the kernel was computed.
        drift: ``||Theta_t - Theta_0||_F / ||Theta_0||_F`` at each snapshot.
        lambda_min, lambda_max: extreme eigenvalues of ``Theta_t`` (float64) at each snapshot.
    """

    seed: int
    epochs: np.ndarray = field(repr=False)
    losses: np.ndarray = field(repr=False)
    snapshot_epochs: tuple[int, ...]
    drift: np.ndarray
    lambda_min: np.ndarray
    lambda_max: np.ndarray


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
) -> VerificationRun:
    """Train ``net`` from ``PRNGKey(seed)`` with SGD on the MSE and record loss and kernel.

    Args:
        net: a single-output network. x: inputs ``(N, n_0)``. y: targets ``(N,)``.
        seed: initialisation seed (the data order uses ``seed + 1``).
        epochs, learning_rate, batch_size: Berg's protocol is 100, 1e-3 and 1.
        snapshot_epochs: epochs (0..epochs) at which to compute the NTK in float64.
        dtype: the training dtype.
    """
    params = net.init(jax.random.PRNGKey(seed), jnp.dtype(dtype))
    steps_per_epoch = x.shape[0] // batch_size
    wanted = sorted({int(e) for e in snapshot_epochs} | {0})
    result = train_sgd(net, params, jnp.asarray(x, dtype), jnp.asarray(y, dtype),
                       learning_rate=learning_rate, epochs=epochs, batch_size=batch_size,
                       key=jax.random.PRNGKey(seed + 1),
                       snapshot_steps=[e * steps_per_epoch for e in wanted])
    kernels = [_kernel64(net, result.snapshots[e * steps_per_epoch], x) for e in wanted]
    spectra = [eigvalsh(k) for k in kernels]
    return VerificationRun(
        seed=seed,
        epochs=np.asarray(result.loss_steps) / steps_per_epoch,
        losses=np.asarray(result.losses),
        snapshot_epochs=tuple(wanted),
        drift=np.array([kernel_drift(kernels[0], k) for k in kernels]),
        lambda_min=np.array([s[0] for s in spectra]),
        lambda_max=np.array([s[-1] for s in spectra]),
    )
