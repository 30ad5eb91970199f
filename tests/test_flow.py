"""Closed forms of the NTK flow and the dense NTK3 against numerical integration and explicit
Jacobians."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
from jax.flatten_util import ravel_pytree

from ntkbook import MLP, dynamics, empirical_ntk
from ntkbook.core.kernel import flat_ntk
from ntkbook.core.reference import jacobian
from ntkbook.dynamics.gains import ReplacedSGD, ntk3_gains
from ntkbook.dynamics.updates import subset_kernel

jax.config.update("jax_enable_x64", True)

N_IN = 5


def _problem(n=20, width=16, depth=3, outputs=1, activation="relu", seed=0):
    net = MLP((N_IN,) + (width,) * (depth - 1) + (outputs,), activation=activation)
    params = net.init(jax.random.PRNGKey(seed))
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.normal(size=(n, N_IN)))
    y = jnp.asarray(rng.normal(size=(n, outputs)) if outputs > 1 else np.arange(n) % 2.0)
    return net, params, x, y


@pytest.fixture(scope="module")
def tiny():
    """One small problem shared by the quick tests (one compilation of each function)."""
    return _problem(n=8, width=6)


def _flat(params):
    return np.asarray(ravel_pytree(params)[0])


@pytest.fixture(scope="module")
def integrated():
    """A small linearised flow integrated numerically (the slow part, shared)."""
    net, params, x, y = _problem()
    theta = flat_ntk(net, params, x)
    eig = dynamics.kernel_eigh(theta)
    rate = dynamics.flow_rate(x.shape[0])
    t_end = 3.0 / (rate * np.median(eig.eigenvalues))
    times = np.linspace(0.0, t_end, 9)
    path = dynamics.integrate_linearized_flow(net, params, x, y, times, rate=rate)
    return net, params, x, y, eig, rate, times, path


def test_closed_form_flow_matches_numerical_integration(integrated):
    net, params, x, y, eig, rate, times, path = integrated
    f0 = np.asarray(net.apply(params, x))
    y2 = np.asarray(y).reshape(f0.shape)
    closed = y2 + dynamics.flow_residual(eig, f0 - y2, times, rate=rate)
    assert closed.shape == path.outputs.shape == (len(times),) + f0.shape
    err = dynamics.relative_error(path.outputs - y2, closed - y2, axis=0)
    assert err.max() <= 1e-8, err
    # The loss really decays over the interval: the check is not trivial.
    losses = dynamics.squared_loss((closed - y2).reshape(len(times), -1))
    assert losses[-1] < 0.1 * losses[0]


def test_ntk3_matches_numerical_integration_in_parameter_space(integrated):
    net, params, x, y, eig, rate, times, path = integrated
    kernel = subset_kernel(net, params, x, y, kind="full")
    np.testing.assert_allclose(kernel.eigenvalues, eig.eigenvalues)
    for i in (2, len(times) - 1):
        updated = dynamics.ntk3_update(
            net, params, x, y, times[i], loss_scale=dynamics.BERG_LOSS_SCALE, kernel=kernel
        )
        disp = _flat(updated) - _flat(params)
        assert dynamics.relative_error(disp, path.displacements[i]) <= 1e-8
        # and path.params_at rebuilds the same pytree
        assert dynamics.relative_error(_flat(path.params_at(i)), _flat(updated)) <= 1e-8


@pytest.mark.parametrize("outputs", [1, 2])
def test_ntk3_vjp_equals_explicit_jacobian_formula(outputs, tiny):
    net, params, x, y = tiny if outputs == 1 else _problem(n=5, width=4, outputs=outputs)
    n = x.shape[0]
    jac = np.asarray(jax.jit(jacobian, static_argnums=0)(net, params, x)).reshape(n * outputs, -1)
    theta = jac @ jac.T
    np.testing.assert_allclose(flat_ntk(net, params, x), theta, rtol=1e-12, atol=1e-12)
    r0 = (np.asarray(net.apply(params, x)) - np.asarray(y).reshape(n, outputs)).reshape(-1)
    t, rate = 7.5, 1.0 / n  # Sarvanau: L = ||f - y||^2 / (2N), rate 1/N
    explicit = _flat(params) - jac.T @ (
        (np.eye(n * outputs) - scipy.linalg.expm(-rate * t * theta)) @ np.linalg.pinv(theta) @ r0
    )
    updated = dynamics.ntk3_update(net, params, x, y, t)  # default loss_scale 1/2, N = n
    np.testing.assert_allclose(_flat(updated), explicit, rtol=1e-10, atol=1e-12)
    # the update moves the linearised outputs exactly along the closed-form flow
    f_lin = np.asarray(net.apply(params, x)).reshape(-1) + jac @ (_flat(updated) - _flat(params))
    target = np.asarray(y).reshape(-1) + dynamics.flow_residual(theta, r0, t, rate=rate)
    np.testing.assert_allclose(f_lin, target, rtol=1e-10, atol=1e-12)


def test_ntk3_faithful_time_scale_is_a_rescaled_time(tiny):
    net, params, x, y = tiny
    a = dynamics.ntk3_update(net, params, x, y, 15.0, n_samples=4200)
    b = dynamics.ntk3_update(net, params, x, y, 15.0 * 8 / 4200)
    np.testing.assert_allclose(_flat(a), _flat(b), rtol=1e-12)


def test_pseudoinverse_ignores_the_null_space():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 4))
    theta = a @ a.T  # rank 4: two exact zero eigenvalues
    r0 = rng.normal(size=6)
    eig = dynamics.kernel_eigh(theta)
    lam = eig.eigenvalues
    gains = np.where(lam > dynamics.pinv_cutoff(lam), ntk3_gains(lam, rate=0.5, t=2.0), 0.0)
    coef = eig.apply(gains, r0)
    assert np.all(np.isfinite(coef))
    null = eig.eigenvectors[:, :2]
    np.testing.assert_allclose(null.T @ coef, 0.0, atol=1e-10)
    # on the range, Theta c = (I - exp(-rate t Theta)) r0
    expected = r0 - dynamics.flow_residual(theta, r0, 2.0, rate=0.5)
    proj = np.eye(6) - null @ null.T
    np.testing.assert_allclose(theta @ coef, proj @ expected, atol=1e-10)
    assert dynamics.pinv_cutoff(np.array([1.0, 10.0]), rcond=1e-3) == pytest.approx(1e-2)


def test_loss_bound_holds_along_the_flow_and_is_tight_on_the_min_eigenvector(tiny):
    net, params, x, y = tiny
    theta = flat_ntk(net, params, x)
    eig = dynamics.kernel_eigh(theta)
    lam_min = eig.eigenvalues[0]
    n = x.shape[0]
    rate = dynamics.flow_rate(n)
    times = np.geomspace(1e-2, 50.0 / (rate * lam_min), 60)
    r0 = np.asarray(net.apply(params, x))[:, 0] - np.asarray(y)
    losses = dynamics.squared_loss(dynamics.flow_residual(eig, r0, times, rate=rate))
    loss0 = dynamics.squared_loss(r0)
    bound = dynamics.loss_bound(loss0, lam_min, times, n)
    assert np.all(losses <= bound * (1 + 1e-12))
    # Berg's faithful variant is the same formula with N = 1: N times too fast, and violated.
    berg = dynamics.berg_faithful_bound(loss0, lam_min, times)
    np.testing.assert_allclose(berg, dynamics.loss_bound(loss0, lam_min, times, 1))
    assert np.any(losses > berg)
    # tight: along the eigenvector of lam_min the bound is an equality
    v = eig.eigenvectors[:, 0] * np.linalg.norm(r0)
    along = dynamics.squared_loss(dynamics.flow_residual(eig, v, times, rate=rate))
    expected = dynamics.loss_bound(dynamics.squared_loss(v), lam_min, times, n)
    np.testing.assert_allclose(along, expected, rtol=1e-9)
    # other loss scales: Sarvanau's c = 1/2 halves the rate and the exponent
    half = dynamics.loss_bound(loss0, lam_min, times, n, loss_scale=0.5)
    np.testing.assert_allclose(half, dynamics.loss_bound(loss0, lam_min, times / 2, n))


def test_conventions_and_time_helpers():
    assert dynamics.flow_rate(200) == pytest.approx(2 / 200)
    assert dynamics.flow_rate(200, dynamics.SARVANAU_LOSS_SCALE) == pytest.approx(1 / 200)
    assert dynamics.sgd_flow_time(0.007, 329) == pytest.approx(2.303)
    np.testing.assert_allclose(dynamics.sgd_flow_time(0.5, np.arange(3)), [0.0, 0.5, 1.0])
    assert dynamics.steps_per_epoch(42000, 128) == 329
    assert dynamics.steps_per_epoch(42000, 128, drop_last=True) == 328
    with pytest.raises(ValueError):
        dynamics.flow_rate(0)
    scales = ReplacedSGD(0.007, dynamics.steps_per_epoch(42000, 128), epochs_replaced=5,
                         total_epochs=15, n_train=42000, n_kernel=2000, loss_scale=0.5)
    assert scales.steps_per_epoch == 329
    assert scales.ntk3_exponent("faithful") == pytest.approx(15 / 42000)
    assert scales.ntk3_exponent("consistent") == pytest.approx(0.007 * 329 * 5 / 2000)
    assert scales.ntk2_exponent_per_epoch("faithful") == pytest.approx(2 / 2000)
    assert scales.ntk2_exponent_per_epoch("consistent") == pytest.approx(0.007 * 329 / 2000)


def test_du_bound():
    assert dynamics.du_discrete_bound(2.0, 0.5, 0.4, 3) == pytest.approx(2.0 * 0.9**3)
    assert dynamics.du_learning_rate(0.1, 200) == pytest.approx(0.001)
    with pytest.raises(ValueError, match="outside"):
        dynamics.du_discrete_bound(1.0, 10.0, 1.0, 1)


def test_non_finite_inputs_raise_clear_errors(tiny):
    with pytest.raises(FloatingPointError, match="NaN/Inf"):
        dynamics.kernel_eigh(np.array([[1.0, np.nan], [np.nan, 1.0]]))
    with pytest.raises(ValueError, match="square"):
        dynamics.kernel_eigh(np.ones((2, 3)))
    net, params, x, y = tiny
    bad = [(w.at[0, 0].set(jnp.nan), b) for w, b in params]
    with pytest.raises(FloatingPointError, match="float64"):
        dynamics.ntk3_update(net, bad, x, y, 1.0)


def test_flat_ntk_single_output_is_empirical_ntk(tiny):
    net, params, x, _ = tiny
    np.testing.assert_allclose(flat_ntk(net, params, x), empirical_ntk(net, params, x))
