"""Neural Tangents' empirical NTK of the ntkbook MLP: the reference for bench_kernel.py.

Runs inside benchmarks/.venv-nt (jax 0.4.25, neural-tangents 0.6.5; see setup_nt_venv.sh) and
must not import ntkbook. The network is written here as a plain JAX function ``f(params, x)``,
the same forward pass as ``ntkbook.core.mlp.MLP.apply``: layer ``l`` computes
``(a @ W_l) * s_l + b_l``, ReLU on every layer but the last. With ``s_l = 1/sqrt(fan_in)`` and
N(0, 1) weights and biases this is NT's ``stax.Dense(parameterization='ntk', W_std=1, b_std=1)``
network. Neural Tangents differentiates it with its structured-derivatives implementation.

Inputs and weights come from the .npz that bench_kernel.py writes (``x``, ``w0``, ``b0``, ...),
so both programs compute the kernel of the same network at the same points. Prints one JSON
line (median seconds, compile seconds, versions, ...) and writes the kernel to ``--out``. With
``--serve`` it compiles, prints ``{"ready": true, ...}``, then times calls when asked on stdin
(``time K``: one untimed call, then K timed ones, answered with one JSON line) until ``done``:
bench_kernel.py interleaves these with its own timings so that both see the same machine load.

    python nt_reference.py --check          # exit 0 iff the venv works; print versions
    python nt_reference.py --inputs in.npz --out out.npz --sizes 784,1000,1 --dtype float64 \
        --n 200 --seed 0 --parametrization ntk --outputs full
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import statistics
import sys
import time
import types

EXPERIMENTAL = "neural_tangents.experimental"


def import_neural_tangents():
    """``import neural_tangents``, with an inert ``neural_tangents.experimental`` when TensorFlow
    or tf2jax is missing: that subpackage only holds the TF-model interop, which imports both at
    import time (setup_nt_venv.sh leaves them out unless NT_WITH_TF=1)."""
    stubbed = False
    if any(importlib.util.find_spec(m) is None for m in ("tensorflow", "tf2jax", "absl")):
        sys.modules[EXPERIMENTAL] = types.ModuleType(EXPERIMENTAL)
        stubbed = True
    import neural_tangents as nt

    return nt, stubbed


def weight_scales(sizes: list[int], parametrization: str) -> list[float]:
    """The factor layer ``l`` multiplies ``a @ W`` by (``ntkbook.core.mlp.MLP.weight_scales``)."""
    if parametrization == "ntk":
        return [1.0 / math.sqrt(n) for n in sizes[:-1]]
    if parametrization == "berg":
        return [1.0 / math.sqrt(n) for n in sizes[1:-1]] + [1.0]
    if parametrization == "standard":
        return [1.0] * (len(sizes) - 1)
    raise ValueError(f"unknown parametrization {parametrization!r}")


def make_apply(scales: list[float]):
    import jax.numpy as jnp

    depth = len(scales)

    def apply(params, x):
        a = x
        for layer, ((w, b), s) in enumerate(zip(params, scales, strict=True)):
            a = (a @ w) * s + b
            if layer < depth - 1:
                a = jnp.maximum(a, 0)
        return a

    return apply


def count_compiles():
    """A dict whose ``"n"`` counts XLA backend compilations from now on."""
    import jax

    counter = {"n": 0}

    def listener(event, duration, **kwargs):
        if event.endswith("backend_compile_duration"):
            counter["n"] += 1

    jax.monitoring.register_event_duration_secs_listener(listener)
    return counter


def emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


def check() -> dict:
    nt, stubbed = import_neural_tangents()
    import jax
    import jax.numpy as jnp
    import jaxlib
    import numpy as np

    assert nt.__version__ == "0.6.5", nt.__version__
    jax.config.update("jax_enable_x64", True)
    f = make_apply([1.0, 1.0])
    params = [(jnp.ones((3, 2)), jnp.zeros(2)), (jnp.ones((2, 1)), jnp.zeros(1))]
    ntk = nt.empirical_ntk_fn(
        f, trace_axes=(), vmap_axes=0,
        implementation=nt.NtkImplementation.STRUCTURED_DERIVATIVES,
    )(jnp.ones((2, 3)), None, params)
    assert ntk.shape == (2, 2, 1, 1), ntk.shape
    return {"neural_tangents": nt.__version__, "jax": jax.__version__,
            "jaxlib": jaxlib.__version__, "numpy": np.__version__,
            "tf_stubbed": stubbed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="verify the venv and exit")
    parser.add_argument("--inputs", help=".npz with x, w0, b0, w1, b1, ...")
    parser.add_argument("--out", help=".npz to write the kernel to (key 'kernel')")
    parser.add_argument("--sizes", help="layer widths, comma separated")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float64")
    parser.add_argument("--n", type=int, help="number of inputs")
    parser.add_argument("--seed", type=int, default=0, help="recorded; the data come from --inputs")
    parser.add_argument("--parametrization", choices=("ntk", "standard", "berg"), default="ntk")
    parser.add_argument("--outputs", choices=("full", "mean"), default="full",
                        help="full: trace_axes=() (every output pair); mean: trace_axes=(-1,)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls (without --serve)")
    parser.add_argument("--serve", action="store_true",
                        help="after compiling, time calls on request: stdin 'time K' or 'done'")
    args = parser.parse_args(argv)

    if args.check:
        print(json.dumps(check()))
        return 0
    if not (args.inputs and args.out and args.sizes and args.n):
        parser.error("--inputs, --out, --sizes and --n are required")

    nt, stubbed = import_neural_tangents()
    import jax
    import jaxlib
    import numpy as np

    if args.dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    compiles = count_compiles()
    sizes = [int(s) for s in args.sizes.split(",")]
    depth = len(sizes) - 1
    data = np.load(args.inputs)
    x = jax.device_put(np.asarray(data["x"], args.dtype))
    if x.shape != (args.n, sizes[0]):
        raise SystemExit(f"x has shape {x.shape}, expected {(args.n, sizes[0])}")
    params = []
    for layer in range(depth):
        w = np.asarray(data[f"w{layer}"], args.dtype)
        b = np.asarray(data[f"b{layer}"], args.dtype)
        if w.shape != (sizes[layer], sizes[layer + 1]) or b.shape != (sizes[layer + 1],):
            raise SystemExit(f"layer {layer}: shapes {w.shape}, {b.shape} do not match --sizes")
        params.append((jax.device_put(w), jax.device_put(b)))
    x_new = jax.device_put(np.asarray(data["x_new"], args.dtype)) if "x_new" in data else None

    f = make_apply(weight_scales(sizes, args.parametrization))
    kernel_fn = jax.jit(nt.empirical_ntk_fn(
        f,
        trace_axes=() if args.outputs == "full" else (-1,),
        vmap_axes=0,
        implementation=nt.NtkImplementation.STRUCTURED_DERIVATIVES,
    ))

    def call(xs) -> float:
        start = time.perf_counter()
        kernel_fn(xs, None, params).block_until_ready()
        return time.perf_counter() - start

    start = time.perf_counter()
    kernel = kernel_fn(x, None, params).block_until_ready()
    first = time.perf_counter() - start
    compiles_first = compiles["n"]
    call(x)  # warm-up
    times: list[float] = []
    if args.serve:
        # Interleaved with the caller's own timings: answer "time K" with K timed calls, and
        # stop at "done". The caller runs only while this process waits for its next line.
        emit({"ready": True, "first_call_s": first})
        for line in sys.stdin:
            words = line.split()
            if not words or words[0] == "done":
                break
            if words[0] == "time":
                call(x)  # re-warm after waiting: an idle CPU is slower on its first call
                round_times = [call(x) for _ in range(int(words[1]))]
                times.extend(round_times)
                emit({"times_s": round_times})
    else:
        times = [call(x) for _ in range(max(1, args.repeats))]
    median = statistics.median(times)
    recompiles = None
    second_values_s = None
    if x_new is not None:
        call(x)
        before = compiles["n"]
        second_values_s = call(x_new)
        recompiles = compiles["n"] - before
    # The network's plain forward pass in this JAX: separates the XLA version's speed from the
    # kernel algorithm's when comparing with ntkbook's numbers from a newer JAX.
    forward = jax.jit(f)
    forward(params, x).block_until_ready()
    forward_times = []
    for _ in range(max(3, min(len(times), 9))):
        start = time.perf_counter()
        forward(params, x).block_until_ready()
        forward_times.append(time.perf_counter() - start)

    kernel = np.asarray(kernel)  # full: (n, n, out, out) as ntkbook's full=True; mean: (n, n)
    np.savez(args.out, kernel=kernel)
    emit({
        "implementation": "neural-tangents structured derivatives",
        "median_s": median,
        "min_s": min(times),
        "times_s": times,
        "first_call_s": first,
        "compile_s": max(0.0, first - median),
        "compiles_first_call": compiles_first,
        "new_values_s": second_values_s,
        "recompiles_new_values": recompiles,
        "forward_median_s": statistics.median(forward_times),
        "kernel_shape": list(kernel.shape),
        "sizes": sizes, "dtype": args.dtype, "n": args.n, "seed": args.seed,
        "parametrization": args.parametrization, "outputs": args.outputs,
        "neural_tangents": nt.__version__, "jax": jax.__version__, "jaxlib": jaxlib.__version__,
        "numpy": np.__version__, "device": str(jax.devices()[0]),
        "device_kind": jax.devices()[0].device_kind, "platform": jax.devices()[0].platform,
        "tf_stubbed": stubbed,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
