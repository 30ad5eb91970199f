"""The NTK flow: one import for its conventions, closed forms, linearised references and NTK3.

The pieces live in :mod:`~ntkbook.dynamics.conventions` (rate ``2c/N``, flow time, losses,
pseudoinverse cutoff), :mod:`~ntkbook.dynamics.closed_form` (``exp(-rho t Theta)`` and the loss
bounds), :mod:`~ntkbook.dynamics.linearised` (numerical integration of the linearised model) and
:mod:`~ntkbook.dynamics.updates` (NTK3); this module re-exports them under one name, ``flow``.
"""

from __future__ import annotations

from ntkbook.core.kernel import flat_ntk
from ntkbook.core.mlp import flatten_params
from ntkbook.dynamics.closed_form import (
    KernelEigh,
    berg_faithful_bound,
    du_discrete_bound,
    du_learning_rate,
    flow_residual,
    kernel_eigh,
    loss_bound,
)
from ntkbook.dynamics.conventions import (
    BERG_LOSS_SCALE,
    SARVANAU_LOSS_SCALE,
    flow_rate,
    pinv_cutoff,
    relative_error,
    sgd_flow_time,
    squared_loss,
    steps_per_epoch,
)
from ntkbook.dynamics.linearised import LinearizedPath, integrate_linearized_flow
from ntkbook.dynamics.updates import ntk3_update

__all__ = [
    "BERG_LOSS_SCALE", "SARVANAU_LOSS_SCALE", "KernelEigh", "LinearizedPath",
    "berg_faithful_bound", "du_discrete_bound", "du_learning_rate", "flat_ntk", "flatten_params",
    "flow_rate", "flow_residual", "integrate_linearized_flow", "kernel_eigh", "loss_bound",
    "ntk3_update", "pinv_cutoff", "relative_error", "sgd_flow_time", "squared_loss",
    "steps_per_epoch",
]
