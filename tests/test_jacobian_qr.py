"""λ_min from the streamed QR of the implicit Jacobian: against eigvalsh, the explicit Jacobian's
SVD, and a 50-digit reference on a badly conditioned kernel."""

import numpy as np
import pytest

from ntkbook import MLP, eig_tolerance, eigvalsh, empirical_ntk
from ntkbook.core.jacobian_qr import jacobian_qr_spectrum
from ntkbook.core.reference import jacobian, jacobian_lambda_min
from ntkbook.experiments.grids import (
    Family,
    cell_qr_spectrum,
    family_cells,
    lambda_min_grid,
    nested_params,
)


@pytest.mark.parametrize("activation,sizes,parametrization", [
    ("relu", (5, 16, 16, 1), "ntk"),
    ("tanh", (5, 9, 1), "standard"),
    ("elu", (5, 12, 12, 12, 1), "berg"),
    ("sigmoid", (5, 30, 30, 30, 1), "ntk"),
    ("relu", (5, 4, 1), "ntk"),  # narrow: 29 parameters for 12 samples
])
def test_qr_spectrum_matches_the_kernel_and_the_explicit_jacobian(activation, sizes,
                                                                    parametrization):
    x = np.random.default_rng(0).normal(size=(12, 5))
    net = MLP(sizes, activation, parametrization)
    params = net.init_numpy(1)
    qr = jacobian_qr_spectrum(net, params, x)
    theta = np.asarray(empirical_ntk(net, params, x))
    eigs = eigvalsh(theta)
    tol = eig_tolerance(theta)
    # every eigenvalue, not just the smallest, is sigma_i(J)^2
    np.testing.assert_allclose(np.sort(qr.sigma ** 2), eigs, rtol=0, atol=tol)
    assert abs(qr.lambda_min - eigs[0]) <= tol + qr.lambda_min_error_bound
    assert qr.lambda_min == pytest.approx(jacobian_lambda_min(net, params, x), rel=1e-8)
    assert qr.frobenius == pytest.approx(np.sqrt(np.trace(theta)), rel=1e-12)
    assert 0 < qr.lambda_min_error_bound < 1e-10 * qr.lambda_max


def test_rank_deficient_jacobian_gives_zero_within_the_bound():
    x = np.random.default_rng(0).normal(size=(12, 2))
    net = MLP((2, 2, 1), "tanh", "ntk")  # 9 parameters < 12 samples: lambda_min = 0
    qr = jacobian_qr_spectrum(net, net.init_numpy(0), x)
    assert qr.lambda_min <= qr.lambda_min_error_bound


def _mp_lambda_min(jac: np.ndarray, digits: int = 50) -> float:
    """λ_min of J J^T at ``digits`` digits from the float64 entries of J."""
    mpmath = pytest.importorskip("mpmath")
    with mpmath.workdps(digits):
        j = mpmath.matrix(jac.tolist())
        return float(min(mpmath.eigsy(j * j.T, eigvals_only=True)))


@pytest.mark.parametrize("spread,depth,width", [(1e-4, 6, 6), (1e-2, 10, 4)])
def test_badly_conditioned_kernel_against_a_50_digit_reference(spread, depth, width):
    """Deep Sigmoid net on nearly collinear inputs: lambda_min / lambda_max ~ 1e-18 to 1e-21.

    The QR value is within its own error bound of the 50-digit eigenvalue of J J^T; plain
    eigvalsh of the formed kernel is not (it is even negative)."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1, 4)) + spread * rng.normal(size=(5, 4))
    net = MLP((4,) + (width,) * (depth - 1) + (1,), "sigmoid", "berg")
    params = net.init_numpy(0)
    reference = _mp_lambda_min(np.asarray(jacobian(net, params, x))[:, 0, :])
    qr = jacobian_qr_spectrum(net, params, x)
    assert reference / qr.lambda_max < 1e-17
    assert abs(qr.lambda_min - reference) <= qr.lambda_min_error_bound
    assert qr.lambda_min_error_bound < 1e-2 * reference  # and the bound resolves it
    eig = eigvalsh(np.asarray(empirical_ntk(net, params, x)))[0]
    assert abs(eig - reference) > qr.lambda_min_error_bound


def test_masked_cells_match_their_own_network():
    x = np.random.default_rng(0).normal(size=(10, 5))
    family = Family("sigmoid", 4, (3, 7, 12), (0, 1), "berg", "float64")
    wide = MLP((5, 12, 12, 12, 1), "sigmoid", "berg")
    for width, seed, net, params, scales, mask in family_cells(x, family):
        cell = cell_qr_spectrum(x, width, net, params, scales, mask)
        small = MLP((5, width, width, width, 1), "sigmoid", "berg")
        own = jacobian_qr_spectrum(small, nested_params(wide.init_numpy(seed), small.sizes), x)
        np.testing.assert_allclose(cell.sigma, own.sigma, rtol=1e-10, atol=1e-14 * own.sigma[0])


def test_grid_rows_carry_method_and_bound():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 4)) + 0.3 * rng.normal(size=(6, 4))
    rows = lambda_min_grid(x, ["sigmoid", "relu"], [4, 8], [2, 8], seeds=[0, 1],
                           parametrization="berg", progress=False)
    methods = {r["lambda_min_method"] for r in rows}
    assert methods == {"eigvalsh", "jacobian_qr"}
    for r in rows:
        assert r["lambda_min_error_bound"] > 0
        if r["lambda_min_method"] == "eigvalsh":
            assert r["lambda_min"] > 10 * r["resolution"] == 10 * r["lambda_min_error_bound"]
        else:  # the QR bound is far below the eigensolver's resolution
            assert r["lambda_min_error_bound"] < 1e-6 * r["resolution"]
    never = lambda_min_grid(x, ["relu"], [4], [2], qr_below=0, progress=False)
    always = lambda_min_grid(x, ["relu"], [4], [2], qr_below=np.inf, progress=False)
    assert never[0]["lambda_min_method"] == "eigvalsh"
    assert always[0]["lambda_min_method"] == "jacobian_qr"
    assert always[0]["lambda_min"] == pytest.approx(never[0]["lambda_min"], rel=1e-6)
