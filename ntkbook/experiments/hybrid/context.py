"""What every part of one run shares: the spec, the network, device copies of the data, the NTK
subset (:class:`RunContext`), and the one-time compilation of the NTK phase (:func:`warm_up`)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from ntkbook import dynamics
from ntkbook.core.mlp import Params
from ntkbook.experiments.hybrid.spec import HybridSpec
from ntkbook.experiments.hybrid.task import Task, evaluate, network, ntk_subset


class RunContext:
    """Device copies of the data and the pieces every part of a run needs.

    Attributes:
        spec, task, net, kind: the run's spec, data, network and task kind.
        x, y: the training split on the device; ``x_val, y_val, x_test, y_test`` likewise.
        x_monitor: the first ``monitor_samples`` training inputs (the monitoring kernel's).
        subset: sorted training rows of the NTK subset (:func:`ntk_subset`); ``x_sub`` their
            inputs and ``t_sub`` their targets (:meth:`Task.ntk_targets`).
        steps_per_epoch: ``ceil(N / batch_size)``.
    """

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
        """``(loss, metric)`` on ``"val"`` or ``"test"``."""
        x, y = (self.x_val, self.y_val) if split == "val" else (self.x_test, self.y_test)
        return evaluate(self.net, params, x, y, self.kind)

    def replaced(self, switch_epoch: int) -> dynamics.ReplacedSGD:
        """The SGD from ``switch_epoch`` to ``E`` that an NTK update replaces (with the task's
        outputs and kind, which the published code's reading needs)."""
        spec = self.spec
        return dynamics.ReplacedSGD(
            spec.learning_rate, self.steps_per_epoch, spec.epochs - switch_epoch, spec.epochs,
            self.task.n_train, int(self.x_sub.shape[0]), spec.loss_scale,
        ).for_code(self.kind, self.task.n_outputs)


_WARM: set = set()


def warm_up(ctx: RunContext, params: Params) -> None:
    """Compile the kernel, forward and VJP at the subset's shapes once per process, so that
    the NTK phase is timed without compilation (SGD's timed epochs are compiled too)."""
    key = (ctx.net, int(ctx.x_sub.shape[0]), ctx.spec.kernel)
    if key in _WARM:
        return
    dynamics.subset_kernel(ctx.net, params, ctx.x_sub, ctx.t_sub, kind=ctx.spec.kernel)
    coef = np.zeros(ctx.t_sub.shape)
    jax.block_until_ready(dynamics.apply_update(ctx.net, params, ctx.x_sub, coef))
    _WARM.add(key)
