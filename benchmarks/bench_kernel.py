"""Speed of ntkbook's empirical NTK against Neural Tangents and the explicit Jacobian.

Targets (see benchmarks/README.md):

* A: N = 200, MLP 784 -> 1000 x 9 -> 1, NTK parametrisation, float64. ntkbook at most half the
  time of neural-tangents 0.6.5's structured derivatives (``--with-nt``), and at least 50 times
  faster than the explicit Jacobian (``ntkbook.core.reference.jacobian_ntk``) where that fits in
  memory; where it does not, both are timed at the largest N that fits.
* B: N = 2000, MLP 784 -> 1000 -> 1000 -> 10, standard parametrisation, float32, the
  mean-over-outputs kernel: under 1 s.
* For both: a second call with new input values of the same shape compiles nothing.

Every reference is measured in the same run, on the same inputs and weights, and its kernel is
compared with ntkbook's. Seconds are the median of ``--repeats`` calls after a warm-up call;
compile seconds are the first call's time minus that median.

    python benchmarks/bench_kernel.py                # A and B, ntkbook and the Jacobian
    python benchmarks/bench_kernel.py --with-nt      # and Neural Tangents (own venv)
    python benchmarks/bench_kernel.py --quick        # tiny sizes, seconds: a smoke test

Writes every number to ``_build/benchmarks/kernel.json`` (``kernel_quick.json`` with
``--quick``). Runs unchanged on any JAX backend and records the device.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ntkbook import MLP, empirical_ntk
from ntkbook.core.reference import jacobian_ntk
from ntkbook.experiments import perf
from ntkbook.pipeline.build import cpu_model
from ntkbook.pipeline.glue import versions
from ntkbook.store.files import atomic_write_json

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
NT_VENV = HERE / ".venv-nt"
NT_PYTHON = NT_VENV / "bin" / "python"


@dataclass(frozen=True)
class Target:
    name: str
    sizes: tuple[int, ...]
    parametrization: str
    dtype: str
    n: int
    full: bool  # every output pair (NT's trace_axes=()) or the mean over outputs (trace_axes=-1)
    max_nt_ratio: float | None = None  # ntkbook seconds / NT seconds must be at most this
    min_jacobian_speedup: float | None = None  # Jacobian seconds / ntkbook seconds, at least
    max_seconds: float | None = None  # ntkbook seconds must be under this


def targets(quick: bool) -> list[Target]:
    if quick:
        return [
            Target("A", (20,) + (32,) * 3 + (1,), "ntk", "float64", 16, True, 0.5, 50.0),
            Target("B", (20, 16, 16, 10), "standard", "float32", 520, False, max_seconds=1.0),
        ]
    return [
        Target("A", (784,) + (1000,) * 9 + (1,), "ntk", "float64", 200, True, 0.5, 50.0),
        Target("B", (784, 1000, 1000, 10), "standard", "float32", 2000, False, max_seconds=1.0),
    ]


def summary(first: float, compiles_first: int, times: list[float]) -> dict:
    median = statistics.median(times)
    return {"median_s": median, "min_s": min(times), "times_s": times, "first_call_s": first,
            "compile_s": max(0.0, first - median), "compiles_first_call": compiles_first,
            "new_values_s": None, "recompiles_new_values": None}


def timed(fn, args, repeats: int) -> tuple[dict, np.ndarray]:
    """First call, one warm-up, ``repeats`` timed calls."""
    out, first, compiles_first = perf.first_call(lambda: fn(*args))
    perf.time_calls(lambda: fn(*args), 1)
    times = perf.time_calls(lambda: fn(*args), max(1, repeats))
    return summary(first, compiles_first, times), np.asarray(out)


def new_values_call(fn, args) -> dict:
    counter = perf.compile_counter()
    before = counter.count
    seconds = perf.time_calls(lambda: fn(*args), 1)[0]
    return {"new_values_s": seconds, "recompiles_new_values": counter.count - before}


class NTServer:
    """nt_reference.py --serve in benchmarks/.venv-nt, timing calls when asked."""

    def __init__(self, cmd: list[str], timeout: float) -> None:
        self.timeout = timeout
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr, text=True)

    def read(self) -> dict:
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                raise TimeoutError(f"no answer from neural-tangents in {self.timeout:.0f} s")
            line = self.proc.stdout.readline()
            if not line:
                self.proc.wait()
                self.stderr.seek(0)
                tail = self.stderr.read()[-2000:].strip()
                raise RuntimeError(f"neural-tangents exited {self.proc.returncode}: {tail}")
            if line.lstrip().startswith("{"):
                return json.loads(line)

    def ask(self, text: str) -> dict:
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        return self.read()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.stderr.close()


def rel_diff(a: np.ndarray, ref: np.ndarray) -> float:
    a, ref = np.asarray(a, np.float64), np.asarray(ref, np.float64)
    if a.shape != ref.shape:
        a = a.reshape(ref.shape)
    return float(np.max(np.abs(a - ref)) / np.max(np.abs(ref)))


def mem_available_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def jacobian_bytes(net: MLP, n: int, itemsize: int) -> int:
    """Peak memory of ``jacobian_ntk`` on ``n`` inputs: the per-layer Jacobians and their
    concatenation, ``2 n n_out n_params`` numbers (XLA's CPU memory analysis of the jitted
    function reports exactly this as its temporary memory)."""
    return 2 * n * net.n_outputs * net.n_params * itemsize


def jacfwd_bytes(net: MLP, n: int, itemsize: int) -> int:
    """Peak memory of ``vmap(jacfwd)``: one tangent per parameter through every layer."""
    return n * net.n_params * max(net.sizes) * itemsize * 2


def largest_n_that_fits(n: int, bytes_for, budget: float) -> int:
    if bytes_for(n) <= budget:
        return n
    return max(0, min(n, int(n * budget / bytes_for(n))))


def nt_command(target: Target, data_path: Path, out_path: Path, seed: int) -> list[str]:
    return [
        str(NT_PYTHON), str(HERE / "nt_reference.py"), "--serve", "--inputs", str(data_path),
        "--out", str(out_path), "--sizes", ",".join(map(str, target.sizes)),
        "--dtype", target.dtype, "--n", str(target.n), "--seed", str(seed),
        "--parametrization", target.parametrization,
        "--outputs", "full" if target.full else "mean",
    ]


def ensure_nt_venv() -> str | None:
    """Create or verify benchmarks/.venv-nt; the reason it failed, or None."""
    proc = subprocess.run(["bash", str(HERE / "setup_nt_venv.sh")], capture_output=True,
                          text=True, check=False)
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "is ignored" not in ln]
    print("\n".join(lines[-20:]), flush=True)
    return None if proc.returncode == 0 else f"setup_nt_venv.sh exited {proc.returncode}"


def bench_target(t: Target, args) -> dict:
    jax.config.update("jax_enable_x64", t.dtype == "float64")
    dtype = jnp.dtype(t.dtype)
    itemsize = dtype.itemsize
    net = MLP(t.sizes, "relu", t.parametrization)
    params = net.init_numpy(args.seed, t.dtype)
    rng = np.random.default_rng(args.seed + 1)
    x_np = rng.standard_normal((t.n, t.sizes[0])).astype(t.dtype)
    x_new_np = rng.standard_normal((t.n, t.sizes[0])).astype(t.dtype)
    x, x_new = jnp.asarray(x_np), jnp.asarray(x_new_np)
    rows: list[dict] = []
    record: dict = {"target": asdict(t), "n_params": net.n_params, "rows": rows}
    print(f"\n== target {t.name}: N={t.n}, sizes={t.sizes}, {t.parametrization}, {t.dtype}, "
          f"{'every output pair' if t.full else 'mean over outputs'}, "
          f"{net.n_params:,} parameters", flush=True)

    def ours(p, xs):
        return empirical_ntk(net, p, xs, full=t.full)

    # ntkbook's first call and warm-up; then its timed calls, alternating one by one with
    # neural-tangents' in its own process when --with-nt, so both see the same machine load.
    k_ours, first, compiles_first = perf.first_call(lambda: ours(params, x))
    k_ours = np.asarray(k_ours)
    perf.time_calls(lambda: ours(params, x), 1)
    print(f"  ntkbook: first call {first:.3g} s", flush=True)
    times: list[float] = []
    nt_row = None
    if args.with_nt:
        nt_row = {"implementation": "neural-tangents 0.6.5 structured derivatives", "n": t.n}
    if nt_row is not None and args.nt_error:
        nt_row["error"] = args.nt_error
    elif nt_row is not None:
        with tempfile.TemporaryDirectory(prefix="bench_kernel_") as tmp:
            data_path, out_path = Path(tmp) / "inputs.npz", Path(tmp) / "nt_kernel.npz"
            arrays = {"x": x_np, "x_new": x_new_np}
            for layer, (w, b) in enumerate(params):
                arrays[f"w{layer}"], arrays[f"b{layer}"] = np.asarray(w), np.asarray(b)
            np.savez(data_path, **arrays)
            server = None
            try:
                server = NTServer(nt_command(t, data_path, out_path, args.seed), args.nt_timeout)
                server.read()  # compiled and warmed up
                for _ in range(max(1, args.repeats)):
                    # One untimed call first on each side: a call after the other process's
                    # turn is otherwise slower (threads and caches gone cold).
                    times += perf.time_calls(lambda: ours(params, x), 2)[1:]
                    server.ask("time 1")
                nt = server.ask("done")
                nt.pop("implementation", None)
                k_nt = np.load(out_path)["kernel"]
                nt_row.update(nt, rel_diff_vs_ntkbook=rel_diff(k_nt, k_ours))
                nt_row["paired_ratio_median"] = statistics.median(
                    a / b for a, b in zip(times, nt["times_s"], strict=True))
                print(f"  neural-tangents: {nt['median_s']:.4g} s, compile "
                      f"{nt['compile_s']:.2f} s, rel. diff {nt_row['rel_diff_vs_ntkbook']:.1e}",
                      flush=True)
            except (TimeoutError, RuntimeError, ValueError, OSError) as exc:
                nt_row["error"] = f"{type(exc).__name__}: {exc}"
                print(f"  neural-tangents failed: {nt_row['error']}", flush=True)
            finally:
                if server is not None:
                    server.close()
    times += perf.time_calls(lambda: ours(params, x), max(1, args.repeats) - len(times))
    res = summary(first, compiles_first, times)
    perf.time_calls(lambda: ours(params, x), 1)
    res.update(new_values_call(ours, (params, x_new)))
    # The plain forward pass, to compare the two JAX versions' XLA speed apart from the kernels.
    res["forward_median_s"] = timed(jax.jit(net.apply), (params, x), 9)[0]["median_s"]
    rows.append({"implementation": "ntkbook empirical_ntk", "n": t.n, **res})
    if nt_row is not None:
        rows.append(nt_row)
    print(f"  ntkbook: {res['median_s']:.4g} s, compile {res['compile_s']:.2f} s", flush=True)
    kernels = {t.n: k_ours}

    budget = args.jacobian_mem_gb * 1e9
    available = mem_available_bytes()
    if available is not None:
        budget = min(budget, 0.6 * available)
    for name, bytes_for, make in (
        ("explicit Jacobian (jacrev, reference.jacobian_ntk)",
         lambda n: jacobian_bytes(net, n, itemsize),
         lambda: jax.jit(lambda p, xs: jacobian_ntk(net, p, xs, full=t.full))),
        ("explicit Jacobian (vmap(jacfwd), thesis)",
         lambda n: jacfwd_bytes(net, n, itemsize),
         lambda: lambda p, xs: perf.jacfwd_vmap_ntk(net, p, xs, xs, full=t.full)),
    ):
        n_sub = largest_n_that_fits(t.n, bytes_for, budget)
        row = {"implementation": name, "n": n_sub, "estimated_bytes_full_n": bytes_for(t.n),
               "memory_budget_bytes": budget}
        if n_sub < 2 or args.no_jacobian:
            row["n"] = t.n
            row["skipped"] = ("--no-jacobian" if args.no_jacobian else
                              f"needs ~{bytes_for(t.n) / 1e9:.3g} GB at N={t.n}; "
                              f"no N >= 2 fits the {budget / 1e9:.3g} GB budget")
            print(f"  {name}: skipped ({row['skipped']})", flush=True)
            rows.append(row)
            continue
        if n_sub < t.n:
            row["note"] = (f"needs ~{bytes_for(t.n) / 1e9:.3g} GB at N={t.n}, over the "
                           f"{budget / 1e9:.3g} GB budget: timed at N={n_sub}")
            if n_sub not in kernels:
                res, k = timed(ours, (params, x[:n_sub]), args.repeats)
                kernels[n_sub] = k
                rows.append({"implementation": "ntkbook empirical_ntk", "n": n_sub, **res})
                print(f"  ntkbook at N={n_sub}: {res['median_s']:.4g} s", flush=True)
        res, k = timed(make(), (params, x[:n_sub]), max(1, min(args.repeats, 3)))
        row.update(res, rel_diff_vs_ntkbook=rel_diff(k, kernels[n_sub]))
        rows.append(row)
        print(f"  {name} at N={n_sub}: {res['median_s']:.4g} s, compile "
              f"{res['compile_s']:.2f} s, rel. diff {row['rel_diff_vs_ntkbook']:.1e}", flush=True)
        del k
    record["checks"] = evaluate(t, rows, args.quick)
    return record


def ntkbook_row(rows: list[dict], n: int) -> dict:
    return next(r for r in rows if r["implementation"].startswith("ntkbook") and r["n"] == n)


def agreement_tolerance(dtype: str) -> float:
    return 1e-10 if dtype == "float64" else 1e-4


def evaluate(t: Target, rows: list[dict], quick: bool) -> list[dict]:
    """PASS/FAIL/SKIP for each of the target's criteria, and every row's ratio to ntkbook.

    With ``quick`` the speed criteria are reported as INFO: at tiny sizes dispatch overhead,
    not arithmetic, sets the times. Agreement and recompilation are checked at any size.
    """
    ours = ntkbook_row(rows, t.n)
    nt = next((r for r in rows if r["implementation"].startswith("neural-tangents")), None)
    for row in rows:
        if "median_s" in row:
            row["ratio_to_ntkbook"] = row["median_s"] / ntkbook_row(rows, row["n"])["median_s"]
            if nt is not None and "median_s" in nt and nt["n"] == row["n"]:
                row["ratio_to_nt"] = row["median_s"] / nt["median_s"]
    checks = []

    def check(name: str, ok: bool | None, detail: str, speed: bool = True) -> None:
        status = "SKIP" if ok is None else ("PASS" if ok else "FAIL")
        if quick and speed and ok is not None:
            status, detail = "INFO", detail + " (quick sizes: not the target)"
        checks.append({"check": name, "status": status, "detail": detail})

    tol = agreement_tolerance(t.dtype)
    for row in rows:
        if "rel_diff_vs_ntkbook" in row:
            check(f"{t.name}: {row['implementation']} agrees with ntkbook (N={row['n']})",
                  row["rel_diff_vs_ntkbook"] <= tol,
                  f"max |difference| / max |kernel| = {row['rel_diff_vs_ntkbook']:.1e} "
                  f"(tolerance {tol:g})", speed=False)

    if t.max_nt_ratio is not None:
        if nt is None or "median_s" not in nt:
            check(f"{t.name}: ntkbook <= {t.max_nt_ratio} x neural-tangents", None,
                  "not run (--with-nt)" if nt is None else nt.get("error", "failed"))
        else:
            ratio = ours["median_s"] / nt["median_s"]
            ours_platform = jax.devices()[0].platform
            same_device = nt.get("platform") == ours_platform
            check(f"{t.name}: ntkbook <= {t.max_nt_ratio} x neural-tangents",
                  ratio <= t.max_nt_ratio if same_device else None,
                  ("" if same_device else f"NOT COMPARABLE: NT ran on {nt.get('platform')}, "
                   f"ntkbook on {ours_platform} (see README). ") +
                  f"ntkbook/NT = {ratio:.3f} ({ours['median_s']:.4g} s vs "
                  f"{nt['median_s']:.4g} s; paired per-call ratio "
                  f"{nt['paired_ratio_median']:.3f}). Plain forward pass: "
                  f"{ours['forward_median_s']:.3g} s in jax {jax.__version__}, "
                  f"{nt['forward_median_s']:.3g} s in NT's jax {nt['jax']}")
            # The two run different XLA versions: compare each kernel with its own forward pass.
            normalised = (ours["median_s"] / ours["forward_median_s"]) / (
                nt["median_s"] / nt["forward_median_s"])
            nt["ratio_normalised_by_forward"] = normalised
            checks.append({
                "check": f"{t.name}: ntkbook/NT in units of each one's forward pass",
                "status": "INFO",
                "detail": f"{normalised:.3f}: ntkbook = "
                          f"{ours['median_s'] / ours['forward_median_s']:.2f} forward passes, "
                          f"NT = {nt['median_s'] / nt['forward_median_s']:.2f}; roughly the "
                          "part of the speed-up not owed to the newer JAX",
            })
    if t.min_jacobian_speedup is not None:
        jac = next(r for r in rows if r["implementation"].startswith("explicit Jacobian (jacrev"))
        if "median_s" not in jac:
            check(f"{t.name}: Jacobian >= {t.min_jacobian_speedup:g} x ntkbook", None,
                  jac.get("skipped", "not run"))
        else:
            speedup = jac["ratio_to_ntkbook"]
            detail = f"Jacobian/ntkbook = {speedup:.1f} at N={jac['n']}"
            if jac["n"] < t.n:
                # The Jacobian's cost grows at least linearly in N: a lower bound at full N.
                bound = jac["median_s"] * t.n / jac["n"] / ours["median_s"]
                jac["speedup_lower_bound_full_n"] = bound
                detail += f" (it does not fit at N={t.n}; there >= {bound:.1f} by linear scaling)"
            check(f"{t.name}: Jacobian >= {t.min_jacobian_speedup:g} x ntkbook",
                  speedup >= t.min_jacobian_speedup, detail)
    if t.max_seconds is not None:
        check(f"{t.name}: ntkbook < {t.max_seconds:g} s", ours["median_s"] < t.max_seconds,
              f"{ours['median_s']:.4g} s median of {len(ours['times_s'])}")
    for row in rows:
        if row.get("recompiles_new_values") is not None:
            check(f"{t.name}: {row['implementation']}: new values, same shape, no recompilation",
                  row["recompiles_new_values"] == 0,
                  f"{row['recompiles_new_values']} compilations, {row['new_values_s']:.4g} s "
                  f"(steady {row['median_s']:.4g} s)", speed=False)
    return checks


def print_table(records: list[dict]) -> None:
    print()
    header = (f"{'target':<6} {'implementation':<52} {'N':>5} {'seconds':>9} {'compile s':>9} "
              f"{'vs ntkbook':>10} {'vs NT':>7} {'rel diff':>8}")
    print(header)
    print("-" * len(header))
    for rec in records:
        for row in rec["rows"]:
            name = row["implementation"]
            if "median_s" not in row:
                why = row.get("skipped") or row.get("error", "")
                print(f"{rec['target']['name']:<6} {name:<52} {row['n']:>5} "
                      f"{'-':>9} {'-':>9} {'-':>10} {'-':>7} {'-':>8}  {why[:70]}")
                continue
            diff, vs_nt = row.get("rel_diff_vs_ntkbook"), row.get("ratio_to_nt")
            print(f"{rec['target']['name']:<6} {name:<52} {row['n']:>5} {row['median_s']:>9.4g} "
                  f"{row['compile_s']:>9.2f} {row['ratio_to_ntkbook']:>9.3g}x "
                  f"{'' if vs_nt is None else f'{vs_nt:.3g}x':>7} "
                  f"{'' if diff is None else f'{diff:.1e}':>8}")
    print()
    for rec in records:
        for c in rec["checks"]:
            print(f"{c['status']:<5} {c['check']}: {c['detail']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument("--with-nt", action="store_true",
                        help="also time neural-tangents 0.6.5 (creates benchmarks/.venv-nt)")
    parser.add_argument("--targets", default="A,B", help="comma separated, of A,B")
    parser.add_argument("--repeats", type=int, default=9, help="timed calls after warm-up")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jacobian-mem-gb", type=float, default=4.0,
                        help="memory the explicit Jacobian may use (also at most 60%% of what "
                        "is available); over it, it is timed at the largest N that fits")
    parser.add_argument("--no-jacobian", action="store_true", help="skip the explicit Jacobians")
    parser.add_argument("--nt-timeout", type=float, default=900.0,
                        help="seconds neural-tangents may take for one answer")
    parser.add_argument("--out", type=Path, help="JSON record (default _build/benchmarks/...)")
    parser.add_argument("--strict", action="store_true", help="exit 1 if any check fails")
    args = parser.parse_args(argv)

    perf.compile_counter()  # count compilations from the start
    load_start = os.getloadavg()
    args.nt_error = ensure_nt_venv() if args.with_nt else None
    wanted = {s.strip() for s in args.targets.split(",") if s.strip()}
    chosen = [t for t in targets(args.quick) if t.name in wanted]
    device = jax.devices()[0]
    print(f"device: {device} ({device.device_kind}), {os.cpu_count()} CPUs ({cpu_model()}), "
          f"jax {jax.__version__}", flush=True)
    records = [bench_target(t, args) for t in chosen]
    print_table(records)
    out = args.out or ROOT / "_build" / "benchmarks" / (
        "kernel_quick.json" if args.quick else "kernel.json")
    atomic_write_json(out, {
        "quick": args.quick, "seed": args.seed, "repeats": args.repeats,
        "device": str(device), "device_kind": device.device_kind,
        "cpu_count": os.cpu_count(), "cpu_model": cpu_model(),
        "load_average_start": load_start, "load_average_end": os.getloadavg(),
        "versions": versions(), "argv": sys.argv[1:] if argv is None else argv,
        "targets": records,
        "all_pass": all(c["status"] != "FAIL" for r in records for c in r["checks"]),
    })
    print(f"\nwrote {out}")
    failed = any(c["status"] == "FAIL" for r in records for c in r["checks"])
    return 1 if (failed and args.strict) else 0


if __name__ == "__main__":
    sys.exit(main())
