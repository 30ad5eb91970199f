"""The sweep's padded, masked kernels against the plain kernel; executors; the cache."""

import numpy as np
import pytest

from ntkbook import ACTIVATIONS, MLP, eigvalsh, empirical_ntk
from ntkbook.core.spectrum import eig_tolerance
from ntkbook.experiments.grids import (
    Family,
    family_kernels,
    lambda_min_grid,
    nested_params,
    width_buckets,
)
from ntkbook.store.executor import InProcessExecutor


def _x(n=7, d=5, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d))


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("parametrization", ["ntk", "berg", "standard"])
def test_masked_family_equals_plain_kernel(activation, parametrization):
    x = _x()
    family = Family(activation, 3, (2, 5, 9), (0, 1), parametrization, "float64")
    wide = MLP((5, 9, 9, 1), activation, parametrization)
    for width, seed, theta in family_kernels(x, family):
        net = MLP((5, width, width, 1), activation, parametrization)
        params = nested_params(wide.init_numpy(seed), net.sizes)
        expected = empirical_ntk(net, params, x)
        np.testing.assert_allclose(theta, expected, rtol=1e-12, atol=0)


def test_grid_rows_and_values(tmp_path):
    x = _x()
    rows = lambda_min_grid(x, ["relu", "sigmoid"], [3, 6], [2, 4], seeds=[0, 2],
                           parametrization="ntk", cache_dir=tmp_path, progress=False)
    assert len(rows) == 2 * 2 * 2 * 2
    row = next(r for r in rows if (r["activation"], r["width"], r["depth"], r["seed"])
               == ("sigmoid", 6, 4, 2))
    net = MLP((5, 6, 6, 6, 1), "sigmoid", "ntk")  # the widest of its family: its own draw
    theta = empirical_ntk(net, net.init_numpy(2), x)
    eigs = eigvalsh(theta)
    assert row["lambda_min"] == pytest.approx(eigs[0], rel=1e-9)
    assert row["lambda_max"] == pytest.approx(eigs[-1], rel=1e-12)
    assert row["resolution"] == pytest.approx(eig_tolerance(theta), rel=1e-9)
    assert 0 < row["resolution"] < 1e-10 * row["lambda_max"]


def test_cache_hit_and_miss(tmp_path, monkeypatch):
    x = _x()
    args = (x, ["tanh"], [4], [2])
    first = lambda_min_grid(*args, cache_dir=tmp_path, progress=False)
    assert len(list((tmp_path / "lambda_min").glob("*.json"))) == 1

    def boom(*_a, **_k):
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr("ntkbook.experiments.grids.run_family", boom)
    assert lambda_min_grid(*args, cache_dir=tmp_path, progress=False) == first
    with pytest.raises(AssertionError, match="recomputed"):  # other inputs: a miss
        lambda_min_grid(x + 1, ["tanh"], [4], [2], cache_dir=tmp_path, progress=False)


def test_task_errors_reach_the_caller():
    with pytest.raises(ValueError, match="unknown activation"):
        lambda_min_grid(_x(), ["swish"], [4], [2], executor=InProcessExecutor(), progress=False)
    with pytest.raises(ValueError, match="dtype"):
        lambda_min_grid(_x(), ["relu"], [4], [2], dtype="float16", progress=False)


@pytest.mark.slow
def test_dask_cluster_gives_identical_results():
    distributed = pytest.importorskip("distributed")
    x = _x()
    grid = (x, ["relu", "elu"], [3, 5], [2, 3])
    local = lambda_min_grid(*grid, cache_dir=None, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            remote = lambda_min_grid(*grid, executor=client.get_executor(), cache_dir=None,
                                     progress=False)
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in local]
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in remote] == strip


def test_width_buckets_halve_the_widest():
    assert width_buckets([50, 100, 500, 550, 1000]) == {50: 500, 100: 500, 500: 500, 550: 1000,
                                                        1000: 1000}
    assert width_buckets([3]) == {3: 3}
    assert width_buckets([1, 2, 3]) == {1: 2, 2: 2, 3: 3}


def test_cache_key_covers_every_module_the_sweep_imports():
    import ntkbook.experiments.grids as sweep_module
    from ntkbook.store.hashing import module_closure

    files = {str(p) for p in module_closure([sweep_module.__name__])}
    assert sweep_module.__file__ in files
    for module in ("core/activations.py", "core/kernel.py", "core/mlp.py", "core/spectrum.py",
                   "store/cache.py"):
        assert any(f.endswith(module) for f in files), module
    assert not any("/report/" in f or "/pipeline/" in f for f in files)
