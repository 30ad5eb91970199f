"""The time-quality frontier from one switch point: every way to spend seconds after the switch,
and what each reaches on the test split (:class:`~.record.FrontierPoint`).

A hybrid run replaces the SGD from the switch epoch ``s`` to ``E`` by one NTK update. Whether that
is worth anything depends on the cheapest alternatives, so from the same parameters
``theta_s`` a run with ``frontier_multiples`` measures:

* **stop**: ``theta_s`` itself, at 0 s (no training after the switch);
* **SGD**: the run's own SGD after each remaining epoch ``s + 1 .. E`` (its measured epoch
  seconds, summed from the switch);
* **SGD continued**: SGD from ``theta_s`` on fresh batches for the flow times below, as long as
  they need at most ``sgd_continuation_epochs`` epochs (so past ``E`` on Wine, where epochs are
  cheap): the baseline for a long NTK flow;
* **NTK3** (squared-loss flow in closed form, mean kernel): the consistent time scale at
  ``m`` times the replaced SGD's flow time ``eta S`` for every ``m`` in ``frontier_multiples``,
  and the faithful one (the thesis' ``t = E``, ``N = n_train``), with every residual of the run;
* **CE flow** (classification only): the linearised model's cross-entropy flow
  (:mod:`ntkbook.dynamics.crossentropy`) at the same flow times up to :data:`CE_MAX_MULTIPLE`,
  with the mean kernel on the whole NTK subset, and with the full kernel and the mean kernel on
  its first ``frontier_full_samples`` rows (like for like).

The flow time of every point is in units of ``eta S`` at the consistent rate ``rho = 2c/n``, so
NTK3 at ``m = 1`` and SGD to ``E`` cover the same gradient-flow time. Seconds are wall seconds
from the switch of what the method needs (the subset kernel and its eigendecomposition, the solve,
the one VJP; SGD's training steps), never the evaluations. Several NTK3 points share one kernel;
each point's seconds are what a user would pay for that point alone.
"""

from __future__ import annotations

import time

import jax
import numpy as np

from ntkbook import dynamics
from ntkbook.core.kernel import empirical_ntk, flat_ntk
from ntkbook.core.mlp import Params
from ntkbook.core.products import outputs
from ntkbook.dynamics.crossentropy import crossentropy_flow
from ntkbook.dynamics.gains import ReplacedSGD
from ntkbook.dynamics.sgd import sgd_steps
from ntkbook.experiments.hybrid.context import RunContext
from ntkbook.experiments.hybrid.record import FrontierPoint, SGDHistory
from ntkbook.store.codec import finite_or_none

#: Tolerances of the cross-entropy flow's solve: far below the test metric's resolution (one
#: image in 10,000) and well above float64 rounding.
CE_RTOL, CE_ATOL = 1e-6, 1e-9
#: The cross-entropy flow runs to at most this multiple of the replaced flow time: an explicit
#: solver's steps grow with the flow time times rho lambda_max (about 1e3 per unit time on
#: Fashion-MNIST), so 100x takes tens of minutes per switch where 3x takes seconds.
CE_MAX_MULTIPLE = 3.0
_COMPILED: set = set()


def _evaluated(ctx: RunContext, params: Params, **fields) -> FrontierPoint:
    """A point with the test numbers of ``params`` (diverged where they are NaN/Inf)."""
    loss, metric = ctx.evaluate(params, "test")
    if not (np.isfinite(loss) and np.isfinite(metric)):
        return FrontierPoint(diverged=True, reason="NaN/Inf in the test outputs", **fields)
    return FrontierPoint(test_loss=float(loss), test_metric=float(metric), **fields)


def sgd_points(history: SGDHistory, switch_epoch: int) -> list[FrontierPoint]:
    """Stop at the switch, and the run's SGD after each remaining epoch (from its history)."""
    s, epochs = switch_epoch, len(history.epoch_seconds)
    remaining = epochs - s
    points = [FrontierPoint("stop", "", "", "", 0, 0.0, 0.0,
                            test_loss=finite_or_none(history.test_loss[s]),
                            test_metric=finite_or_none(history.test_metric[s]))]
    elapsed = np.cumsum(history.epoch_seconds[s:])
    for k, seconds in enumerate(elapsed, start=1):
        metric = finite_or_none(history.test_metric[s + k])
        points.append(FrontierPoint("SGD", "", "", "", 0, k / remaining, float(seconds),
                                    diverged=metric is None,
                                    reason="" if metric is not None else "NaN/Inf test loss",
                                    test_loss=finite_or_none(history.test_loss[s + k]),
                                    test_metric=metric))
    return points


def sgd_continued_points(ctx: RunContext, params_s: Params, replaced: ReplacedSGD,
                         multiples: list[tuple[float, str]],
                         switch_epoch: int) -> list[FrontierPoint]:
    """SGD from ``theta_s`` on fresh batches, evaluated at each ``(multiple, variant)`` of the
    replaced flow time (one continued run; ``variant`` names whose flow time it matches, e.g.
    ``"faithful"`` for the faithful NTK3's). Points that need more than
    ``sgd_continuation_epochs`` epochs are left out."""
    spec = ctx.spec
    budget = spec.sgd_continuation_epochs * ctx.steps_per_epoch
    targets = sorted((max(1, round(m * replaced.steps)), v) for m, v in multiples)
    rng = np.random.default_rng([spec.seed, 3, switch_epoch])
    params, done, seconds, points = params_s, 0, 0.0, []
    for steps, variant in targets:
        if steps > budget:
            break
        if steps > done:
            tic = time.perf_counter()
            params = jax.block_until_ready(sgd_steps(
                ctx.net, params, ctx.x, ctx.y, steps - done, spec.batch_size,
                spec.learning_rate, ctx.kind, rng))
            seconds += time.perf_counter() - tic
            done = steps
        points.append(_evaluated(ctx, params, method="SGD continued", variant=variant,
                                 residual="", kernel="", samples=0,
                                 flow_multiple=steps / replaced.steps, seconds=seconds))
    return points


