"""Hybrid SGD -> NTK training (Sarvanau 2025): one monitored run and its NTK branches.

A *run* (:func:`run_hybrid`) trains one network (two ReLU hidden layers of equal width, standard
parametrisation, Glorot-normal weights, zero biases) with minibatch SGD for the whole protocol,
``E`` epochs, and records after every epoch the validation and test loss and metric and the three
switch metrics of :mod:`ntkbook.experiments.hybrid.heuristics`. Given thresholds, it then branches
at each heuristic's switch epoch ``s`` into every NTK update of :mod:`ntkbook.dynamics.updates`
(NTK1, NTK2, NTK3; faithful and consistent), from the very parameters SGD had at ``s``. Pure SGD
from ``s`` to ``E`` is the continuation of the same run, so its seconds and the NTK methods'
seconds are measured in the same run. The result is a :class:`~.record.HybridRun`.

**SGD** (:mod:`ntkbook.experiments.hybrid.spec`): every epoch runs as one jitted ``lax.scan``
(:func:`ntkbook.dynamics.sgd.sgd_epoch`; the short batch is padded and masked, so each step
descends the mean loss of its real examples). Fashion-MNIST trains on the mean cross-entropy of
the 10 logits, Wine on the mean squared error of its one output.

**The NTK phase** works on a subset (2000 random training images for Fashion-MNIST, the whole
training set for Wine) with the squared loss's residual ``f - Y`` (one-hot ``Y`` for the 10
logits, the quality for Wine) and, for Fashion-MNIST, also with the cross-entropy's
``softmax(f) - Y`` (:meth:`ntkbook.dynamics.updates.SubsetKernel.residual`). A method *diverged*
if its gains overflow, its parameters or outputs are NaN/Inf, or the loss matching its residual
grows on the subset by more than ``divergence_factor`` over the loss at the switch; such a result
is kept only as a count and a reason, never as a number to average or plot.

The optional measurements at the first switch of a run are made by
:mod:`ntkbook.experiments.hybrid.extras`.
"""

from __future__ import annotations

import math
import time

import jax
import jax.numpy as jnp
import numpy as np

from ntkbook import dynamics
from ntkbook.core.kernel import empirical_ntk
from ntkbook.core.mlp import Params
from ntkbook.core.products import outputs
from ntkbook.dynamics.gains import METHODS, VARIANTS
from ntkbook.dynamics.sgd import epoch_batches, sgd_epoch
from ntkbook.experiments.hybrid import heuristics
from ntkbook.experiments.hybrid.context import RunContext, warm_up
from ntkbook.experiments.hybrid.extras import measure_extras
from ntkbook.experiments.hybrid.frontier import measure_frontier
from ntkbook.experiments.hybrid.record import (
    Branch,
    HybridRun,
    MethodKey,
    MethodResult,
    SGDHistory,
)
from ntkbook.experiments.hybrid.spec import HybridSpec
from ntkbook.experiments.hybrid.task import Task, batch_rng
from ntkbook.store.codec import finite_or_none

#: The heuristics whose switch points get a frontier (:mod:`.frontier`).
FRONTIER_HEURISTICS = ("eps", "delta")


def _tree_distance(a: Params, b: Params) -> float:
    return math.sqrt(sum(float(np.sum((np.asarray(x, np.float64) - np.asarray(y)) ** 2))
                         for x, y in zip(jax.tree_util.tree_leaves(a),
                                         jax.tree_util.tree_leaves(b), strict=True)))


def _finite_tree(params: Params) -> bool:
    return all(bool(jnp.all(jnp.isfinite(p))) for p in jax.tree_util.tree_leaves(params))


# --------------------------------------------------------------------------- the SGD phase


