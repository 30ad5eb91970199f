"""Many runs at once: :func:`run_hybrid` for every spec, on an executor, cached by content."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor
from pathlib import Path

from ntkbook.experiments.hybrid.record import HybridRun
from ntkbook.experiments.hybrid.run import run_hybrid
from ntkbook.experiments.hybrid.spec import HybridSpec
from ntkbook.experiments.hybrid.task import Task
from ntkbook.store import cache
from ntkbook.store.executor import InProcessExecutor
from ntkbook.store.hashing import content_hash

#: The module whose source closure (it and every ntkbook module it imports) keys the run cache.
RUN_CODE = ("ntkbook.experiments.hybrid.run",)


def run_key(spec: HybridSpec, task_fingerprint: str) -> str:
    """The cache key of one run: the spec, the data and the source of the code that runs it."""
    return content_hash(spec.to_dict(), task_fingerprint, code=RUN_CODE)


def run_sweep(
    specs: Sequence[HybridSpec],
    task: Task,
    *,
    executor: Executor | None = None,
    cache_dir: Path | None = None,
) -> list[HybridRun]:
    """:func:`run_hybrid` for every spec, on ``executor`` (in-process by default), cached.

    Each run is one task ``run_hybrid(spec_dict, task)``: a module-level function with plain
    arguments, so a Dask ``client.get_executor()`` runs it as well. Results are cached under
    ``cache_dir`` as JSON (:meth:`HybridRun.to_json`) by :func:`run_key`.

    Returns:
        The records in the order of ``specs``.
    """
    executor = executor or InProcessExecutor()
    fingerprint = task.fingerprint()
    keys = [run_key(s, fingerprint) for s in specs]
    cached = [cache.load_json(cache_dir, "hybrid", k) for k in keys]
    results: list[HybridRun | None] = [None if c is None else HybridRun.from_json(c)
                                       for c in cached]
    futures = {i: executor.submit(run_hybrid, s.to_dict(), task)
               for i, s in enumerate(specs) if results[i] is None}
    for i, future in futures.items():
        results[i] = future.result()
        cache.save_json(cache_dir, "hybrid", keys[i], results[i].to_json())
    return results
