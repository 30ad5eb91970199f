"""The data and the network of the hybrid experiments: a split data set (:class:`Task`), the
thesis' MLP, whole-split evaluation, the NTK subset of a run, and the run's SGD phase replayed to
any epoch (:func:`sgd_to_epoch`, so that other chapters start from the same switch points).

**Metrics.** Classification: cross-entropy and accuracy. Regression: MSE and
``NRMSE = RMSE / mean(y)`` of the same split (the thesis' Table 1 is consistent with this: e.g.
``sqrt(0.66) / 0.1433 = 5.67``, the mean quality of the test wines).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ntkbook.core.mlp import MLP, Params
from ntkbook.dynamics.sgd import (
    CLASSIFICATION,
    REGRESSION,
    epoch_batches,
    example_losses,
    sgd_epoch,
)
from ntkbook.experiments.hybrid.spec import BATCH_SIZE, LEARNING_RATE
from ntkbook.store.hashing import content_hash

# --------------------------------------------------------------------------- tasks


@dataclass(frozen=True, eq=False)
class Task:
    """A data set split for the hybrid experiments.

    Attributes:
        name: ``"fmnist"`` or ``"wine"``.
        kind: ``"classification"`` (labels, 10 logits) or ``"regression"`` (one output).
        x_train, x_val, x_test: ``(n, d)`` float32 inputs.
        y_train, y_val, y_test: ``(n,)`` int32 labels or float32 targets.
    """

    name: str
    kind: str
    x_train: np.ndarray = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    x_val: np.ndarray = field(repr=False)
    y_val: np.ndarray = field(repr=False)
    x_test: np.ndarray = field(repr=False)
    y_test: np.ndarray = field(repr=False)

    @property
    def n_outputs(self) -> int:
        return 10 if self.kind == CLASSIFICATION else 1

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])

    def ntk_targets(self, index: np.ndarray) -> np.ndarray:
        """Targets of the NTK phase for training rows ``index``: one-hot (classification, shape
        ``(k, 10)``) or the values (``(k, 1)``)."""
        y = self.y_train[index]
        if self.kind == CLASSIFICATION:
            return np.eye(self.n_outputs, dtype=np.float32)[y]
        return y.astype(np.float32)[:, None]

    def with_train_size(self, n: int | None) -> Task:
        """The task with only the first ``n`` training rows (None or ``n >= N``: unchanged)."""
        if n is None or n >= self.n_train:
            return self
        if n < 1:
            raise ValueError(f"the training set needs at least one row, got {n}")
        return dataclasses.replace(self, x_train=self.x_train[:n], y_train=self.y_train[:n])

    def fingerprint(self) -> str:
        """Content hash of the arrays (for caches)."""
        return content_hash(self.name, self.kind, self.x_train, self.y_train, self.x_val,
                                  self.y_val, self.x_test, self.y_test)


def make_task(name: str, kind: str, splits: dict) -> Task:
    """A :class:`Task` from ``{"train"|"val"|"test": (x, y)}`` arrays (cast to float32 / int32)."""
    if kind not in (CLASSIFICATION, REGRESSION):
        raise ValueError(f"kind must be {CLASSIFICATION!r} or {REGRESSION!r}, got {kind!r}")
    ydt = np.int32 if kind == CLASSIFICATION else np.float32
    arrays = {}
    for split in ("train", "val", "test"):
        x, y = splits[split]
        arrays[f"x_{split}"] = np.ascontiguousarray(x, dtype=np.float32)
        arrays[f"y_{split}"] = np.ascontiguousarray(y, dtype=ydt)
    return Task(name, kind, **arrays)


def load_task(name: str, split_seed: int = 0) -> Task:
    """Fashion-MNIST (42k/14k/14k, pixels / 255) or Wine red (959/320/320, standardised on the
    training split), as split by :mod:`ntkbook.data`."""
    from ntkbook import data

    if name == "fmnist":
        return make_task(name, CLASSIFICATION,
                         data.fashion_mnist_splits(data.load_fashion_mnist(), seed=split_seed))
    if name == "wine":
        wine = data.load_wine_quality()
        return make_task(name, REGRESSION,
                         data.wine_splits(wine.features, wine.quality, seed=split_seed))
    raise ValueError(f"unknown task {name!r}; choose 'fmnist' or 'wine'")


def network(task: Task, width: int) -> MLP:
    """The thesis' MLP: ``d -> width -> width -> outputs``, ReLU, standard parametrisation."""
    return MLP((task.x_train.shape[1], int(width), int(width), task.n_outputs), "relu",
               "standard")


