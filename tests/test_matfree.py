"""Matrix-free NTK products and NTK3 against the dense kernel and the dense NTK3 (the matrix-free
and the dense update share the gains, the residual and the J^T product)."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkbook import MLP, empirical_ntk
from ntkbook.core.products import jacobian_product, jacobian_transpose_product, ntk_matvec
from ntkbook.core.reference import jacobian
from ntkbook.dynamics.gains import ntk3_gains
from ntkbook.dynamics.matfree import accuracy, lanczos_matrix_function, ntk3_matrix_free
from ntkbook.dynamics.updates import ntk3_update


def _setup(n_out=3, n=13):
    net = MLP((5, 16, 16, n_out), "tanh", "standard")
    params = net.init(jax.random.PRNGKey(0))
    x = jax.random.normal(jax.random.PRNGKey(1), (n, 5))
    return net, params, x


@pytest.mark.parametrize("block_rows", [4, 13, 100])
def test_products_match_explicit_jacobian(block_rows):
    net, params, x = _setup()
    jac = np.asarray(jacobian(net, params, x)).reshape(13 * 3, -1)
    v = np.random.default_rng(0).normal(size=(13, 3))
    jtv = jacobian_transpose_product(net, params, x, jnp.asarray(v), block_rows)
    flat = np.concatenate([np.concatenate([np.ravel(w), np.ravel(b)]) for w, b in jtv])
    np.testing.assert_allclose(flat, jac.T @ v.ravel(), rtol=1e-11, atol=1e-12)
    jv = jacobian_product(net, params, x, jtv, block_rows)
    np.testing.assert_allclose(np.ravel(jv), jac @ (jac.T @ v.ravel()), rtol=1e-10)
    full = np.asarray(empirical_ntk(net, params, x, full=True)).transpose(0, 2, 1, 3)
    np.testing.assert_allclose(np.ravel(ntk_matvec(net, params, x, jnp.asarray(v), block_rows)),
                               full.reshape(39, 39) @ v.ravel(), rtol=1e-10)


def test_lanczos_matrix_function_on_known_matrix():
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.normal(size=(60, 60)))
    lam = np.concatenate([np.geomspace(1e-6, 1e3, 50), np.zeros(10)])
    a = (q * lam) @ q.T
    b = rng.normal(size=60)
    f = partial(ntk3_gains, rate=0.1, t=5.0)
    exact = (q * f(lam)) @ (q.T @ b)
    result = lanczos_matrix_function(lambda v: a @ v, b, f, max_iter=60, tol=1e-12)
    assert result.converged
    np.testing.assert_allclose(result.value, exact, rtol=1e-8, atol=1e-10 * np.abs(exact).max())


def test_gain_function_limit_at_zero():
    f = partial(ntk3_gains, rate=0.5, t=4.0)
    assert f(np.array([0.0]))[0] == pytest.approx(2.0)
    assert f(np.array([1e-12]))[0] == pytest.approx(2.0, rel=1e-9)
    assert f(np.array([3.0]))[0] == pytest.approx((1 - np.exp(-6.0)) / 3.0)


@pytest.mark.parametrize("t", [0.3, 30.0])
def test_matrix_free_ntk3_equals_dense_ntk3(t):
    net, params, x = _setup()
    y = np.random.default_rng(2).normal(size=(13, 3))
    dense = ntk3_update(net, params, x, y, t, loss_scale=0.5, kind="full", rcond=1e-14)
    free = ntk3_matrix_free(net, params, x, y, t, max_iter=39, tol=1e-12, block_rows=5)
    assert free.lanczos.converged
    for (w1, b1), (w2, b2) in zip(free.params, dense, strict=True):
        np.testing.assert_allclose(w1, w2, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(b1, b2, rtol=1e-7, atol=1e-9)


def test_softmax_residual_is_the_squared_flow_with_shifted_targets():
    net, params, x = _setup()
    labels = np.random.default_rng(4).integers(0, 3, 13)
    onehot = np.eye(3)[labels]
    f0 = np.asarray(net.apply(params, x))
    p0 = np.exp(f0 - f0.max(axis=1, keepdims=True))
    p0 /= p0.sum(axis=1, keepdims=True)
    shifted = f0 - (p0 - onehot)  # f0 - shifted = softmax(f0) - y
    dense = ntk3_update(net, params, x, shifted, 5.0, loss_scale=0.5, kind="full",
                        rcond=1e-14)
    free = ntk3_matrix_free(net, params, x, onehot, 5.0, max_iter=39, tol=1e-12, block_rows=5,
                            residual="softmax")
    assert free.lanczos.converged
    for (w1, b1), (w2, b2) in zip(free.params, dense, strict=True):
        np.testing.assert_allclose(w1, w2, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(b1, b2, rtol=1e-7, atol=1e-9)
    mean_sq = ntk3_update(net, params, x, onehot, 5.0, kind="mean")
    mean_sm = ntk3_update(net, params, x, onehot, 5.0, kind="mean", residual="softmax")
    assert not np.allclose(mean_sq[0][0], mean_sm[0][0])
    with pytest.raises(ValueError, match="unknown residual"):
        ntk3_update(net, params, x, onehot, 5.0, kind="mean", residual="hinge")


def test_dense_mean_kernel_ntk3_equals_full_kernel_for_one_output():
    net, params, x = _setup(n_out=1)
    y = np.random.default_rng(3).normal(size=(13, 1))
    dense = ntk3_update(net, params, x, y, 2.0, loss_scale=0.5, rcond=1e-14)
    mean = ntk3_update(net, params, x, y, 2.0, kind="mean")
    for (w1, b1), (w2, b2) in zip(mean, dense, strict=True):
        np.testing.assert_allclose(w1, w2, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(b1, b2, rtol=1e-7, atol=1e-9)


def test_accuracy_counts_argmax_hits():
    net, params, x = _setup()
    logits = np.asarray(net.apply(params, x))
    labels = logits.argmax(axis=1)
    labels[:3] = (labels[:3] + 1) % 3
    assert accuracy(net, params, x, labels, block_rows=4) == pytest.approx(10 / 13)
