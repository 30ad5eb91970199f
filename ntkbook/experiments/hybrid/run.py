"""Hybrid SGD -> NTK training (Sarvanau 2025): tasks, SGD epochs, monitored runs and sweeps.

A *run* (:func:`run_hybrid`) trains one network (two ReLU hidden layers of equal width, standard
parametrisation, Glorot-normal weights, zero biases) with minibatch SGD for the whole protocol,
``E`` epochs, and records after every epoch the validation and test loss and metric and the three
switch metrics of :mod:`ntkbook.heuristics`. Given thresholds, it then branches at each
heuristic's switch epoch ``s`` into every NTK update of :mod:`ntkbook.ntk_updates` (NTK1, NTK2,
NTK3; faithful and consistent), from the very parameters SGD had at ``s``. Pure SGD from ``s`` to
``E`` is the continuation of the same run, so its seconds and the NTK methods' seconds are
measured in the same run.

**SGD.** Learning rate 0.007, batch 128; every epoch is a fresh permutation of the training set cut
into ``ceil(N / 128)`` batches, the last one shorter (as in the thesis' code: 329 steps per epoch
for Fashion-MNIST, 8 for Wine), and runs as one jitted ``lax.scan`` (the short batch is padded and
masked, so each step descends the mean loss of its real examples). Fashion-MNIST trains on the
mean cross-entropy of the 10 logits, Wine on the mean squared error of its one output.

**Metrics.** Classification: cross-entropy and accuracy. Regression: MSE and
``NRMSE = RMSE / mean(y)`` of the same split (the thesis' Table 1 is consistent with this: e.g.
``sqrt(0.66) / 0.1433 = 5.67``, the mean quality of the test wines).

**The NTK phase** works on a subset (2000 random training images for Fashion-MNIST, the whole
training set for Wine) with the squared loss's residual ``f - Y`` (one-hot ``Y`` for the 10
logits, the quality for Wine) and, for Fashion-MNIST, also with the cross-entropy's
``softmax(f) - Y`` (:meth:`ntkbook.ntk_updates.SubsetKernel.residual`). A method *diverged* if its
gains overflow, its parameters or outputs are NaN/Inf, or the loss matching its residual grows on
the subset by more than ``divergence_factor`` over the loss at the switch; such a result is kept
only as a count and a reason, never as a number to average or plot.

The optional measurements at the first switch of a run (:class:`HybridSpec`'s
``full_kernel_samples`` and ``literal_ntk1_steps``) compare the mean-over-outputs kernel with the
full one, the default pseudoinverse cutoff with the worst-case float32 one, one LAPACK thread with
several, and time NTK1 done step by step.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

from ntkbook.core import kernel, mlp
from ntkbook.core.kernel import empirical_ntk
from ntkbook.core.mlp import MLP, Params
from ntkbook.dynamics import flow
from ntkbook.dynamics import updates as ntk_updates
from ntkbook.dynamics.sgd import (
    CLASSIFICATION,
    REGRESSION,
    epoch_batches,
    example_losses,
    sgd_epoch,
    sgd_steps,
)
from ntkbook.dynamics.updates import METHODS, VARIANTS, ReplacedSGD
from ntkbook.experiments.hybrid import heuristics
from ntkbook.store import cache

#: The thesis' protocol per data set: epochs, NTK subset (None = the whole training set), the
#: loss scale ``c`` that makes the consistent NTK phase move like the SGD it replaces, and the
#: residuals the NTK phase is run with (:meth:`ntkbook.ntk_updates.SubsetKernel.residual`).
TASK_SETTINGS = {
    "fmnist": {"epochs": 15, "kernel_samples": 2000, "loss_scale": 0.5,
               "residuals": ("squared", "softmax")},
    "wine": {"epochs": 20, "kernel_samples": None, "loss_scale": 1.0, "residuals": ("squared",)},
}
LEARNING_RATE = 0.007
BATCH_SIZE = 128


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
        return cache.content_hash(self.name, self.kind, self.x_train, self.y_train, self.x_val,
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


def _batch_rng(seed: int) -> np.random.Generator:
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
    rng = _batch_rng(seed)
    x, y = jnp.asarray(task.x_train), jnp.asarray(task.y_train)
    for e in range(1, epoch + 1):
        index, mask = epoch_batches(task.n_train, batch_size, rng)
        if e > from_epoch:
            params = sgd_epoch(net, params, x, y, index, mask, learning_rate, task.kind)
    return params


# --------------------------------------------------------------------------- one run


@dataclass(frozen=True)
class HybridSpec:
    """Everything one run depends on.

    Attributes:
        dataset: ``"fmnist"`` or ``"wine"``.
        width: hidden width.
        seed: initialisation, batch order and NTK subset.
        epochs: ``E``.
        learning_rate, batch_size: SGD.
        kernel_samples: NTK subset size; None = the whole training set.
        monitor_samples: the fixed monitoring subset (the first rows of the training split).
        spectral_top: leading eigenvalues the spectral metric follows.
        thresholds: ``((heuristic, threshold), ...)``; empty = a scouting run (no NTK phase).
        kernel: ``"mean"`` or ``"full"`` (see :func:`ntkbook.ntk_updates.subset_kernel`).
        loss_scale: ``c`` of the consistent variant (:data:`TASK_SETTINGS`).
        residuals: residuals of the NTK phase (``"squared"``, ``"softmax"``).
        divergence_factor: growth of the subset loss that counts as divergence.
        match_faithful_flow: also continue SGD for the flow time of the faithful NTK3.
        full_kernel_samples: if > 0, the first branch also compares the mean-over-outputs
            kernel with the exact full kernel on that many subset samples (:func:`_extras`).
        literal_ntk1_steps: if > 0, the first branch also times that many literal NTK1 steps
            (:func:`ntkbook.ntk_updates.ntk1_descent`) on the subset.
        evaluate_test: record the test loss and metric after every epoch (NaN otherwise, e.g.
            for scouting runs, which need only the validation set).
    """

    dataset: str
    width: int
    seed: int
    epochs: int
    learning_rate: float = LEARNING_RATE
    batch_size: int = BATCH_SIZE
    kernel_samples: int | None = None
    monitor_samples: int = 200
    spectral_top: int = 10
    thresholds: tuple[tuple[str, float], ...] = ()
    kernel: str = "mean"
    loss_scale: float = 0.5
    residuals: tuple[str, ...] = ("squared",)
    divergence_factor: float = 10.0
    match_faithful_flow: bool = True
    full_kernel_samples: int = 0
    literal_ntk1_steps: int = 0
    evaluate_test: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


def spec_for(dataset: str, width: int, seed: int, thresholds: dict | None = None,
             **overrides) -> HybridSpec:
    """A :class:`HybridSpec` with the thesis' settings for ``dataset`` (:data:`TASK_SETTINGS`)."""
    settings = TASK_SETTINGS[dataset]
    values = {k: settings[k] for k in ("epochs", "kernel_samples", "loss_scale", "residuals")}
    values.update(overrides)
    pairs = tuple(sorted((k, float(v)) for k, v in (thresholds or {}).items()))
    return HybridSpec(dataset, int(width), int(seed), thresholds=pairs, **values)


