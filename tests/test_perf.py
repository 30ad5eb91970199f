"""The three kernel implementations agree; measurement helpers report what they promise."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntkbook import MLP, empirical_ntk
from ntkbook.core.reference import jacobian_ntk
from ntkbook.experiments.perf import (
    IMPLEMENTATIONS,
    first_call,
    implementation,
    jacfwd_vmap_ntk,
    measure,
    time_call,
    xla_flops,
)


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


def test_jacfwd_kernel_for_every_output_pair_matches_the_explicit_jacobian():
    net = MLP((5, 9, 9, 3), "tanh", "ntk")
    params = net.init(jax.random.PRNGKey(3))
    x1 = jax.random.normal(jax.random.PRNGKey(4), (7, 5))
    x2 = jax.random.normal(jax.random.PRNGKey(5), (4, 5))
    expected = jacobian_ntk(net, params, x1, x2, full=True)
    got = jacfwd_vmap_ntk(net, params, x1, x2, full=True)
    assert got.shape == (7, 4, 3, 3)
    np.testing.assert_allclose(got, expected, rtol=1e-11, atol=1e-12)


def test_first_call_counts_compilations_and_time_call_warms_up():
    f = jax.jit(lambda a: jnp.sin(a) * 3.0)
    a = jnp.arange(17.0)
    _, seconds, compiles = first_call(lambda: f(a))
    assert seconds > 0 and compiles >= 1
    assert first_call(lambda: f(a))[2] == 0  # compiled once per shape
    timing = time_call(lambda: f(a), repeats=2, warmup=1)
    assert len(timing["runs"]) == 2 and timing["compiles_first"] == 0
    assert timing["min"] <= timing["median"]


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


def test_point_inputs_compile_nothing():
    from ntkbook.experiments.perf import compile_counter, point_inputs

    counter = compile_counter()
    before = counter.count
    spec = {"sizes": [11, 13, 3], "n": 7, "dtype": "float32", "parametrization": "standard"}
    net, params, x = point_inputs(spec)
    jax.block_until_ready((params, x))
    assert counter.count == before
    assert x.shape == (7, 11) and x.dtype == jnp.float32 and params[0][0].dtype == jnp.float32
