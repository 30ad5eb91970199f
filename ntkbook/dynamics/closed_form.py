"""The NTK flow in closed form and the loss bounds it gives (conventions:
:mod:`ntkbook.dynamics.conventions`).

For a constant kernel ``Theta = V diag(lam) V^T`` the flow ``dr/dt = -rho Theta r`` of the
residual ``r = f - y`` is solved exactly by ``r(t) = V diag(exp(-rho t lam)) V^T r0``: every
eigen-direction decays on its own. Everything here is float64 NumPy, whatever the dtype of the
kernel; the eigendecomposition is :func:`ntkbook.core.spectrum.symmetric_eigh`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ntkbook.core.spectrum import symmetric_eigh
from ntkbook.dynamics.conventions import BERG_LOSS_SCALE, ArrayLike


@dataclass(frozen=True)
class KernelEigh:
    """Eigendecomposition ``Theta = V diag(lam) V^T`` of a symmetric kernel, in float64.

    Attributes:
        eigenvalues: ``(M,)``, ascending.
        eigenvectors: ``(M, M)``, orthonormal columns.
    """

    eigenvalues: np.ndarray
    eigenvectors: np.ndarray

    @property
    def size(self) -> int:
        return self.eigenvalues.shape[0]

    def apply(self, gains: np.ndarray, r: np.ndarray) -> np.ndarray:
        """``V diag(gains) V^T r`` for ``gains`` of shape ``(..., M)`` and ``r`` of shape ``(M,)``.

        Returns:
            Shape ``gains.shape[:-1] + (M,)``.
        """
        coords = self.eigenvectors.T @ r
        return (gains * coords) @ self.eigenvectors.T


def kernel_eigh(theta: ArrayLike | KernelEigh) -> KernelEigh:
    """The float64 eigendecomposition of the symmetric part of ``theta`` (M, M)
    (:func:`ntkbook.core.spectrum.symmetric_eigh`); a :class:`KernelEigh` is returned as is.

    Raises:
        FloatingPointError: ``theta`` holds NaN or Inf.
        ValueError: ``theta`` is not square.
    """
    if isinstance(theta, KernelEigh):
        return theta
    return KernelEigh(*symmetric_eigh(theta))


def flow_residual(
    theta: ArrayLike | KernelEigh, r0: ArrayLike, t: ArrayLike, *, rate: float
) -> np.ndarray:
    """Residual of the NTK flow, ``r(t) = exp(-rate * t * Theta) r0``, via ``eigh(Theta)``.

    Solves ``dr/dt = -rate * Theta r`` exactly for a constant kernel.

    Args:
        theta: kernel ``(M, M)`` or its :class:`KernelEigh`.
        r0: initial residual ``f0 - y``, ``M`` entries (any shape, e.g. ``(n, n_out)``).
        t: time or times, shape ``()`` or ``(T,)``.
        rate: ``2c/N`` (:func:`ntkbook.dynamics.conventions.flow_rate`).

    Returns:
        ``r(t)``, shape ``t.shape + r0.shape``, float64.
    """
    eig = kernel_eigh(theta)
    r0 = np.asarray(r0, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    gains = np.exp(-rate * t[..., None] * eig.eigenvalues)
    return eig.apply(gains, r0.reshape(-1)).reshape(t.shape + r0.shape)


def loss_bound(
    loss0: float,
    lam_min: float,
    t: ArrayLike,
    n_samples: int,
    loss_scale: float = BERG_LOSS_SCALE,
) -> np.ndarray | float:
    """The smallest-eigenvalue bound ``L(t) <= L(0) exp(-4 c lam_min t / N)`` of the NTK flow.

    Derivation for ``L = (c/N)||r||^2`` with ``dr/dt = -(2c/N) Theta r``:
    ``dL/dt = (2c/N) r^T dr/dt = -(4c^2/N^2) r^T Theta r <= -(4c^2/N^2) lam_min ||r||^2
    = -(4 c lam_min / N) L`` (Rayleigh), so Gronwall gives the bound. For Berg's MSE (``c = 1``)
    it is ``L(0) exp(-4 lam_min t / N)``. It is an equality when ``r0`` is an eigenvector of
    ``lam_min``. Any other normalisation of the *measured* loss leaves the ratio unchanged.

    Args:
        loss0: ``L(0)``.
        lam_min: smallest eigenvalue of the (constant) kernel.
        t: gradient-flow time(s).
        n_samples: ``N``, the kernel's sample count.
        loss_scale: ``c`` of the loss that is *trained*; it sets the rate.

    Returns:
        The bound at ``t``.
    """
    t = np.asarray(t, dtype=np.float64)
    out = loss0 * np.exp(-4.0 * loss_scale * lam_min * t / n_samples)
    return float(out) if out.ndim == 0 else out


def berg_faithful_bound(loss0: float, lam_min: float, t: ArrayLike) -> np.ndarray | float:
    """Berg's (2024) eqs. 9-10 as meant: ``L(t) <= L(0) exp(-4 lam_min t)``, missing a ``1/N``.

    His eq. 8 differentiates ``||y - f||^2`` (without the MSE's ``1/N``) while the flow carries
    ``2/N``; eq. 9 then reads ``(4/N) lam_min ||y - f||^2`` as ``4 lam_min L`` with
    ``L = (1/N)||y - f||^2``, using the ``1/N`` once instead of twice, and writes a stray factor
    ``t`` on its right-hand side; eq. 10 drops ``t`` from the exponent (``L(0) exp(-4 lam_min)``).
    This function integrates his differential inequality ``dL/dt <= -4 lam_min L``. Its rate is
    ``N`` times that of :func:`loss_bound`, so it is not a bound.
    """
    t = np.asarray(t, dtype=np.float64)
    out = loss0 * np.exp(-4.0 * lam_min * t)
    return float(out) if out.ndim == 0 else out


def du_learning_rate(
    learning_rate: float, n_samples: int, loss_scale: float = BERG_LOSS_SCALE
) -> float:
    """The step of Du et al. (2019) equal to GD with ``learning_rate`` on ``(c/N)||f - y||^2``.

    Du et al. descend ``(1/2)||y - u||^2``; the same update on ``(c/N)||f - y||^2`` has step
    ``2 c eta / N``.
    """
    return 2.0 * loss_scale * learning_rate / n_samples


def du_discrete_bound(
    loss0: float, lam_min: float, learning_rate: float, steps: ArrayLike
) -> np.ndarray | float:
    """Du et al. (2019), discrete GD: ``L(k) <= (1 - eta lam_min / 2)^k L(0)``.

    ``eta`` is the step in *their* convention (loss ``(1/2)||y - u||^2``, see
    :func:`du_learning_rate`); ``lam_min`` stands in for their ``lambda_0``, the smallest
    eigenvalue of the infinite-width Gram matrix. Their theorem also needs width
    ``Omega(N^6 / lambda_0^4)`` and ``eta = O(lambda_0 / N^2)``.
    """
    k = np.asarray(steps, dtype=np.float64)
    factor = 1.0 - learning_rate * lam_min / 2.0
    if factor < 0:
        raise ValueError(f"1 - eta lam_min / 2 = {factor:.3g} < 0: the step is outside the theorem")
    out = loss0 * factor**k
    return float(out) if out.ndim == 0 else out