def replaced_for(task: Task, switch_epoch: int, epochs: int | None = None,
                 kernel_samples: int | None | str = "default") -> ReplacedSGD:
    """The SGD an NTK update replaces when ``task`` (thesis settings) switches at
    ``switch_epoch``: for time-scale tables before any run."""
    settings = TASK_SETTINGS[task.name]
    epochs = settings["epochs"] if epochs is None else int(epochs)
    n_kernel = settings["kernel_samples"] if kernel_samples == "default" else kernel_samples
    n_kernel = task.n_train if n_kernel is None else min(int(n_kernel), task.n_train)
    if not 1 <= switch_epoch < epochs:
        raise ValueError(f"switch_epoch must be in 1..{epochs - 1}, got {switch_epoch}")
    return ReplacedSGD(LEARNING_RATE, math.ceil(task.n_train / BATCH_SIZE),
                       epochs - switch_epoch, epochs, task.n_train, n_kernel,
                       settings["loss_scale"])


def scouting_specs(dataset: str, width: int, seeds: Sequence[int], **overrides) -> list:
    """Pure-SGD scouting runs (no thresholds, hence no NTK phase, no test set), one per seed."""
    return [spec_for(dataset, width, s, **{"evaluate_test": False} | overrides) for s in seeds]


def main_specs(dataset: str, widths: Sequence[int], seeds: Sequence[int], thresholds: dict,
               *, extras_width: int | None = None, full_kernel_samples: int = 0,
               literal_ntk1_steps: int = 0, **overrides) -> list:
    """The hybrid runs: every width x seed with ``thresholds``. At ``extras_width`` every seed
    also continues SGD for the faithful NTK3's flow time and the first seed makes the optional
    measurements (see :class:`HybridSpec`); at other widths neither."""
    specs = []
    for width in widths:
        for i, seed in enumerate(seeds):
            extra = width == extras_width and i == 0
            specs.append(spec_for(dataset, width, seed, thresholds, **overrides,
                                  match_faithful_flow=width == extras_width,
                                  full_kernel_samples=full_kernel_samples if extra else 0,
                                  literal_ntk1_steps=literal_ntk1_steps if extra else 0))
    return specs