def _record_epoch(ctx: RunContext, params: Params, theta0: np.ndarray, history: dict,
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


def _sgd_phase(ctx: RunContext, params: Params) -> tuple[list[Params], dict]:
    """SGD for ``E`` epochs with every record; returns the parameters after each epoch and the
    records (lists per epoch: ``val_loss``, ..., ``kernel_distance``, ``top_eigenvalues``,
    ``epoch_seconds``)."""
    spec = ctx.spec
    rng = batch_rng(spec.seed)
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


def _metrics(params_list: list[Params], history: dict) -> dict[str, np.ndarray]:
    return {
        "eps": heuristics.param_change_series(params_list, heuristics.WINDOWS["eps"],
                                              distance=_tree_distance),
        "delta": heuristics.kernel_stability_series(history["kernel_distance"]),
        "spectral": heuristics.spectral_series(np.asarray(history["top_eigenvalues"])),
    }


# --------------------------------------------------------------------------- the NTK phase


def _method_result(ctx: RunContext, params_s: Params, kern, gains: np.ndarray, residual: str,
                   base_seconds: float, curves: bool) -> MethodResult:
    """Apply one method's gains; time it; check for divergence; evaluate."""
    lam = kern.eigenvalues
    kept = lam > kern.cutoff
    loss_s = dynamics.phase_loss(kern.outputs, kern.targets, residual)
    if not np.all(np.isfinite(gains[:, kept])):
        return MethodResult(
            seconds=base_seconds, diverged=True,
            reason="the gains overflow: some mode's residual grows without bound (the step is "
            "unstable, see step_stability)", subset_loss_at_switch=finite_or_none(loss_s))
    tic = time.perf_counter()
    final = jax.block_until_ready(dynamics.apply_update(
        ctx.net, params_s, ctx.x_sub, kern.coefficients(gains[-1], residual)))
    seconds = base_seconds + time.perf_counter() - tic
    factors = dynamics.residual_factors(lam[kept], gains[-1][kept])
    amplification = float(np.max(np.abs(factors))) if factors.size else 0.0

    def earlier() -> list[Params]:
        return [dynamics.apply_update(ctx.net, params_s, ctx.x_sub,
                                      kern.coefficients(g, residual)) for g in gains[:-1]]

    return _evaluated(ctx, kern, residual, final, seconds, loss_s, amplification,
                      earlier if curves else list)


def _literal_ntk1_result(ctx: RunContext, params_s: Params, kern, replaced, residual: str,
                         base_seconds: float) -> MethodResult:
    """NTK1 as the published code runs it (:func:`ntkbook.dynamics.frozen_jacobian_steps`):
    one step of ``2 eta / N`` per replaced epoch along the residual of the network itself."""
    loss_s = dynamics.phase_loss(kern.outputs, kern.targets, residual)
    tic = time.perf_counter()
    steps = dynamics.frozen_jacobian_steps(
        ctx.net, params_s, ctx.x_sub, kern.targets, residual=residual,
        step=replaced.code_rate * replaced.learning_rate, n_updates=replaced.epochs_replaced)
    jax.block_until_ready(steps[-1])
    seconds = base_seconds + time.perf_counter() - tic
    return _evaluated(ctx, kern, residual, steps[-1], seconds, loss_s, None,
                      lambda: steps[:-1])


def _evaluated(ctx: RunContext, kern, residual: str, final: Params, seconds: float,
               loss_s: float, amplification: float | None, earlier) -> MethodResult:
    """Check an update for divergence and evaluate it: the test split after it, the validation
    split after it and after each earlier epoch's update (``earlier()``, may be empty)."""
    loss = float("nan")
    if _finite_tree(final):
        out = outputs(ctx.net, final, ctx.x_sub)
        loss = dynamics.phase_loss(out, kern.targets, residual) if np.all(np.isfinite(out)) \
            else float("nan")
    head = {"seconds": seconds, "max_mode_factor": finite_or_none(amplification),
            "subset_loss_at_switch": finite_or_none(loss_s), "subset_loss": finite_or_none(loss)}
    if not np.isfinite(loss):
        return MethodResult(diverged=True, reason="NaN/Inf in the updated parameters or outputs",
                            **head)
    if loss > ctx.spec.divergence_factor * loss_s:
        factor = "" if amplification is None else f" (largest mode factor {amplification:.3g})"
        return MethodResult(diverged=True, reason=f"subset loss grew {loss / loss_s:.3g}x"
                            + factor, **head)
    test_loss, test_metric = ctx.evaluate(final, "test")
    points = [ctx.evaluate(p, "val") for p in earlier()] + [ctx.evaluate(final, "val")]
    val_loss = np.array([p[0] for p in points], np.float64)
    val_metric = np.array([p[1] for p in points], np.float64)
    finite = bool(np.all(np.isfinite(val_loss)) and np.isfinite(test_loss))
    return MethodResult(diverged=not finite,
                        reason="" if finite else "NaN/Inf in the evaluated outputs",
                        test_loss=finite_or_none(test_loss),
                        test_metric=finite_or_none(test_metric),
                        val_loss=val_loss, val_metric=val_metric, **head)


def _branch(ctx: RunContext, params_s: Params, s: int, sgd: SGDHistory,
            frontier_epochs: set[int]) -> Branch:
    """Every NTK method, variant and residual from the switch at epoch ``s``, and the frontier
    if the spec asks for it and ``s`` is in ``frontier_epochs``."""
    spec = ctx.spec
    replaced = ctx.replaced(s)
    kern = dynamics.subset_kernel(ctx.net, params_s, ctx.x_sub, ctx.t_sub, kind=spec.kernel)
    base = sum(kern.seconds.values())
    lam = kern.eigenvalues
    methods: dict[MethodKey, MethodResult] = {}
    for method in METHODS:
        computed: list[tuple[np.ndarray, str]] = []
        for variant in VARIANTS:
            tic = time.perf_counter()
            gains = dynamics.cumulative_gains(method, variant, lam, replaced)
            gain_seconds = time.perf_counter() - tic
            # e.g. NTK1 faithful = consistent when c = 1/2: the same update, computed once
            literal = method == "NTK1" and variant == "code"  # not a gain: see below
            twin = None if literal else next((v for g, v in computed if g.shape == gains.shape
                                              and np.array_equal(g, gains)), None)
            for residual in spec.residuals:
                key = MethodKey(method, variant, residual)
                if twin is not None:
                    methods[key] = methods[MethodKey(method, twin, residual)]
                elif literal:
                    methods[key] = _literal_ntk1_result(ctx, params_s, kern, replaced, residual,
                                                        base + gain_seconds)
                else:
                    methods[key] = _method_result(ctx, params_s, kern, gains, residual,
                                                  base + gain_seconds, curves=method != "NTK3")
            computed.append((gains, variant))
    return Branch(
        switch_epoch=s, kernel_seconds=dict(kern.seconds), lambda_max=float(lam[-1]),
        cutoff=float(kern.cutoff), n_below_cutoff=int(np.sum(lam <= kern.cutoff)),
        steps_replaced=int(replaced.steps), flow_time=float(replaced.flow_time),
        step_stability={v: float(lam[-1]) * spec.learning_rate * {
            "faithful": replaced.faithful_rate, "consistent": replaced.consistent_rate,
            "code": replaced.code_rate}[v] for v in VARIANTS},
        methods=methods,
        frontier=measure_frontier(ctx, params_s, kern, sgd, s)
        if spec.frontier_multiples and s in frontier_epochs else ())


# --------------------------------------------------------------------------- one run


def run_hybrid(spec: HybridSpec | dict, task: Task) -> HybridRun:
    """One run: SGD for ``E`` epochs with every record, then every NTK branch.

    Args:
        spec: a :class:`~.spec.HybridSpec` (or its ``to_dict()``).
        task: the data (:func:`~.task.load_task`).

    Returns:
        The run's record (:class:`~.record.HybridRun`).

    Raises:
        FloatingPointError: SGD itself diverged (names the run and the fix).
    """
    spec = spec if isinstance(spec, HybridSpec) else HybridSpec.from_dict(spec)
    ctx = RunContext(spec, task)
    params = ctx.net.init(jax.random.PRNGKey(spec.seed), jnp.float32)
    if spec.thresholds:
        warm_up(ctx, params)
    params_list, history = _sgd_phase(ctx, params)
    metrics = _metrics(params_list, history)
    switch = {name: heuristics.switch_epoch(metrics[name], threshold)
              for name, threshold in spec.thresholds}
    sgd = SGDHistory(**{k: np.asarray(history[k], np.float64) for k in (
        "val_loss", "val_metric", "test_loss", "test_metric", "epoch_seconds")})
    # the frontier chapter reads the eps and delta switches (the thesis' two heuristics)
    frontier_epochs = {switch[h] for h in FRONTIER_HEURISTICS if switch.get(h) is not None}
    branches = {s: _branch(ctx, params_list[s], s, sgd, frontier_epochs)
                for s in sorted({s for s in switch.values() if s is not None and s < spec.epochs})}
    extras = measure_extras(ctx, params_list[min(branches)], min(branches)) if branches else None
    return HybridRun(
        spec=spec.to_dict(), sgd=sgd, metrics=metrics,
        kernel_distance=np.asarray(history["kernel_distance"], np.float64),
        top_eigenvalues=np.asarray(history["top_eigenvalues"], np.float64),
        switch=switch, branches=branches, extras=extras,
        steps_per_epoch=ctx.steps_per_epoch, n_kernel=int(ctx.x_sub.shape[0]))
