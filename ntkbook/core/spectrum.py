"""Spectra of kernels, always in float64.

A kernel computed in float32 can show small negative eigenvalues that are rounding, not data
(Berg 2024 saw them for deep Sigmoid networks). The eigenvalues are computed with NumPy's LAPACK in
float64 whatever the kernel's dtype, so this module works with or without ``jax_enable_x64``.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg


def _symmetric64(theta) -> np.ndarray:
    k = np.asarray(theta, dtype=np.float64)
    if k.ndim != 2 or k.shape[0] != k.shape[1]:
        raise ValueError(f"expected a square kernel matrix, got shape {k.shape}")
    if not np.all(np.isfinite(k)):
        raise FloatingPointError("kernel has NaN/Inf entries; recompute it in float64")
    return 0.5 * (k + k.T)


def eigvalsh(theta) -> np.ndarray:
    """All eigenvalues of the symmetric kernel ``theta`` (n, n), ascending, in float64."""
    return np.linalg.eigvalsh(_symmetric64(theta))


def smallest_eigenvalue(theta) -> float:
    """The smallest eigenvalue of the symmetric kernel ``theta`` (n, n), in float64."""
    k = _symmetric64(theta)
    return float(scipy.linalg.eigh(k, eigvals_only=True, subset_by_index=[0, 0])[0])


def eig_tolerance(theta, dtype=np.float64) -> float:
    """The size below which an eigenvalue of ``theta`` cannot be told from zero in ``dtype``.

    ``n * eps(dtype) * ||theta||_2``: the backward-error bound of a symmetric eigensolver, and
    about the size of the rounding error of a kernel accumulated in ``dtype``.
    """
    k = np.asarray(theta, dtype=np.float64)
    return float(k.shape[0] * np.finfo(dtype).eps * np.linalg.norm(k, 2))