def _tree_distance(a: Params, b: Params) -> float:
    return math.sqrt(sum(float(np.sum((np.asarray(x, np.float64) - np.asarray(y)) ** 2))
                         for x, y in zip(jax.tree_util.tree_leaves(a),
                                         jax.tree_util.tree_leaves(b), strict=True)))


def _finite_tree(params: Params) -> bool:
    return all(bool(jnp.all(jnp.isfinite(p))) for p in jax.tree_util.tree_leaves(params))


def _clean(values) -> list:
    """Floats with NaN/Inf as None (JSON)."""
    return [None if v is None or not np.isfinite(v) else float(v) for v in np.ravel(values)]


class _Context:
    """Device copies of the data and the pieces every part of a run needs."""

    def __init__(self, spec: HybridSpec, task: Task) -> None:
        if task.name != spec.dataset:
            raise ValueError(f"spec is for {spec.dataset!r} but the task is {task.name!r}")
        self.spec, self.task = spec, task
        self.net = network(task, spec.width)
        self.kind = task.kind
        self.x = jnp.asarray(task.x_train)
        self.y = jnp.asarray(task.y_train)
        self.x_val, self.y_val = jnp.asarray(task.x_val), jnp.asarray(task.y_val)
        self.x_test, self.y_test = jnp.asarray(task.x_test), jnp.asarray(task.y_test)
        self.x_monitor = jnp.asarray(task.x_train[: spec.monitor_samples])
        self.subset = ntk_subset(task, spec.seed, spec.kernel_samples)
        self.x_sub = jnp.asarray(task.x_train[self.subset])
        self.t_sub = task.ntk_targets(self.subset)
        self.steps_per_epoch = math.ceil(task.n_train / spec.batch_size)

    def evaluate(self, params: Params, split: str) -> tuple[float, float]:
        x, y = (self.x_val, self.y_val) if split == "val" else (self.x_test, self.y_test)
        return evaluate(self.net, params, x, y, self.kind)


_WARM: set = set()


def _warm_up(ctx: _Context, params: Params) -> None:
    """Compile the kernel, forward and VJP at the subset's shapes once per process, so that
    the NTK phase is timed without compilation (SGD's timed epochs are compiled too)."""
    key = (ctx.net, int(ctx.x_sub.shape[0]), ctx.spec.kernel)
    if key in _WARM:
        return
    ntk_updates.subset_kernel(ctx.net, params, ctx.x_sub, ctx.t_sub, kind=ctx.spec.kernel)
    coef = np.zeros(ctx.t_sub.shape)
    jax.block_until_ready(ntk_updates.apply_update(ctx.net, params, ctx.x_sub, coef))
    _WARM.add(key)


