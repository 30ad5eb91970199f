"""Berg's verification runs: loss history, snapshots and kernel history."""

import jax
import numpy as np
import pytest

from ntkbook import MLP, eigvalsh, empirical_ntk
from ntkbook.experiments.verification import verification_run


def test_run_records_loss_and_kernel_history():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(12, 5)).astype(np.float32), rng.integers(0, 2, 12).astype(np.float32)
    net = MLP((5, 16, 1), "tanh", "ntk")
    run = verification_run(net, x, y, seed=3, epochs=3, learning_rate=0.05, batch_size=4,
                           snapshot_epochs=[1, 3])
    assert run.snapshot_epochs == (0, 1, 3)
    assert run.losses.shape == run.epochs.shape == (4,)
    assert run.drift[0] == 0 and np.all(run.drift[1:] > 0)
    params0 = jax.tree_util.tree_map(lambda p: p.astype(np.float64),
                                     net.init(jax.random.PRNGKey(3), np.float32))
    eigs = eigvalsh(empirical_ntk(net, params0, x.astype(np.float64)))
    assert run.lambda_min[0] == pytest.approx(eigs[0], rel=1e-9)
    assert run.lambda_max[0] == pytest.approx(eigs[-1], rel=1e-9)
    assert run.losses[-1] < run.losses[0]


def test_run_records_per_step_losses_linearised_loss_and_diagonal():
    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(12, 5)).astype(np.float32), rng.integers(0, 2, 12).astype(np.float32)
    net = MLP((5, 16, 1), "tanh", "ntk")
    run = verification_run(net, x, y, seed=3, epochs=2, learning_rate=0.05, batch_size=4,
                           snapshot_epochs=[2], eval_every=1)
    assert np.array_equal(run.steps, np.arange(7)) and run.epochs[3] == pytest.approx(1.0)
    assert run.batch_losses.shape == (6,)
    # The linearised model starts where the network starts, its loss never rises (a constant
    # PSD kernel), and this narrow network ends near it.
    assert run.linearised_losses[0] == pytest.approx(run.losses[0], rel=1e-5)
    assert np.all(np.diff(run.linearised_losses) <= 1e-12)
    assert run.linearised_losses[-1] == pytest.approx(run.losses[-1], rel=0.2)
    params0 = jax.tree_util.tree_map(lambda p: p.astype(np.float64),
                                     net.init(jax.random.PRNGKey(3), np.float32))
    theta = np.asarray(empirical_ntk(net, params0, x.astype(np.float64)))
    assert run.diag_max[0] == pytest.approx(theta.diagonal().max(), rel=1e-9)
    other = verification_run(net, x, y, seed=4, epochs=1, learning_rate=0.05, batch_size=4)
    assert other.losses[0] != run.losses[0]  # independent initialisations
