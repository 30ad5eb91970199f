"""The analytic infinite-width NTK: closed forms, quadrature, Monte Carlo, and the recursion."""

import jax
import numpy as np
import pytest

from ntkbook import ACTIVATIONS, MLP, empirical_ntk, smallest_eigenvalue
from ntkbook.core.limit import (
    gaussian_expectations,
    infinite_width_kernels,
    infinite_width_nngp,
    infinite_width_ntk,
)

jax.config.update("jax_enable_x64", True)
RNG = np.random.default_rng(0)


def _pairs(k=6):
    q1, q2 = RNG.uniform(0.3, 3.0, k), RNG.uniform(0.3, 3.0, k)
    c = RNG.uniform(-0.95, 0.95, k) * np.sqrt(q1 * q2)
    return q1, q2, c


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_expectations_match_sampling(activation):
    from ntkbook.core.activations import get_activation

    phi = get_activation(activation)
    q1, q2, c = _pairs(3)
    e_phi, e_dphi = gaussian_expectations(activation, q1, q2, c)
    z = np.random.default_rng(1).normal(size=(2, 400_000))
    for i in range(3):
        u, v = np.linalg.cholesky([[q1[i], c[i]], [c[i], q2[i]]]) @ z
        (fu, dfu) = jax.jvp(phi, (u,), (np.ones_like(u),))
        (fv, dfv) = jax.jvp(phi, (v,), (np.ones_like(v),))
        for expected, samples in ((e_phi[i], fu * fv), (e_dphi[i], dfu * dfv)):
            samples = np.asarray(samples)
            se = samples.std() / np.sqrt(samples.size)
            assert abs(samples.mean() - expected) < 5 * se + 1e-4 * abs(expected)


def test_erf_closed_form_equals_quadrature():
    q1, q2, c = _pairs()
    closed = gaussian_expectations("erf", q1, q2, c, "closed")
    quad = gaussian_expectations("erf", q1, q2, c, "quadrature")
    np.testing.assert_allclose(closed, quad, rtol=1e-5, atol=1e-8)


def test_elu_semi_analytic_equals_fine_quadrature():
    q1, q2, c = _pairs()
    semi = gaussian_expectations("elu", q1, q2, c)
    quad = gaussian_expectations("elu", q1, q2, c, "quadrature")
    np.testing.assert_allclose(semi, quad, rtol=2e-2)  # Gauss-Hermite is slow at the kink


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("depth", [2, 3])
def test_monte_carlo_of_wide_empirical_kernels(activation, depth):
    x = RNG.normal(size=(5, 8))
    net = MLP((8,) + (2048,) * (depth - 1) + (1,), activation, "ntk")
    draws = np.array([empirical_ntk(net, net.init(jax.random.PRNGKey(s)), x) for s in range(10)])
    limit = infinite_width_ntk(x, activation=activation, depth=depth)
    se = draws.std(axis=0) / np.sqrt(len(draws))
    # Fluctuations are O(width^-1/2) per draw; allow 1 % for the O(1/width) bias.
    bias = 0.01 * np.abs(limit).max()
    assert np.all(np.abs(draws.mean(axis=0) - limit) <= 6 * se + bias)


def test_depth_one_is_the_linear_kernel_and_nngp():
    x = RNG.normal(size=(4, 3))
    np.testing.assert_allclose(infinite_width_ntk(x, activation="relu", depth=1),
                               x @ x.T / 3 + 1)
    np.testing.assert_allclose(infinite_width_nngp(x, activation="tanh", depth=1), x @ x.T / 3 + 1)


def test_symmetric_psd_and_cross_kernel_consistent():
    x = RNG.normal(size=(12, 6))
    kernels = infinite_width_kernels(x, activation="sigmoid", depths=[2, 4])
    for theta, sigma in kernels.values():
        np.testing.assert_allclose(theta, theta.T, rtol=1e-14)
        assert smallest_eigenvalue(theta) > 0 and smallest_eigenvalue(sigma) > -1e-12
    cross = infinite_width_ntk(x[:5], x, activation="sigmoid", depth=4)
    np.testing.assert_allclose(cross, kernels[4][0][:5], rtol=1e-12)


def test_clear_errors():
    x = np.ones((2, 3))
    with pytest.raises(ValueError, match="unknown activation"):
        infinite_width_ntk(x, activation="swish", depth=2)
    with pytest.raises(ValueError, match="depths must be >= 1"):
        infinite_width_ntk(x, activation="relu", depth=0)
    with pytest.raises(ValueError, match=r"\(n1, d\)"):
        infinite_width_ntk(x, np.ones((2, 4)), activation="relu", depth=2)
    with pytest.raises(ValueError, match="no infinite-width limit"):
        infinite_width_ntk(x, activation="relu", depth=2, parametrization="berg")
    with pytest.raises(ValueError, match="no closed form"):
        gaussian_expectations("sigmoid", 1.0, 1.0, 0.5, "closed")