def _record_epoch(ctx: _Context, params: Params, theta0: np.ndarray, history: dict,
                  epoch: int) -> None:
    """Append the validation and test records and the monitoring kernel's distance from
    ``theta0`` and leading eigenvalues; stop with a clear error if SGD diverged."""
    spec = ctx.spec
    for split in ("val", "test") if spec.evaluate_test else ("val",):
        loss, metric = ctx.evaluate(params, split)
        history[f"{split}_loss"].append(loss)
        history[f"{split}_metric"].append(metric)
    if not spec.evaluate_test:
        history["test_loss"].append(float("nan"))
        history["test_metric"].append(float("nan"))
    if not np.isfinite(history["val_loss"][-1]):
        raise FloatingPointError(
            f"SGD diverged: the validation loss is NaN/Inf after epoch {epoch} "
            f"({spec.dataset}, width {spec.width}, seed {spec.seed}); lower the learning "
            f"rate {spec.learning_rate:g}"
        )
    theta = np.asarray(empirical_ntk(ctx.net, params, ctx.x_monitor), np.float64)
    history["kernel_distance"].append(float(np.linalg.norm(theta - theta0)))
    top = np.linalg.eigvalsh(0.5 * (theta + theta.T))[::-1][: spec.spectral_top]
    history["top_eigenvalues"].append(top.tolist())


def _sgd_phase(ctx: _Context, params: Params) -> tuple[list[Params], dict]:
    """SGD for ``E`` epochs with every record; returns the parameters after each epoch."""
    spec = ctx.spec
    rng = _batch_rng(spec.seed)
    theta0 = np.asarray(empirical_ntk(ctx.net, params, ctx.x_monitor), np.float64)
    history: dict[str, list] = {k: [] for k in ("val_loss", "val_metric", "test_loss",
                                                "test_metric", "kernel_distance",
                                                "top_eigenvalues", "epoch_seconds")}
    params_list = [params]
    _record_epoch(ctx, params, theta0, history, 0)
    for epoch in range(1, spec.epochs + 1):
        index, mask = epoch_batches(ctx.task.n_train, spec.batch_size, rng)
        tic = time.perf_counter()
        params = jax.block_until_ready(sgd_epoch(ctx.net, params, ctx.x, ctx.y, index, mask,
                                                 spec.learning_rate, ctx.kind))
        history["epoch_seconds"].append(time.perf_counter() - tic)
        params_list.append(params)
        _record_epoch(ctx, params, theta0, history, epoch)
    return params_list, history


def _metrics(params_list: list[Params], history: dict) -> dict[str, list]:
    return {
        "eps": heuristics.param_change_series(params_list, heuristics.WINDOWS["eps"],
                                              distance=_tree_distance),
        "delta": heuristics.kernel_stability_series(history["kernel_distance"]),
        "spectral": heuristics.spectral_series(np.asarray(history["top_eigenvalues"])),
    }


