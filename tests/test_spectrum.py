import numpy as np
import pytest

from ntkbook import eig_tolerance, eigvalsh, smallest_eigenvalue


def test_eigenvalues_in_float64_from_float32_input():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(30, 30))
    k = (a @ a.T).astype(np.float32)
    eigs = eigvalsh(k)
    assert eigs.dtype == np.float64
    np.testing.assert_allclose(eigs, np.linalg.eigvalsh(k.astype(np.float64)), rtol=1e-10)
    assert smallest_eigenvalue(k) == pytest.approx(eigs[0], rel=1e-10)


def test_smallest_eigenvalue_of_known_matrix():
    k = np.diag([5.0, 1e-9, 3.0])
    assert smallest_eigenvalue(k) == pytest.approx(1e-9, rel=1e-6)
    assert eig_tolerance(k, np.float32) > eig_tolerance(k, np.float64)


def test_rejects_non_finite_and_non_square():
    with pytest.raises(FloatingPointError, match="NaN/Inf"):
        eigvalsh(np.array([[1.0, np.nan], [np.nan, 1.0]]))
    with pytest.raises(ValueError, match="square"):
        smallest_eigenvalue(np.ones((2, 3)))
