"""The structured NTK against the explicit-Jacobian reference, and its properties."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkbook import ACTIVATIONS, MLP, check_finite, empirical_ntk
from ntkbook.core.kernel import _kernel_one_block
from ntkbook.core.reference import jacobian_ntk

N_IN = 6


def _inputs(n, seed, dtype=jnp.float64):
    return jax.random.normal(jax.random.PRNGKey(seed), (n, N_IN), dtype)


def _net(activation, parametrization, depth, outputs, width=7):
    sizes = (N_IN,) + (width,) * (depth - 1) + (outputs,)
    return MLP(sizes=sizes, activation=activation, parametrization=parametrization)


def _rel_err(a, b):
    return float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))


CASES = list(
    itertools.product(
        sorted(ACTIVATIONS), ["ntk", "standard", "berg"], [2, 3, 5], [1, 3], [False, True]
    )
)


@pytest.mark.parametrize("activation,parametrization,depth,outputs,with_x2", CASES)
def test_matches_explicit_jacobian_float64(activation, parametrization, depth, outputs, with_x2):
    net = _net(activation, parametrization, depth, outputs)
    params = net.init(jax.random.PRNGKey(depth * 10 + outputs))
    x1 = _inputs(9, 1)
    x2 = _inputs(5, 2) if with_x2 else None
    for full in (False, True):
        ours = empirical_ntk(net, params, x1, x2, full=full)
        ref = jacobian_ntk(net, params, x1, x2, full=full)
        n2 = 5 if with_x2 else 9
        assert ours.shape == ((9, n2, outputs, outputs) if full else (9, n2))
        assert ours.dtype == jnp.float64
        assert _rel_err(ours, ref) <= 1e-10


@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("with_x2", [False, True])
def test_blocked_equals_unblocked(full, with_x2):
    net = _net("tanh", "ntk", 4, 3)
    params = net.init(jax.random.PRNGKey(0))
    x1, x2 = _inputs(11, 3), (_inputs(7, 4) if with_x2 else None)
    whole = empirical_ntk(net, params, x1, x2, full=full)
    for rows in (1, 3, 4, 10):
        blocked = empirical_ntk(net, params, x1, x2, full=full, block_rows=rows)
        assert _rel_err(blocked, whole) < 1e-13


def test_symmetric_and_psd():
    net = _net("relu", "ntk", 3, 1, width=32)
    params = net.init(jax.random.PRNGKey(1))
    theta = np.asarray(empirical_ntk(net, params, _inputs(20, 5)))
    np.testing.assert_array_equal(theta, theta.T)
    eigs = np.linalg.eigvalsh(theta)
    assert eigs[0] > -1e-12 * eigs[-1]


def test_full_kernel_is_symmetric_in_sample_and_output_pairs():
    net = _net("erf", "standard", 3, 3)
    params = net.init(jax.random.PRNGKey(2))
    full = np.asarray(empirical_ntk(net, params, _inputs(8, 6), full=True))
    np.testing.assert_allclose(full, full.transpose(1, 0, 3, 2), rtol=0, atol=1e-12)
    mean = np.asarray(empirical_ntk(net, params, _inputs(8, 6)))
    np.testing.assert_allclose(np.trace(full, axis1=2, axis2=3) / 3, mean, rtol=1e-12)


def test_depth_one_is_the_linear_kernel():
    net = MLP(sizes=(N_IN, 2), activation="relu", parametrization="ntk")
    params = net.init(jax.random.PRNGKey(3))
    x = _inputs(5, 7)
    expected = x @ x.T / N_IN + 1.0
    np.testing.assert_allclose(empirical_ntk(net, params, x), expected, rtol=1e-13)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_float32_agrees_with_float64_reference(activation):
    net = _net(activation, "standard", 3, 2, width=16)
    params64 = net.init(jax.random.PRNGKey(4))
    params32 = jax.tree_util.tree_map(lambda p: p.astype(jnp.float32), params64)
    x = _inputs(10, 8)
    ours32 = empirical_ntk(net, params32, x.astype(jnp.float32))
    assert ours32.dtype == jnp.float32
    assert _rel_err(ours32.astype(jnp.float64), jacobian_ntk(net, params64, x)) < 1e-5


def test_same_shapes_do_not_recompile():
    net = _net("sigmoid", "ntk", 3, 1)
    params = net.init(jax.random.PRNGKey(5))
    empirical_ntk(net, params, _inputs(6, 9))
    size = _kernel_one_block._cache_size()
    for seed in range(3):  # new values, same shapes: the compiled program is reused
        empirical_ntk(net, net.init(jax.random.PRNGKey(seed)), _inputs(6, 10 + seed))
    assert _kernel_one_block._cache_size() == size


def test_bad_inputs_are_named():
    net = _net("relu", "ntk", 2, 1)
    params = net.init(jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match=r"shape \(n, 6\)"):
        empirical_ntk(net, params, jnp.ones((3, 5)))
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        MLP(sizes=(2, 3, 1), activation="swish")
    with pytest.raises(ValueError, match="unknown parametrization"):
        MLP(sizes=(2, 3, 1), parametrization="mup")
    with pytest.raises(ValueError, match="at least two"):
        MLP(sizes=(2,))


def test_check_finite_names_the_cause():
    check_finite(jnp.ones((2, 2)))
    with pytest.raises(FloatingPointError, match="2 NaN/Inf entries.*float64"):
        check_finite(jnp.array([[1.0, jnp.nan], [jnp.inf, 1.0]]), "NTK")


@pytest.mark.parametrize("draw", ["init", "init_numpy"])
def test_parametrisations_initialise_as_documented(draw):
    def params(parametrization):
        net = MLP(sizes=(400, 300, 1), parametrization=parametrization)
        return net.init(jax.random.PRNGKey(0)) if draw == "init" else net.init_numpy(0)

    w, b = params("standard")[0]
    assert abs(float(jnp.std(w)) - np.sqrt(2 / 700)) < 0.02 * np.sqrt(2 / 700)
    assert float(jnp.max(jnp.abs(b))) == 0.0
    for parametrization in ("ntk", "berg"):
        w, b = params(parametrization)[0]
        assert w.dtype == jnp.float64
        assert abs(float(jnp.std(w)) - 1.0) < 0.02
        assert abs(float(jnp.std(b)) - 1.0) < 0.2


def test_berg_reading_scales_hidden_layers_by_their_own_width():
    net = MLP(sizes=(4, 9, 16, 1), parametrization="berg")
    assert net.weight_scales() == (1 / 3, 1 / 4, 1.0)
    x = _inputs(3, 11)[:, :4]
    params = net.init(jax.random.PRNGKey(0))
    (w1, b1), (w2, b2), (w3, b3) = params
    h1 = jax.nn.relu(x @ w1 / 3 + b1)
    h2 = jax.nn.relu(h1 @ w2 / 4 + b2)
    np.testing.assert_allclose(net.apply(params, x), h2 @ w3 + b3, rtol=1e-13)