def _method_result(ctx: _Context, params_s: Params, kern, gains: np.ndarray, residual: str,
                   base_seconds: float, curves: bool) -> dict:
    """Apply one method's gains; time it; check for divergence; evaluate."""
    net, spec = ctx.net, ctx.spec
    lam = kern.eigenvalues
    kept = lam > kern.cutoff
    loss_s = ntk_updates.phase_loss(kern.outputs, kern.targets, residual)
    if not np.all(np.isfinite(gains[:, kept])):
        return {"seconds": base_seconds, "max_mode_factor": None, "diverged": True,
                "reason": "the gains overflow: some mode's residual grows without bound (the "
                "step is unstable, see step_stability)", "subset_loss": None,
                "subset_loss_at_switch": loss_s}
    tic = time.perf_counter()
    final = jax.block_until_ready(ntk_updates.apply_update(
        net, params_s, ctx.x_sub, kern.coefficients(gains[-1], residual)))
    seconds = base_seconds + time.perf_counter() - tic
    factors = ntk_updates.residual_factors(lam[kept], gains[-1][kept])
    amplification = float(np.max(np.abs(factors))) if factors.size else 0.0
    result = {"seconds": seconds, "max_mode_factor": _clean([amplification])[0],
              "diverged": False, "reason": ""}
    loss = float("nan")
    if _finite_tree(final):
        out = ntk_updates.outputs(net, final, ctx.x_sub)
        loss = ntk_updates.phase_loss(out, kern.targets, residual) if np.all(np.isfinite(out)) \
            else float("nan")
    if not np.isfinite(loss):
        result.update(diverged=True, reason="NaN/Inf in the updated parameters or outputs")
    elif loss > spec.divergence_factor * loss_s:
        result.update(diverged=True, reason=f"subset loss grew {loss / loss_s:.3g}x "
                      f"(largest mode factor {amplification:.3g})")
    result["subset_loss"] = _clean([loss])[0]
    result["subset_loss_at_switch"] = loss_s
    if result["diverged"]:
        return result
    test_loss, test_metric = ctx.evaluate(final, "test")
    result.update(test_loss=test_loss, test_metric=test_metric)
    points = []
    if curves:
        for g in gains[:-1]:
            p = ntk_updates.apply_update(net, params_s, ctx.x_sub, kern.coefficients(g, residual))
            points.append(ctx.evaluate(p, "val"))
    points.append(ctx.evaluate(final, "val"))
    result["val_loss"] = _clean([p[0] for p in points])
    result["val_metric"] = _clean([p[1] for p in points])
    if not all(v is not None for v in result["val_loss"] + [_clean([test_loss])[0]]):
        result.update(diverged=True, reason="NaN/Inf in the evaluated outputs")
    return result


def _branch(ctx: _Context, params_s: Params, s: int) -> dict:
    """Every NTK method, variant and residual from the switch at epoch ``s``."""
    spec = ctx.spec
    replaced = ReplacedSGD(spec.learning_rate, ctx.steps_per_epoch, spec.epochs - s,
                           spec.epochs, ctx.task.n_train, int(ctx.x_sub.shape[0]),
                           spec.loss_scale)
    kern = ntk_updates.subset_kernel(ctx.net, params_s, ctx.x_sub, ctx.t_sub, kind=spec.kernel)
    base = sum(kern.seconds.values())
    lam = kern.eigenvalues
    out = {"switch_epoch": s, "kernel_seconds": kern.seconds, "lambda_max": float(lam[-1]),
           "cutoff": kern.cutoff, "n_below_cutoff": int(np.sum(lam <= kern.cutoff)),
           "steps_replaced": replaced.steps, "flow_time": replaced.flow_time,
           "step_stability": {v: float(lam[-1]) * spec.learning_rate * (
               replaced.faithful_rate if v == "faithful" else replaced.consistent_rate)
               for v in VARIANTS},
           "methods": {}}
    for method in METHODS:
        computed: list[tuple[np.ndarray, str]] = []
        for variant in VARIANTS:
            tic = time.perf_counter()
            gains = ntk_updates.cumulative_gains(method, variant, lam, replaced)
            gain_seconds = time.perf_counter() - tic
            # e.g. NTK1 faithful = consistent when c = 1/2: the same update, computed once
            twin = next((v for g, v in computed if g.shape == gains.shape
                         and np.array_equal(g, gains)), None)
            for residual in spec.residuals:
                key = f"{method}/{variant}/{residual}"
                if twin is not None:
                    out["methods"][key] = dict(out["methods"][f"{method}/{twin}/{residual}"])
                else:
                    out["methods"][key] = _method_result(
                        ctx, params_s, kern, gains, residual, base + gain_seconds,
                        curves=method != "NTK3")
            computed.append((gains, variant))
    if spec.match_faithful_flow:
        out["methods"]["SGD/faithful-NTK3-time"] = _sgd_for_flow_time(ctx, params_s, replaced)
    return out


