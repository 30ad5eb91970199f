"""Tiny synthetic hybrid-training tasks for the tests: Gaussian inputs, ten classes or a linear
regression target, with train / val / test splits of ``n`` / 11 / 13 rows."""

import numpy as np

from ntkbook.experiments import hybrid


def tiny_task(kind: str, n: int = 37, d: int = 3, seed: int = 0) -> hybrid.Task:
    """A :class:`~ntkbook.experiments.hybrid.Task` of ``kind`` with ``d`` input features."""
    rng = np.random.default_rng(seed)
    splits = {}
    for split, size in (("train", n), ("val", 11), ("test", 13)):
        x = rng.standard_normal((size, d))
        y = rng.integers(0, 10, size) if kind == hybrid.CLASSIFICATION \
            else 5.0 + x @ np.array([1.0, -0.5, 0.25])
        splits[split] = (x, y)
    return hybrid.make_task(f"tiny-{kind}", kind, splits)
