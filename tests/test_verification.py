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