def _full_kernel_comparison(ctx: _Context, params_s: Params, replaced: ReplacedSGD) -> dict:
    """Mean-over-outputs kernel (x) I against the exact full kernel on the first
    ``full_kernel_samples`` subset rows: the kernels' gap and NTK3 (consistent) with each."""
    spec, net = ctx.spec, ctx.net
    n = min(spec.full_kernel_samples, int(ctx.x_sub.shape[0]))
    x, y = ctx.x_sub[:n], ctx.t_sub[:n]
    small = dataclasses.replace(replaced, n_kernel=n)
    full_k = flow.flat_ntk(net, params_s, x)
    kron = np.kron(np.asarray(empirical_ntk(net, params_s, x), np.float64), np.eye(net.n_outputs))
    blocks = full_k.reshape(n, net.n_outputs, n, net.n_outputs)
    out = {"samples": n,
           "kernel_rel_gap": float(np.linalg.norm(full_k - kron) / np.linalg.norm(full_k)),
           "off_diagonal_share": float(np.sqrt(max(0.0, 1.0 - np.sum(
               np.einsum("iojo->ijo", blocks) ** 2) / np.sum(full_k**2))))}
    flat0 = flow.flatten_params(params_s)
    moves: dict = {}
    for kind in ("mean", "full"):
        kern = ntk_updates.subset_kernel(net, params_s, x, y, kind=kind)
        out[f"seconds_kernel_eigh_{kind}"] = sum(kern.seconds.values())
        gains = ntk_updates.cumulative_gains("NTK3", "consistent", kern.eigenvalues, small)[-1]
        for residual in spec.residuals:
            new = ntk_updates.apply_update(net, params_s, x, kern.coefficients(gains, residual))
            moves[kind, residual] = flow.flatten_params(new) - flat0
            loss, metric = ctx.evaluate(new, "test")
            out[f"test_loss_{kind}_{residual}"] = loss
            out[f"test_metric_{kind}_{residual}"] = metric
    for residual in spec.residuals:
        diff = moves["mean", residual] - moves["full", residual]
        out[f"update_rel_diff_{residual}"] = float(
            np.linalg.norm(diff) / np.linalg.norm(moves["full", residual]))
    return out


def _cutoff_comparison(ctx: _Context, params_s: Params, replaced: ReplacedSGD) -> dict:
    """NTK3 (consistent) with the default cutoff ``M eps(float64)`` against the worst-case
    float32 cutoff ``M eps(float32)``: eigen-directions dropped, update difference, test metric."""
    net, spec = ctx.net, ctx.spec
    kern = ntk_updates.subset_kernel(net, params_s, ctx.x_sub, ctx.t_sub, kind=spec.kernel)
    m = kern.eigenvalues.shape[0]
    worst = dataclasses.replace(kern, cutoff=flow.pinv_cutoff(
        kern.eigenvalues, m * float(np.finfo(np.float32).eps)))
    gains = ntk_updates.cumulative_gains("NTK3", "consistent", kern.eigenvalues, replaced)[-1]
    flat0 = flow.flatten_params(params_s)
    out = {"eigenvalues": m, "lambda_max": float(kern.eigenvalues[-1])}
    for name, k in (("float64", kern), ("float32", worst)):
        out[f"cutoff_{name}"] = k.cutoff
        out[f"dropped_{name}"] = int(np.sum(k.eigenvalues <= k.cutoff))
    for residual in spec.residuals:
        moves = {}
        for name, k in (("float64", kern), ("float32", worst)):
            new = ntk_updates.apply_update(net, params_s, ctx.x_sub,
                                           k.coefficients(gains, residual))
            moves[name] = flow.flatten_params(new) - flat0
            out[f"test_metric_{name}_{residual}"] = ctx.evaluate(new, "test")[1]
        out[f"update_rel_diff_{residual}"] = float(
            np.linalg.norm(moves["float32"] - moves["float64"]) / np.linalg.norm(moves["float64"]))
    return out


