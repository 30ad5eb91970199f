"""Spectra of kernels, always in float64.

A kernel computed in float32 can show small negative eigenvalues that are rounding, not data
(Berg 2024 saw them for deep Sigmoid networks). The eigenvalues are computed with LAPACK in
float64 whatever the kernel's dtype, so this module works with or without ``jax_enable_x64``.
Every eigendecomposition of a kernel in the package goes through :func:`symmetric_part`:
float64, square, finite, and symmetrised as ``(K + K^T) / 2`` so that rounding asymmetry of the
kernel does not reach the eigensolver.
"""

from __future__ import annotations

import ctypes
import glob
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import numpy as np
import scipy
import scipy.linalg


def symmetric_part(theta) -> np.ndarray:
    """``(K + K^T) / 2`` of a square kernel, in float64.

    Args:
        theta: kernel ``(M, M)``, any float dtype (NumPy or JAX).

    Returns:
        ``(M, M)`` float64, exactly symmetric.

    Raises:
        ValueError: ``theta`` is not square.
        FloatingPointError: ``theta`` holds NaN or Inf.
    """
    k = np.asarray(theta, dtype=np.float64)
    if k.ndim != 2 or k.shape[0] != k.shape[1]:
        raise ValueError(f"expected a square kernel matrix, got shape {k.shape}")
    if not np.all(np.isfinite(k)):
        raise FloatingPointError("kernel has NaN/Inf entries; recompute it in float64")
    return 0.5 * (k + k.T)


def symmetric_eigh(theta) -> tuple[np.ndarray, np.ndarray]:
    """Eigendecomposition ``sym(K) = V diag(lam) V^T`` of a kernel, in float64.

    LAPACK's divide-and-conquer ``syevd`` (scipy's ``driver="evd"``) on :func:`symmetric_part`,
    run with one OpenBLAS thread (:func:`lapack_threads`): on a machine whose cores are busy the
    spinning worker threads make it up to ten times slower, and one thread gives the same result
    on every machine.

    Args:
        theta: kernel ``(M, M)``.

    Returns:
        ``(lam, V)``: eigenvalues ``(M,)`` ascending and orthonormal eigenvectors ``(M, M)`` as
        columns, both float64.

    Raises:
        ValueError, FloatingPointError: as :func:`symmetric_part`.
    """
    k = symmetric_part(theta)
    with lapack_threads(1):
        return scipy.linalg.eigh(k, driver="evd", check_finite=False)


def eigvalsh(theta) -> np.ndarray:
    """All eigenvalues of the symmetric kernel ``theta`` (n, n), ascending, in float64."""
    return np.linalg.eigvalsh(symmetric_part(theta))


def smallest_eigenvalue(theta) -> float:
    """The smallest eigenvalue of the symmetric kernel ``theta`` (n, n), in float64."""
    k = symmetric_part(theta)
    return float(scipy.linalg.eigh(k, eigvals_only=True, subset_by_index=[0, 0])[0])


def eig_tolerance(theta, dtype=np.float64) -> float:
    """The size below which an eigenvalue of ``theta`` cannot be told from zero in ``dtype``.

    ``n * eps(dtype) * ||theta||_2``: the backward-error bound of a symmetric eigensolver, and
    about the size of the rounding error of a kernel accumulated in ``dtype``.
    """
    k = np.asarray(theta, dtype=np.float64)
    return float(k.shape[0] * np.finfo(dtype).eps * np.linalg.norm(k, 2))


@cache
def _openblas():
    """scipy's bundled OpenBLAS (``None`` if it is not found): its thread count can be set."""
    folder = os.path.join(os.path.dirname(scipy.__file__), os.pardir, "scipy.libs")
    for path in sorted(glob.glob(os.path.join(folder, "libscipy_openblas*.so"))):
        try:
            lib = ctypes.CDLL(path)
            lib.scipy_openblas_get_num_threads()
            return lib
        except (OSError, AttributeError):
            continue
    return None


@contextmanager
def lapack_threads(n: int) -> Iterator[None]:
    """Run scipy's LAPACK with ``n`` threads inside the block (a no-op where its OpenBLAS cannot
    be found).

    On a machine whose cores are busy, OpenBLAS's spinning worker threads can make a dense
    eigendecomposition ten times slower; one thread costs at most the parallel speed-up.
    """
    lib = _openblas()
    if lib is None:
        yield
        return
    before = lib.scipy_openblas_get_num_threads()
    lib.scipy_openblas_set_num_threads(int(n))
    try:
        yield
    finally:
        lib.scipy_openblas_set_num_threads(before)
