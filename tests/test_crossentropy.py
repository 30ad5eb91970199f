"""The linearised cross-entropy flow in output space (:mod:`ntkbook.dynamics.crossentropy`)
against independent references: the flow integrated in parameter space with an explicit
Jacobian (scipy), the implicit Radau solver on a stiff problem, the Taylor expansion at t = 0,
and the linearised network's own outputs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate
import scipy.special
from jax.flatten_util import ravel_pytree

from ntkbook.core.mlp import MLP
from ntkbook.dynamics.crossentropy import crossentropy_flow, crossentropy_update, dense_kernel
from ntkbook.dynamics.updates import subset_kernel

N, K = 6, 4
TIMES = np.array([0.0, 0.3, 3.0, 30.0, 300.0])


def _network(seed=0, dtype=jnp.float64):
    net = MLP((3, 16, 16, K), "tanh", "ntk")
    params = net.init(jax.random.PRNGKey(seed), dtype)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, 3))
    y = np.eye(K)[rng.integers(0, K, N)]
    return net, params, x, y


def _explicit_jacobian(net, params, x):
    """``(f_s (n K,), J (n K, P), flat theta_s, unravel)`` with ``jax.jacrev``."""
    flat0, unravel = ravel_pytree(params)
    fun = lambda flat: net.apply(unravel(flat), jnp.asarray(x)).reshape(-1)  # noqa: E731
    return np.asarray(fun(flat0)), np.asarray(jax.jacrev(fun)(flat0)), flat0, unravel


def _parameter_flow(f_s, jac, y, rate, times, method="DOP853", rtol=1e-12, atol=1e-14):
    """``theta(t) - theta_s`` for ``d theta/dt = -rho J^T (softmax(f_s + J delta) - Y)``,
    integrated interval by interval in parameter space, ``(T, P)``; and the right-hand side's
    Jacobian ``-rho J^T H J`` for implicit methods."""
    n = y.shape[0]

    def probabilities(delta):
        return scipy.special.softmax((f_s + jac @ delta).reshape(n, -1), axis=1)

    def fun(_, delta):
        return -rate * jac.T @ (probabilities(delta) - y).reshape(-1)

    def jacobian(_, delta):
        p = probabilities(delta)
        h = np.zeros((p.size, p.size))
        for i in range(n):
            s = slice(i * p.shape[1], (i + 1) * p.shape[1])
            h[s, s] = np.diag(p[i]) - np.outer(p[i], p[i])
        return -rate * jac.T @ h @ jac

    out = np.zeros((len(times), jac.shape[1]))
    for i in range(1, len(times)):
        sol = scipy.integrate.solve_ivp(fun, (times[i - 1], times[i]), out[i - 1], method=method,
                                        rtol=rtol, atol=atol,
                                        **({"jac": jacobian} if method == "Radau" else {}))
        assert sol.success, sol.message
        out[i] = sol.y[:, -1]
    return out


def _relative(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def test_full_flow_parameters_match_the_parameter_space_flow_with_an_explicit_jacobian():
    net, params, x, y = _network()
    rate = 1.0 / N
    new, flow = crossentropy_update(net, params, x, y, rate=rate, times=TIMES, kind="full")
    f_s, jac, flat0, _ = _explicit_jacobian(net, params, x)
    ref = _parameter_flow(f_s, jac, y, rate, TIMES)
    assert flow.loss[-1] < 0.25 * flow.loss[0]  # the flow does fit the subset
    for j in range(1, len(TIMES)):
        delta = np.asarray(ravel_pytree(new[j])[0] - flat0)
        assert _relative(delta, ref[j]) < 1e-6, (TIMES[j], _relative(delta, ref[j]))
    np.testing.assert_array_equal(ravel_pytree(new[0])[0], flat0)


def test_outputs_equal_the_linearised_network_at_the_updated_parameters_and_loss_is_their_ce():
    net, params, x, y = _network(seed=1)
    new, flow = crossentropy_update(net, params, x, y, rate=1.0 / N, times=TIMES, kind="full")
    f_s, jac, flat0, _ = _explicit_jacobian(net, params, x)
    for j, p in enumerate(new):
        linearised = f_s + jac @ np.asarray(ravel_pytree(p)[0] - flat0)
        np.testing.assert_allclose(flow.outputs[j], linearised.reshape(N, K), rtol=1e-10,
                                   atol=1e-10)
    logp = scipy.special.log_softmax(flow.outputs, axis=2)
    np.testing.assert_allclose(flow.loss, -np.sum(y * logp, axis=(1, 2)) / N, rtol=1e-12)


def test_loss_decreases_in_time_from_the_switch_point_loss():
    net, params, x, y = _network(seed=2)
    for kind in ("mean", "full"):
        times = np.geomspace(1e-3, 1e3, 25)
        _, flow = crossentropy_update(net, params, x, y, rate=1.0 / N, times=np.r_[0.0, times],
                                      kind=kind)
        assert np.all(np.diff(flow.loss) < 0), kind
        f_s = np.asarray(net.apply(params, jnp.asarray(x)))
        logp = scipy.special.log_softmax(f_s, axis=1)
        assert flow.loss[0] == pytest.approx(-np.sum(y * logp) / N, rel=1e-12)


@pytest.mark.parametrize("kind", ["mean", "full"])
def test_small_time_coefficients_are_rate_times_time_times_the_initial_softmax_residual(kind):
    net, params, x, y = _network(seed=3)
    rate = 1.0 / N
    times = np.array([1e-7, 1e-5, 1e-3])
    _, flow = crossentropy_update(net, params, x, y, rate=rate, times=times, kind=kind,
                                  rtol=1e-12, atol=1e-16)
    f_s = np.asarray(net.apply(params, jnp.asarray(x)))
    g0 = scipy.special.softmax(f_s, axis=1) - y
    theta = dense_kernel(subset_kernel(net, params, x, y, kind=kind))
    lam_max = np.linalg.eigvalsh(theta)[-1]
    for t, c in zip(times, flow.coefficients, strict=True):
        first = rate * t * g0
        # C = rho t g0 - (rho t)^2 / 2 H Theta g0 + ...: the second term is below rho t lam_max / 4
        assert _relative(c, first) < rate * t * lam_max / 4 * 1.01
        assert _relative(c, first) > rate * t * lam_max * 1e-4  # and is seen: not C = rho t g0


def test_mean_kind_equals_the_full_kind_when_the_full_kernel_is_the_mean_kernel_times_identity():
    rng = np.random.default_rng(4)
    a = rng.normal(size=(N, 9))
    theta_mean = a @ a.T * 5.0
    f_s = rng.normal(size=(N, K))
    y = np.eye(K)[rng.integers(0, K, N)]
    times = np.geomspace(0.01, 100.0, 7)
    mean = crossentropy_flow(theta_mean, f_s, y, rate=1.0 / N, times=times, kind="mean",
                             rtol=1e-11, atol=1e-13)
    full = crossentropy_flow(np.kron(theta_mean, np.eye(K)), f_s, y, rate=1.0 / N, times=times,
                             kind="full", rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(mean.coefficients, full.coefficients, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(mean.outputs, full.outputs, rtol=1e-8, atol=1e-10)


def test_mean_kind_differs_from_the_full_kind_for_a_network_kernel():
    net, params, x, y = _network(seed=5)
    times = np.array([1.0, 10.0])
    _, mean = crossentropy_update(net, params, x, y, rate=1.0 / N, times=times, kind="mean")
    _, full = crossentropy_update(net, params, x, y, rate=1.0 / N, times=times, kind="full")
    assert _relative(mean.coefficients, full.coefficients) > 1e-3


def test_reusing_a_subset_kernel_gives_the_same_update_as_building_the_kernel():
    net, params, x, y = _network(seed=6)
    kern = subset_kernel(net, params, x, y, kind="mean")
    built, _ = crossentropy_update(net, params, x, y, rate=1.0 / N, times=TIMES[1:], kind="mean")
    reused, _ = crossentropy_update(net, params, x, y, rate=1.0 / N, times=TIMES[1:],
                                    kind="mean", kernel=kern)
    for a, b in zip(built, reused, strict=True):
        np.testing.assert_allclose(ravel_pytree(a)[0], ravel_pytree(b)[0], rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("kind", ["mean", "full"])
def test_stiff_flow_rate_lam_max_time_1e4_stays_finite_and_matches_an_implicit_reference(kind):
    """rho lam_max t = 1e4 along one direction of J: explicit steps are stability-limited."""
    rng = np.random.default_rng(7)
    n, k, p = 20, 3, 30
    j_small = rng.normal(size=(n if kind == "mean" else n * k, p)) / np.sqrt(p)
    u = rng.normal(size=j_small.shape[0])
    j_small += np.outer(u / np.linalg.norm(u), rng.normal(size=p) / np.sqrt(p)) * 1e3
    jac = np.kron(j_small, np.eye(k)) if kind == "mean" else j_small
    theta = j_small @ j_small.T
    rate, t_max = 1.0 / n, 1e4 * n / np.linalg.eigvalsh(theta)[-1]
    times = np.array([0.0, 0.01, 0.1, 1.0]) * t_max
    f_s = rng.normal(size=(n, k)) * 2
    y = np.eye(k)[rng.integers(0, k, n)]
    flow = crossentropy_flow(theta, f_s, y, rate=rate, times=times, kind=kind)
    assert np.all(np.isfinite(flow.coefficients))
    assert flow.steps > 100  # the stiffness is real
    ref = _parameter_flow(f_s.reshape(-1), jac, y, rate, times, method="Radau", rtol=1e-11,
                          atol=1e-13)
    for j in range(1, len(times)):
        delta = -jac.T @ flow.coefficients[j].reshape(-1)
        assert _relative(delta, ref[j]) < 1e-6, (times[j], _relative(delta, ref[j]))
        assert _relative(flow.outputs[j].reshape(-1), f_s.reshape(-1) + jac @ ref[j]) < 1e-6


def test_float32_network_gets_float32_parameters_close_to_the_float64_flow():
    net, params, x, y = _network(seed=8)
    params32 = jax.tree_util.tree_map(lambda a: a.astype(jnp.float32), params)
    new64, _ = crossentropy_update(net, params, x, y, rate=1.0 / N, times=[10.0], kind="mean")
    new32, _ = crossentropy_update(net, params32, x, y, rate=1.0 / N, times=[10.0], kind="mean")
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree_util.tree_leaves(new32))
    flat0 = ravel_pytree(params)[0]
    d64 = ravel_pytree(new64[0])[0] - flat0
    d32 = ravel_pytree(new32[0])[0].astype(jnp.float64) - flat0
    assert _relative(np.asarray(d32), np.asarray(d64)) < 1e-3


def test_float32_kernel_matvec_keeps_the_float64_flow_to_float32_resolution():
    theta, f_s, y = _good()
    times = np.geomspace(0.1, 100.0, 5)
    f64 = crossentropy_flow(theta, f_s, y, rate=1.0 / N, times=times)
    f32 = crossentropy_flow(theta.astype(np.float32), f_s, y, rate=1.0 / N, times=times)
    assert f32.coefficients.dtype == np.float64
    assert _relative(f32.coefficients, f64.coefficients) < 1e-5
    assert _relative(f32.coefficients, f64.coefficients) > 1e-12  # the float32 path was taken


def _good():
    rng = np.random.default_rng(9)
    a = rng.normal(size=(N, N))
    return a @ a.T, rng.normal(size=(N, K)), np.eye(K)[rng.integers(0, K, N)]


@pytest.mark.parametrize(("change", "match"), [
    ({"kind": "diagonal"}, "kind must be"),
    ({"solver": "euler"}, "solver must be"),
    ({"theta": np.eye(N * K)}, r"\(6, 6\)"),
    ({"targets": np.ones((N, K))}, "one-hot"),
    ({"targets": np.ones((N, K + 1)) / (K + 1)}, "shape"),
    ({"outputs": np.zeros((N, 1)), "targets": np.ones((N, 1))}, "K >= 2"),
    ({"rate": 0.0}, "rate must be positive"),
    ({"times": [1.0, 0.5]}, "non-decreasing"),
    ({"times": [-1.0]}, ">= 0"),
    ({"times": []}, "non-empty"),
])
def test_bad_arguments_raise_value_error_naming_the_problem(change, match):
    theta, f_s, y = _good()
    args = {"theta": theta, "outputs": f_s, "targets": y, "rate": 1.0, "times": [1.0],
            "kind": "mean"} | change
    with pytest.raises(ValueError, match=match):
        crossentropy_flow(**args)


def test_kernel_of_the_wrong_kind_raises_value_error():
    net, params, x, y = _network()
    kern = subset_kernel(net, params, x, y, kind="mean")
    with pytest.raises(ValueError, match="kernel is 'mean'"):
        crossentropy_update(net, params, x, y, rate=1.0, times=[1.0], kind="full", kernel=kern)


def test_nan_kernel_or_outputs_raise_floating_point_error_naming_them():
    theta, f_s, y = _good()
    bad = theta.copy()
    bad[0, 1] = np.nan
    with pytest.raises(FloatingPointError, match="kernel of the cross-entropy flow"):
        crossentropy_flow(bad, f_s, y, rate=1.0, times=[1.0])
    f_bad = f_s.copy()
    f_bad[2, 0] = np.inf
    with pytest.raises(FloatingPointError, match="outputs at the switch point.*float64"):
        crossentropy_flow(theta, f_bad, y, rate=1.0, times=[1.0])


def test_exhausted_step_budget_raises_runtime_error_naming_max_steps():
    theta, f_s, y = _good()
    with pytest.raises(RuntimeError, match="max_steps"):
        crossentropy_flow(theta * 1e3, f_s, y, rate=1.0, times=[10.0], max_steps=5)