def _eigh_threads(ctx: _Context, params_s: Params) -> dict:
    """Seconds of the subset kernel's float64 eigendecomposition with one LAPACK thread (what
    the NTK phase uses) and with one per core, on the same matrix, back to back."""
    theta = np.asarray(empirical_ntk(ctx.net, params_s, ctx.x_sub), np.float64)
    out = {}
    for threads in sorted({1, os.cpu_count() or 1}):
        with ntk_updates.lapack_threads(threads):
            tic = time.perf_counter()
            scipy.linalg.eigh(theta, driver="evd", check_finite=False)
            out[str(threads)] = time.perf_counter() - tic
    return out


def _literal_ntk1(ctx: _Context, params_s: Params, replaced: ReplacedSGD, loss_s: float) -> dict:
    """Seconds per step of NTK1 done literally (one JVP and one VJP per step) on the subset,
    and the subset loss after those steps (with the SGD's step, as the consistent NTK1)."""
    steps = int(ctx.spec.literal_ntk1_steps)
    run = partial(ntk_updates.ntk1_descent, ctx.net, params_s, ctx.x_sub, ctx.t_sub,
                  rate=replaced.consistent_rate, step=replaced.learning_rate)
    jax.block_until_ready(run(n_steps=steps))  # compile
    tic = time.perf_counter()
    new = jax.block_until_ready(run(n_steps=steps))
    seconds = time.perf_counter() - tic
    out = ntk_updates.outputs(ctx.net, new, ctx.x_sub)
    loss = ntk_updates.phase_loss(out, ctx.t_sub, "squared") if np.all(np.isfinite(out)) \
        else float("nan")
    return {"steps": steps, "seconds_per_step": seconds / steps,
            "extrapolated_seconds": seconds / steps * replaced.steps,
            "subset_loss_at_switch": loss_s, "subset_loss_after": _clean([loss])[0]}


def _sgd_for_flow_time(ctx: _Context, params_s: Params, replaced: ReplacedSGD) -> dict:
    """SGD from the switch for the flow time the faithful NTK3 integrates."""
    spec = ctx.spec
    steps = max(1, round(replaced.equivalent_flow_time("faithful") / spec.learning_rate))
    tic = time.perf_counter()
    params = jax.block_until_ready(sgd_steps(
        ctx.net, params_s, ctx.x, ctx.y, steps, spec.batch_size, spec.learning_rate, ctx.kind,
        np.random.default_rng([spec.seed, 3, replaced.epochs_replaced])))
    seconds = time.perf_counter() - tic
    test_loss, test_metric = ctx.evaluate(params, "test")
    diverged = not np.isfinite(test_loss)
    return {"steps": steps, "epochs": steps / ctx.steps_per_epoch, "seconds": seconds,
            "test_loss": _clean([test_loss])[0], "test_metric": _clean([test_metric])[0],
            "diverged": diverged, "reason": "NaN/Inf test loss" if diverged else ""}


def _extras(ctx: _Context, params_list: list[Params], branches: dict) -> dict:
    """The optional measurements at the first switch point (see :class:`HybridSpec`)."""
    spec = ctx.spec
    s = min(int(k) for k in branches)
    replaced = ReplacedSGD(spec.learning_rate, ctx.steps_per_epoch, spec.epochs - s,
                           spec.epochs, ctx.task.n_train, int(ctx.x_sub.shape[0]),
                           spec.loss_scale)
    out: dict = {"switch_epoch": s}
    if spec.full_kernel_samples > 0:
        out["full_kernel"] = _full_kernel_comparison(ctx, params_list[s], replaced)
        out["cutoff"] = _cutoff_comparison(ctx, params_list[s], replaced)
        out["eigh_seconds_by_threads"] = _eigh_threads(ctx, params_list[s])
    if spec.literal_ntk1_steps > 0:
        loss_s = ntk_updates.phase_loss(ntk_updates.outputs(ctx.net, params_list[s], ctx.x_sub),
                                        ctx.t_sub, "squared")
        out["literal_ntk1"] = _literal_ntk1(ctx, params_list[s], replaced, loss_s)
    return out