def _ntk3_point(ctx, params_s, kern, gains, residual, base_seconds, **fields) -> FrontierPoint:
    tic = time.perf_counter()
    new = jax.block_until_ready(dynamics.apply_update(
        ctx.net, params_s, ctx.x_sub, kern.coefficients(gains, residual)))
    seconds = base_seconds + time.perf_counter() - tic
    return _evaluated(ctx, new, method="NTK3", residual=residual, kernel=kern.kind,
                      samples=int(ctx.x_sub.shape[0]), seconds=seconds, **fields)


def ntk3_points(ctx: RunContext, params_s: Params, kern: dynamics.SubsetKernel,
                replaced: ReplacedSGD, multiples: list[float]) -> list[FrontierPoint]:
    """NTK3 (consistent) at ``multiples`` of the replaced flow time, and the faithful NTK3, with
    every residual of the run, from the branch's subset kernel ``kern``."""
    base = sum(kern.seconds.values())
    rate, flow = replaced.consistent_rate, replaced.flow_time
    schedules = [("consistent", m, dynamics.ntk3_gains(kern.eigenvalues, rate=rate, t=m * flow))
                 for m in multiples]
    faithful = dynamics.cumulative_gains("NTK3", "faithful", kern.eigenvalues, replaced)[-1]
    schedules.append(("faithful", replaced.equivalent_flow_time("faithful") / flow, faithful))
    return [_ntk3_point(ctx, params_s, kern, gains, residual, base, variant=variant,
                        flow_multiple=float(m))
            for variant, m, gains in schedules for residual in ctx.spec.residuals]


def _crossentropy_points(ctx: RunContext, params_s: Params, x, theta: np.ndarray, kind: str,
                         replaced: ReplacedSGD, multiples: list[float],
                         kernel_seconds: float) -> list[FrontierPoint]:
    """The cross-entropy flow on inputs ``x`` with kernel ``theta`` (``kind``), one solve for
    every multiple, one VJP per multiple."""
    n = int(x.shape[0])
    f_s = np.asarray(outputs(ctx.net, params_s, x), np.float64)
    targets = np.asarray(ctx.t_sub[:n], np.float64)
    times = np.array(multiples, np.float64) * replaced.flow_time
    key = (theta.shape, theta.dtype.str, f_s.shape, len(times), kind)
    if key not in _COMPILED:  # compile outside the clock, as the other NTK updates are
        crossentropy_flow(theta, f_s, targets, rate=1.0 / n, times=times * 1e-9, kind=kind)
        _COMPILED.add(key)
    flow = crossentropy_flow(theta, f_s, targets, rate=1.0 / n, times=times, kind=kind,
                             rtol=CE_RTOL, atol=CE_ATOL)
    per_point = flow.seconds / len(times)
    points = []
    for m, coefficients in zip(multiples, flow.coefficients, strict=True):
        tic = time.perf_counter()
        new = jax.block_until_ready(dynamics.apply_update(ctx.net, params_s, x, coefficients))
        seconds = kernel_seconds + per_point + time.perf_counter() - tic
        points.append(_evaluated(ctx, new, method="CE flow", variant="consistent",
                                 residual="crossentropy", kernel=kind, samples=n,
                                 flow_multiple=float(m), seconds=seconds))
    return points


def crossentropy_points(ctx: RunContext, params_s: Params, replaced: ReplacedSGD,
                        multiples: list[float]) -> list[FrontierPoint]:
    """CE flow with the mean kernel on the whole subset, and with the full and the mean kernel on
    its first ``frontier_full_samples`` rows."""
    spec, net = ctx.spec, ctx.net
    sizes = [("mean", int(ctx.x_sub.shape[0]))]
    if spec.frontier_full_samples > 0:
        small = min(spec.frontier_full_samples, int(ctx.x_sub.shape[0]))
        sizes += [("full", small), ("mean", small)]
    points = []
    for kind, n in sizes:
        x = ctx.x_sub[:n]
        tic = time.perf_counter()
        # the mean kernel stays in the network's float32: the solve's matvecs read half the bytes
        theta = (np.asarray(jax.block_until_ready(empirical_ntk(net, params_s, x)))
                 if kind == "mean" else flat_ntk(net, params_s, x))
        kernel_seconds = time.perf_counter() - tic
        points += _crossentropy_points(ctx, params_s, x, theta, kind, replaced, multiples,
                                       kernel_seconds)
    return points


def measure_frontier(ctx: RunContext, params_s: Params, kern: dynamics.SubsetKernel,
                     history: SGDHistory, switch_epoch: int) -> tuple[FrontierPoint, ...]:
    """Every point of the frontier from ``switch_epoch`` (see the module docstring)."""
    spec = ctx.spec
    replaced = ctx.replaced(switch_epoch)
    multiples = [float(m) for m in spec.frontier_multiples]
    faithful = replaced.equivalent_flow_time("faithful") / replaced.flow_time
    points = sgd_points(history, switch_epoch)
    ladder = [(m, "consistent") for m in multiples] + [(faithful, "faithful")]
    points += sgd_continued_points(ctx, params_s, replaced, ladder, switch_epoch)
    points += ntk3_points(ctx, params_s, kern, replaced, multiples)
    if ctx.task.n_outputs > 1:
        short = [m for m in multiples if m <= CE_MAX_MULTIPLE]
        points += crossentropy_points(ctx, params_s, replaced, short)
    return tuple(points)
