"""Measuring kernels: three implementations of the same NTK, timings, FLOPs and peak memory.

* ``jacfwd_vmap``: the thesis' way — per-sample Jacobians with ``vmap(jacfwd)`` over the raveled
  parameters, then ``J1 J2^T``: forward mode pushes one tangent per parameter, so it is only
  feasible for tiny networks.
* ``explicit_jacobian``: the brute-force reference — ``jacrev`` of the batch output, raveled,
  ``J1 J2^T`` (:func:`ntkbook.core.reference.jacobian_ntk`). Memory ``n * n_out * n_params``.
* ``ntk_vector_products``: Jacobian-free — for each row ``x_i`` a VJP gives ``J_i^T`` as a
  parameter-shaped vector and a JVP over ``x2`` turns it into the row ``Theta_i``; rows are
  processed in blocks, so memory is ``block * n_params`` rather than ``n * n_params``.
* ``structured``: :func:`ntkbook.empirical_ntk`, from the layer structure.

Timings are medians after a warm-up call; the compile time is the first call minus that median.
Peak memory is measured in a fresh subprocess per point (the process's peak resident set), since
XLA's CPU allocations are invisible to Python's tracers.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from functools import cache, partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from ntkbook.core.kernel import empirical_ntk
from ntkbook.core.mlp import MLP, Params
from ntkbook.core.reference import jacobian_ntk

IMPLEMENTATIONS = ("jacfwd_vmap", "explicit_jacobian", "ntk_vector_products", "structured")


@partial(jax.jit, static_argnames=("net", "full"))
def jacfwd_vmap_ntk(net: MLP, params: Params, x1: jax.Array, x2: jax.Array,
                    full: bool = False) -> jax.Array:
    """``J1 J2^T`` from per-sample ``jacfwd`` Jacobians, as the thesis does.

    Returns:
        ``(n1, n2)`` (mean over the output diagonal) or, with ``full``, ``(n1, n2, out, out)``.
    """
    flat, unravel = ravel_pytree(params)

    def per_sample(x):
        return jax.jacfwd(lambda p: net.apply(unravel(p), x[None])[0])(flat)  # (out, P)

    j1, j2 = jax.vmap(per_sample)(x1), jax.vmap(per_sample)(x2)
    theta = jnp.einsum("aop,bqp->aboq", j1, j2)
    return theta if full else jnp.trace(theta, axis1=2, axis2=3) / net.n_outputs


@partial(jax.jit, static_argnames=("net", "block"))
def ntk_vector_products(net: MLP, params: Params, x1: jax.Array, x2: jax.Array,
                        block: int = 16) -> jax.Array:
    """Mean-over-outputs NTK from VJPs and JVPs only; ``block`` rows of ``x1`` at a time.

    ``n1`` must be a multiple of ``block``.
    """
    def row(x, o):
        cotangent = jnp.zeros((1, net.n_outputs), x.dtype).at[0, o].set(1.0)
        _, vjp = jax.vjp(lambda p: net.apply(p, x[None]), params)
        tangent = vjp(cotangent)[0]
        return jax.jvp(lambda p: net.apply(p, x2), (params,), (tangent,))[1][:, o]

    def rows(xb):
        per_output = jax.vmap(lambda o: jax.vmap(lambda x: row(x, o))(xb))(
            jnp.arange(net.n_outputs))
        return per_output.mean(axis=0)

    blocks = x1.reshape(-1, block, x1.shape[1])
    return jax.lax.map(rows, blocks).reshape(x1.shape[0], x2.shape[0])


def implementation(name: str) -> Callable:
    """``fn(net, params, x1, x2) -> (n1, n2)`` for one of :data:`IMPLEMENTATIONS`."""
    if name == "jacfwd_vmap":
        return jacfwd_vmap_ntk
    if name == "explicit_jacobian":
        return jax.jit(jacobian_ntk, static_argnames=("net", "full"))
    if name == "ntk_vector_products":
        return ntk_vector_products
    if name == "structured":
        return lambda net, params, x1, x2: empirical_ntk(net, params, x1, x2)
    raise ValueError(f"unknown implementation {name!r}; choose one of {IMPLEMENTATIONS}")


class CompileCounter:
    """Counts XLA backend compilations (JAX's ``backend_compile_duration`` monitoring event)."""

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0
        jax.monitoring.register_event_duration_secs_listener(self._listen)

    def _listen(self, event: str, duration: float, **kwargs) -> None:
        if event.endswith("backend_compile_duration"):
            self.count += 1
            self.seconds += duration


@cache
def compile_counter() -> CompileCounter:
    """The process's one :class:`CompileCounter` (registered on first use)."""
    return CompileCounter()


def first_call(fn: Callable[[], jax.Array]) -> tuple[jax.Array, float, int]:
    """``fn()``'s result, its seconds and the XLA compilations it triggered."""
    counter = compile_counter()
    before = counter.count
    tic = time.perf_counter()
    out = jax.block_until_ready(fn())
    return out, time.perf_counter() - tic, counter.count - before


def time_calls(fn: Callable[[], jax.Array], k: int) -> list[float]:
    """Seconds of each of ``k`` calls of ``fn()``, each waited for (``block_until_ready``)."""
    times = []
    for _ in range(k):
        tic = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - tic)
    return times


