"""The three kernel implementations agree; measurement helpers report what they promise."""

import jax
import numpy as np
import pytest

from ntkbook import MLP, empirical_ntk
from ntkbook.experiments.perf import IMPLEMENTATIONS, implementation, measure, time_call, xla_flops


@pytest.mark.parametrize("name", IMPLEMENTATIONS)
@pytest.mark.parametrize("n_out", [1, 3])
def test_implementations_agree(name, n_out):
    net = MLP((6, 12, 12, n_out), "elu", "standard")
    params = net.init(jax.random.PRNGKey(0))
    x1 = jax.random.normal(jax.random.PRNGKey(1), (16, 6))
    x2 = jax.random.normal(jax.random.PRNGKey(2), (5, 6))
    expected = empirical_ntk(net, params, x1, x2)
    got = implementation(name)(net, params, x1, x2)
    np.testing.assert_allclose(got, expected, rtol=1e-11, atol=1e-12)


def test_unknown_implementation():
    with pytest.raises(ValueError, match="unknown implementation"):
        implementation("magic")


def test_time_call_and_flops():
    f = jax.jit(lambda a: a @ a)
    a = np.ones((64, 64))
    timing = time_call(lambda: f(a), repeats=3)
    assert len(timing["runs"]) == 3 and timing["median"] > 0 and timing["compile"] >= 0
    flops = xla_flops(lambda a: a @ a, a)
    assert flops is None or flops == pytest.approx(2 * 64**3, rel=0.1)


def test_time_call_budget_bounds_the_repeats():
    import time

    def slow():
        time.sleep(0.02)
        return jax.numpy.zeros(1)

    assert len(time_call(slow, repeats=5, budget=0.001)["runs"]) == 1
    assert len(time_call(slow, repeats=4, budget=100.0)["runs"]) == 4
    assert len(time_call(slow, repeats=3)["runs"]) == 3


def test_measure_in_subprocess_reports_memory():
    out = measure({"sizes": [8, 16, 1], "n": 16, "dtype": "float64",
                   "implementation": "structured", "repeats": 1})
    assert "error" not in out, out
    assert out["peak_rss_mb"] > 10 and out["median"] > 0
