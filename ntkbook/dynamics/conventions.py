"""The conventions of every flow, update and bound in the package: loss scale, rate and time.

For the squared loss over ``N`` samples

    L(theta) = (c / N) * sum_i ||f(x_i) - y_i||^2,

gradient flow ``d theta / dt = -grad L`` moves the outputs as

    d f / dt = -(2 c / N) * Theta (f - y),

with ``Theta = J J^T`` the empirical NTK on the same ``N`` samples. The factor ``rho = 2 c / N``
is called the *rate* (:func:`flow_rate`):

* Berg (2024): ``L = (1/N) ||y - f||^2`` (the MSE), ``c = 1``, rate ``2 / N``;
* Sarvanau (2025): ``L = ||f - y||^2 / (2 N)``, ``c = 1/2``, rate ``1 / N``.

``t`` is always gradient-flow time: gradient descent or SGD with learning rate ``eta`` on the same
loss reaches ``t = eta * steps`` (:func:`sgd_flow_time`). ``N`` is always the number of samples the
kernel is built on. The residual is ``r = f - y``; a network with several outputs is flattened
row-major, ``(n, n_out) -> (n * n_out,)``, and so is its kernel
(:func:`ntkbook.core.kernel.flat_ntk`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import numpy as np

#: ``c`` in ``L = (c/N) ||f - y||^2`` for Berg (2024): the plain MSE, rate ``2/N``.
BERG_LOSS_SCALE = 1.0
#: ``c`` for Sarvanau (2025), ``L = ||f - y||^2 / (2N)``: rate ``1/N``.
SARVANAU_LOSS_SCALE = 0.5

ArrayLike = np.ndarray | jax.Array | float | Sequence[float]


def flow_rate(n_samples: int, loss_scale: float = BERG_LOSS_SCALE) -> float:
    """The rate ``rho = 2 c / N`` of ``df/dt = -rho Theta (f - y)`` for ``L = (c/N)||f - y||^2``.

    Args:
        n_samples: ``N``, the number of samples of the loss and of the kernel.
        loss_scale: ``c``; 1 for the MSE (Berg), 1/2 for Sarvanau's ``||f - y||^2 / (2N)``.

    Returns:
        The rate ``2 c / N``.
    """
    if n_samples < 1 or loss_scale <= 0:
        raise ValueError(f"need n_samples >= 1 and loss_scale > 0, got {n_samples}, {loss_scale}")
    return 2.0 * loss_scale / n_samples


def sgd_flow_time(learning_rate: float, steps: ArrayLike) -> np.ndarray | float:
    """Gradient-flow time reached by ``steps`` steps of (S)GD with ``learning_rate``: ``eta * k``.

    Valid for any batch size when each step descends the *mean* loss of its batch, whose
    expectation is the full loss: the flow time per step is ``eta`` either way.
    """
    steps_arr = np.asarray(steps, dtype=np.float64)
    out = learning_rate * steps_arr
    return float(out) if out.ndim == 0 else out


def steps_per_epoch(n_train: int, batch_size: int, drop_last: bool = False) -> int:
    """SGD steps in one epoch over ``n_train`` examples: ``ceil(n / b)``, or ``floor`` if
    ``drop_last`` (the batch policies of :func:`ntkbook.dynamics.sgd.epoch_batches`)."""
    if n_train < 1 or batch_size < 1:
        raise ValueError(f"need n_train, batch_size >= 1, got {n_train}, {batch_size}")
    return n_train // batch_size if drop_last else math.ceil(n_train / batch_size)


def squared_loss(
    residual: ArrayLike, n_samples: int | None = None, loss_scale: float = BERG_LOSS_SCALE
) -> np.ndarray | float:
    """``(c/N) ||r||^2`` over the last axis of ``residual``.

    Args:
        residual: ``f - y`` flattened, shape ``(..., M)`` with ``M = N * n_out``.
        n_samples: ``N``; defaults to ``M`` (one output).
        loss_scale: ``c``.

    Returns:
        The loss, shape ``residual.shape[:-1]`` (a float for a single residual).
    """
    r = np.asarray(residual, dtype=np.float64)
    n = r.shape[-1] if n_samples is None else n_samples
    out = loss_scale / n * np.sum(r * r, axis=-1)
    return float(out) if out.ndim == 0 else out


def pinv_cutoff(eigenvalues: np.ndarray, rcond: float | None = None) -> float:
    """Eigenvalues at or below this are treated as zero by the pseudoinverse.

    The cutoff is ``rcond * max|lam|``; the default ``rcond = M * eps(float64)`` is the
    backward-error bound of the eigensolver (:func:`ntkbook.eig_tolerance`), i.e. eigenvalues
    that cannot be told from zero. A float32 kernel needs ``rcond`` of about ``M * 1.2e-7``.

    Args:
        eigenvalues: ``(M,)`` eigenvalues of the kernel.
        rcond: relative cutoff.

    Returns:
        The absolute cutoff (a float).
    """
    lam = np.asarray(eigenvalues, dtype=np.float64)
    rcond = lam.shape[0] * np.finfo(np.float64).eps if rcond is None else rcond
    return float(rcond * np.max(np.abs(lam)))


def relative_error(a: ArrayLike, b: ArrayLike, axis: int | None = None) -> np.ndarray | float:
    """``||a - b|| / ||b||`` (Frobenius), over all entries or per index of ``axis`` kept."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if axis is None:
        return float(np.linalg.norm(a - b) / np.linalg.norm(b))
    a2 = np.moveaxis(a, axis, 0).reshape(a.shape[axis], -1)
    b2 = np.moveaxis(b, axis, 0).reshape(b.shape[axis], -1)
    return np.linalg.norm(a2 - b2, axis=1) / np.linalg.norm(b2, axis=1)