def time_call(fn: Callable[[], jax.Array], repeats: int = 5,
              budget: float | None = None, warmup: int = 0) -> dict:
    """Seconds of ``fn()``: ``first`` (compile + run), then ``warmup`` untimed calls, then the
    ``median`` and ``min`` of ``repeats`` timed calls; ``compile`` = first - median, and
    ``compiles_first`` the XLA compilations of the first call.

    With ``budget`` (seconds), the repeats stop once they have taken that long — at least one
    always runs — so slow points (seconds per call) cost one or two runs, fast ones ``repeats``.
    """
    _, first, compiles = first_call(fn)
    time_calls(fn, warmup)
    runs: list[float] = []
    for _ in range(max(1, repeats)):
        if runs and budget is not None and sum(runs) >= budget:
            break
        runs += time_calls(fn, 1)
    median = float(np.median(runs))
    return {"first": first, "median": median, "min": float(min(runs)),
            "compile": max(first - median, 0.0), "compiles_first": compiles, "runs": runs}


def xla_flops(fn: Callable, *args) -> float | None:
    """FLOPs XLA counts for the jitted ``fn(*args)`` (``None`` if the backend does not say)."""
    try:
        analysis = jax.jit(fn).lower(*args).compile().cost_analysis()
    except Exception:  # noqa: BLE001 - cost analysis is optional on some backends
        return None
    if isinstance(analysis, list):
        analysis = analysis[0] if analysis else {}
    flops = (analysis or {}).get("flops")
    return float(flops) if flops else None


def matmul_peak(n: int = 2000, dtype: str = "float32", repeats: int = 5) -> float:
    """Measured GFLOP/s of an ``n x n`` matrix squared: the practical peak of this machine."""
    a = jnp.ones((n, n), dtype)
    f = jax.jit(lambda a: a @ a)
    seconds = time_call(lambda: f(a), repeats)["median"]
    return 2.0 * n**3 / seconds / 1e9


def point_inputs(spec: dict) -> tuple[MLP, Params, jax.Array]:
    """The network, parameters and inputs of a measurement point, drawn by NumPy (the
    distribution of :meth:`MLP.init`, uniform inputs) without any XLA compilation: a fresh
    process spends its time on the kernel it measures, not on compiling random draws."""
    dtype = spec.get("dtype", "float32")
    if dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    net = MLP(tuple(spec["sizes"]), spec.get("activation", "relu"),
              spec.get("parametrization", "ntk"))
    # The draw of MLP.init_numpy, cast by NumPy and copied with device_put: a cast or
    # jnp.asarray would compile a program per shape.
    rng = np.random.default_rng(spec.get("seed", 0))
    params = [
        jax.device_put(((w_std * rng.standard_normal((fan_in, fan_out))).astype(dtype),
                        (b_std * rng.standard_normal(fan_out)).astype(dtype)))
        for fan_in, fan_out, (w_std, b_std) in zip(net.sizes[:-1], net.sizes[1:],
                                                    net.init_stds(), strict=True)]
    x = np.random.default_rng(1).uniform(size=(spec["n"], net.sizes[0])).astype(dtype)
    return net, params, jax.device_put(x)


def measurement_point(spec: dict) -> dict:
    """Time one implementation on one architecture; ``spec`` is JSON-able (see :func:`measure`)."""
    net, params, x = point_inputs(spec)
    fn = implementation(spec["implementation"])
    timing = time_call(lambda: fn(net, params, x, x), spec.get("repeats", 3),
                       spec.get("budget_s"))
    return {**spec, **timing, "device": str(jax.devices()[0].device_kind)}


def measure(spec: dict, timeout: float = 600.0) -> dict:
    """Run :func:`measurement_point` in a fresh Python process and add its ``peak_rss_mb``.

    An out-of-memory kill or a timeout is reported in ``error``, not raised: the point of a
    memory sweep is to find where an implementation stops fitting.
    """
    code = (
        "import json, resource, sys\n"
        "from ntkbook.experiments.perf import measurement_point\n"
        "out = measurement_point(json.loads(sys.argv[1]))\n"
        "out['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "print(json.dumps(out))\n"
    )
    try:
        proc = subprocess.run([sys.executable, "-c", code, json.dumps(spec)], capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**spec, "error": f"timeout after {timeout:.0f} s"}
    if proc.returncode != 0:
        reason = "killed (out of memory?)" if proc.returncode < 0 else proc.stderr[-300:]
        return {**spec, "error": f"exit {proc.returncode}: {reason}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])