# --------------------------------------------------------------------------- losses, metrics


@partial(jax.jit, static_argnames=("net", "kind"))
def _evaluate(net: MLP, kind: str, params: Params, x: jax.Array, y: jax.Array):
    out = net.apply(params, x)
    losses = example_losses(kind, out, y)
    if kind == CLASSIFICATION:
        hits = jnp.mean((jnp.argmax(out, axis=1) == y).astype(jnp.float32))
    else:
        hits = jnp.mean(losses)
    return jnp.mean(losses), hits


def evaluate(net: MLP, params: Params, x, y, kind: str) -> tuple[float, float]:
    """``(loss, metric)`` on a whole split: (cross-entropy, accuracy) or (MSE, NRMSE).

    NRMSE is ``sqrt(MSE) / mean(y)``. Returns NaN for outputs that are NaN/Inf.
    """
    loss, hits = _evaluate(net, kind, params, x, y)
    loss = float(loss)
    if kind == CLASSIFICATION:
        return loss, float(hits)
    if not np.isfinite(loss):
        return loss, float("nan")
    return loss, math.sqrt(loss) / float(np.mean(np.asarray(y)))


# --------------------------------------------------------------------------- SGD


def ntk_subset(task: Task, seed: int, n: int | None) -> np.ndarray:
    """Sorted training rows of a run's NTK subset: ``n`` rows drawn with the run's ``seed``
    (None or ``n = N``: every row, in order). The same rows as :func:`run_hybrid` uses."""
    n_sub = task.n_train if n is None else int(n)
    if not 1 <= n_sub <= task.n_train:
        raise ValueError(f"kernel_samples must be in 1..{task.n_train}, got {n_sub}")
    if n_sub == task.n_train:
        return np.arange(task.n_train)
    return np.sort(np.random.default_rng([seed, 2]).permutation(task.n_train)[:n_sub])


def batch_rng(seed: int) -> np.random.Generator:
    """The NumPy generator of a run's batch order (epoch after epoch)."""
    return np.random.default_rng([seed, 1])


def sgd_to_epoch(task: Task, width: int, seed: int, epoch: int, *, params: Params | None = None,
                 from_epoch: int = 0, learning_rate: float = LEARNING_RATE,
                 batch_size: int = BATCH_SIZE) -> Params:
    """The parameters of :func:`run_hybrid`'s SGD phase after ``epoch`` epochs.

    Same network, initialisation and batch order as the run with this ``task``, ``width`` and
    ``seed``, so other chapters can start from the hybrid chapter's switch points. With
    ``params`` (the parameters after ``from_epoch`` epochs) it continues from there; the batch
    order of the skipped epochs is drawn and discarded.

    Returns:
        The parameters, float32, on the default device (not yet blocked on).
    """
    if not 0 <= from_epoch <= epoch:
        raise ValueError(f"need 0 <= from_epoch <= epoch, got {from_epoch} and {epoch}")
    if (params is None) != (from_epoch == 0):
        raise ValueError("pass params exactly when continuing from an epoch > 0")
    net = network(task, width)
    if params is None:
        params = net.init(jax.random.PRNGKey(seed), jnp.float32)
    rng = batch_rng(seed)
    x, y = jnp.asarray(task.x_train), jnp.asarray(task.y_train)
    for e in range(1, epoch + 1):
        index, mask = epoch_batches(task.n_train, batch_size, rng)
        if e > from_epoch:
            params = sgd_epoch(net, params, x, y, index, mask, learning_rate, task.kind)
    return params