def run_hybrid(spec: HybridSpec | dict, task: Task) -> dict:
    """One run: SGD for ``E`` epochs with every record, then every NTK branch.

    Args:
        spec: a :class:`HybridSpec` (or its ``to_dict()``).
        task: the data (:func:`load_task`).

    Returns:
        A JSON-able dict: ``spec``; ``sgd`` (per epoch 0..E: ``val_loss``, ``val_metric``,
        ``test_loss``, ``test_metric``; ``epoch_seconds`` for epochs 1..E, training only);
        ``metrics`` (``eps``, ``delta``, ``spectral`` per epoch, None where undefined);
        ``kernel_distance`` and ``top_eigenvalues``; ``switch`` (heuristic -> epoch or None); and
        ``branches`` (switch epoch as a string -> the NTK results of :func:`_branch`).

    Raises:
        FloatingPointError: SGD itself diverged (names the run and the fix).
    """
    spec = spec if isinstance(spec, HybridSpec) else HybridSpec(**spec)
    ctx = _Context(spec, task)
    params = ctx.net.init(jax.random.PRNGKey(spec.seed), jnp.float32)
    if spec.thresholds:
        _warm_up(ctx, params)
    params_list, history = _sgd_phase(ctx, params)
    metrics = _metrics(params_list, history)
    switch = {name: heuristics.switch_epoch(metrics[name], threshold)
              for name, threshold in spec.thresholds}
    branches = {}
    for s in sorted({s for s in switch.values() if s is not None and s < spec.epochs}):
        branches[str(s)] = _branch(ctx, params_list[s], s)
    extras = _extras(ctx, params_list, branches) if branches else {}
    seconds = history.pop("epoch_seconds")
    return {
        "spec": spec.to_dict(),
        "sgd": {k: _clean(history[k]) for k in ("val_loss", "val_metric", "test_loss",
                                                "test_metric")} | {"epoch_seconds": seconds},
        "metrics": {k: _clean(v) for k, v in metrics.items()},
        "kernel_distance": _clean(history["kernel_distance"]),
        "top_eigenvalues": history["top_eigenvalues"],
        "switch": switch,
        "branches": branches,
        "extras": extras,
        "steps_per_epoch": ctx.steps_per_epoch,
        "n_kernel": int(ctx.x_sub.shape[0]),
    }


# --------------------------------------------------------------------------- sweeps

_CODE = (cache, flow, heuristics, kernel, mlp, ntk_updates)


def run_sweep(
    specs: Sequence[HybridSpec],
    task: Task,
    *,
    executor: Executor | None = None,
    cache_dir: Path | None = None,
) -> list[dict]:
    """:func:`run_hybrid` for every spec, on ``executor`` (in-process by default), cached.

    Each run is one task ``run_hybrid(spec_dict, task)``: a module-level function with plain
    arguments, so a Dask ``client.get_executor()`` runs it as well. Results are cached under
    ``cache_dir`` by a content hash of the spec, the data and the source of the code.

    Returns:
        The results in the order of ``specs``.
    """
    from ntkbook.store.executor import InProcessExecutor

    executor = executor or InProcessExecutor()
    import ntkbook.experiments.hybrid.run as this

    fingerprint = task.fingerprint()
    keys = [cache.content_hash(s.to_dict(), fingerprint, code=_CODE + (this,)) for s in specs]
    results: list[dict | None] = [cache.load_json(cache_dir, "hybrid", k) for k in keys]
    futures = {i: executor.submit(run_hybrid, s.to_dict(), task)
               for i, s in enumerate(specs) if results[i] is None}
    for i, future in futures.items():
        results[i] = future.result()
        cache.save_json(cache_dir, "hybrid", keys[i], results[i])
    return results
