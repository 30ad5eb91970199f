"""Scan-compiled GD and SGD against Python-loop references; batch policies, snapshots,
divergence, drift."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkbook import MLP
from ntkbook.dynamics import sgd, train
from ntkbook.experiments import drift as drift_module
from ntkbook.stats import fit_power_law

jax.config.update("jax_enable_x64", True)

N, N_IN = 12, 4


@pytest.fixture(scope="module")
def problem():
    net = MLP((N_IN, 8, 8, 1))
    params = net.init(jax.random.PRNGKey(0))
    x = jnp.asarray(np.random.default_rng(1).normal(size=(N, N_IN)))
    y = jnp.asarray(np.arange(N) % 2.0)
    return net, params, x, y


STEPS, LR = 5, 0.05


@pytest.fixture(scope="module")
def gd_run(problem):
    net, params, x, y = problem
    return train.train_gd(
        net, params, x, y, learning_rate=LR, steps=STEPS, snapshot_steps=[0, 2, STEPS]
    )


def _loop(net, params, x, y, lr, batches, loss_scale=1.0):
    """The reference: one Python iteration per step, uncompiled."""
    grad = jax.jit(jax.grad(train.mse_loss, argnums=1), static_argnums=0)
    history = [params]
    for idx in batches:
        g = grad(net, params, x[idx], y[idx][:, None], loss_scale)
        params = jax.tree_util.tree_map(lambda p, d: p - lr * d, params, g)
        history.append(params)
    return history


def _max_diff(a, b):
    return max(
        float(jnp.max(jnp.abs(u - v)))
        for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )


def test_gd_scan_equals_python_loop(problem, gd_run):
    net, params, x, y = problem
    steps, lr, result = STEPS, LR, gd_run
    history = _loop(net, params, x, y, lr, [np.arange(N)] * steps)
    assert _max_diff(result.params, history[-1]) < 1e-13
    for k in (0, 2, steps):
        assert _max_diff(result.snapshots[k], history[k]) < 1e-13
    expected = [float(train.mse_loss(net, p, x, y[:, None])) for p in history]
    np.testing.assert_allclose(result.losses, expected, rtol=1e-12)
    np.testing.assert_array_equal(result.loss_steps, np.arange(steps + 1))
    np.testing.assert_allclose(result.batch_losses, expected[:-1], rtol=1e-12)
    np.testing.assert_allclose(result.flow_times, lr * np.arange(steps + 1))


def test_sgd_scan_equals_python_loop_over_the_same_batches(problem):
    net, params, x, y = problem
    key, lr, bs, epochs = jax.random.PRNGKey(3), 0.05, 5, 3
    result = train.train_sgd(
        net, params, x, y, learning_rate=lr, epochs=epochs, batch_size=bs, key=key,
        loss_scale=0.5, snapshot_steps=[4],
    )  # fmt: skip
    batches = train._sgd_batches(key, N, bs, epochs)
    assert batches.shape == (epochs * (N // bs), bs)
    # each epoch's batches are distinct examples
    for e in range(epochs):
        chunk = batches[e * (N // bs) : (e + 1) * (N // bs)].ravel()
        assert len(set(chunk.tolist())) == chunk.size
    history = _loop(net, params, x, y, lr, batches, loss_scale=0.5)
    assert _max_diff(result.params, history[-1]) < 1e-13
    assert _max_diff(result.snapshots[4], history[4]) < 1e-13
    # full-batch losses once per epoch and at the end
    steps = len(batches)
    np.testing.assert_array_equal(result.loss_steps, list(range(0, steps, N // bs)) + [steps])
    expected = [
        float(train.mse_loss(net, history[k], x, y[:, None], 0.5)) for k in result.loss_steps
    ]
    np.testing.assert_allclose(result.losses, expected, rtol=1e-12)


def test_full_batch_sgd_is_gd(problem, gd_run):
    net, params, x, y = problem
    gd = gd_run
    sgd = train.train_sgd(
        net, params, x, y, learning_rate=LR, epochs=STEPS, batch_size=N, key=jax.random.PRNGKey(0)
    )
    assert _max_diff(gd.params, sgd.params) < 1e-12
    np.testing.assert_allclose(gd.losses, sgd.losses, rtol=1e-12)


def test_divergence_raises_a_clear_error(problem):
    net, params, x, y = problem
    with pytest.raises(FloatingPointError, match="learning rate"):
        train.train_gd(net, params, x * 1e30, y, learning_rate=1.0, steps=STEPS)


def test_bad_arguments(problem):
    net, params, x, y = problem
    with pytest.raises(ValueError, match="snapshot"):
        train.train_gd(net, params, x, y, learning_rate=0.1, steps=2, snapshot_steps=[3])
    with pytest.raises(ValueError, match="targets"):
        train.train_gd(net, params, x, y[:3], learning_rate=0.1, steps=2)
    with pytest.raises(ValueError, match="batch_size"):
        train.train_sgd(
            net, params, x, y, learning_rate=0.1, epochs=1, batch_size=0, key=jax.random.PRNGKey(0)
        )


def test_drift_and_power_law(problem, gd_run):
    net, params, x, y = problem
    assert drift_module.ntk_drift(net, params, [params], x)[0] == 0.0
    drift = drift_module.ntk_drift(net, params, [gd_run.snapshots[STEPS]], x)[0]
    assert 0.0 < drift < 1.0
    assert drift_module.kernel_drift(np.eye(2), 2 * np.eye(2)) == pytest.approx(1.0)
    widths = np.array([10.0, 100.0, 1000.0])
    slope, prefactor = fit_power_law(widths, 3.0 * widths**-0.5)
    assert slope == pytest.approx(-0.5) and prefactor == pytest.approx(3.0)


def test_one_batching_function_two_policies():
    perms = np.stack([np.random.default_rng(s).permutation(N) for s in range(3)])
    floor_index, floor_mask = sgd.batches(perms, 5, drop_last=True)
    assert floor_index.shape == floor_mask.shape == (3 * (N // 5), 5) and floor_mask.min() == 1
    np.testing.assert_array_equal(floor_index, perms[:, : 2 * 5].reshape(-1, 5))
    ceil_index, ceil_mask = sgd.batches(perms, 5, drop_last=False)
    assert ceil_index.shape == (3 * 3, 5) and ceil_mask.sum() == 3 * N
    for e in range(3):  # every example once per epoch, padding masked
        rows = ceil_index[3 * e : 3 * (e + 1)][ceil_mask[3 * e : 3 * (e + 1)] > 0]
        assert sorted(rows.tolist()) == list(range(N))
    with pytest.raises(ValueError, match="batch_size"):
        sgd.batches(perms, N + 1, drop_last=True)


def test_masked_padding_rows_change_nothing(problem):
    """A batch with padding rows descends the mean loss of its real rows only."""
    net, params, x, y = problem
    index = np.array([[0, 1, 2, 0, 0]], np.int32)
    mask = np.array([[1, 1, 1, 0, 0]], np.float32)
    padded = sgd.minibatch_scan(net, params, x, y, index, mask, LR, kind=sgd.REGRESSION,
                                loss_scale=0.5).params
    plain = sgd.minibatch_scan(net, params, x, y, index[:, :3], mask[:, :3], LR,
                               kind=sgd.REGRESSION, loss_scale=0.5).params
    history = _loop(net, params, x, y, LR, [np.arange(3)], loss_scale=0.5)
    assert _max_diff(padded, plain) < 1e-13 and _max_diff(padded, history[-1]) < 1e-13
