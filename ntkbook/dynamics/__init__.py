"""The dynamics layer: the NTK flow and its closed forms, the gains and updates of the hybrid
method (NTK1/2/3, faithful and consistent), linearised references and the one SGD. Imports only
``ntkbook.core``.

Modules: ``conventions`` (rate, time, losses, cutoff), ``closed_form`` (flow, bounds),
``linearised`` (integrated and iterated references), ``crossentropy`` (the linearised
cross-entropy flow, integrated in output space), ``gains``, ``updates`` (dense, on a kernel
subset), ``matfree`` (Lanczos NTK3), ``sgd`` (batches and the scan), ``train`` (GD/SGD runs with
history). This face re-exports their public names.
"""

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
from ntkbook.dynamics.crossentropy import (
    CrossEntropyFlow,
    crossentropy_flow,
    crossentropy_update,
    dense_kernel,
)
from ntkbook.dynamics.gains import (
    METHODS,
    VARIANTS,
    ReplacedSGD,
    cumulative_gains,
    ntk1_gains,
    ntk2_gains,
    ntk3_gains,
    residual_factors,
    time_scale_rows,
)
from ntkbook.dynamics.linearised import LinearizedPath, integrate_linearized_flow, ntk1_descent
from ntkbook.dynamics.matfree import MatrixFreeNTK3, lanczos_matrix_function, ntk3_matrix_free
from ntkbook.dynamics.sgd import (
    CLASSIFICATION,
    REGRESSION,
    batches,
    epoch_batches,
    example_losses,
    minibatch_scan,
    sgd_epoch,
    sgd_steps,
)
from ntkbook.dynamics.train import TrainResult, train_gd, train_sgd
from ntkbook.dynamics.updates import (
    RESIDUALS,
    SubsetKernel,
    apply_update,
    frozen_jacobian_steps,
    ntk3_update,
    ntk_update,
    output_residual,
    phase_loss,
    subset_kernel,
)

__all__ = [
    "BERG_LOSS_SCALE", "CLASSIFICATION", "METHODS", "REGRESSION", "RESIDUALS",
    "SARVANAU_LOSS_SCALE", "VARIANTS", "CrossEntropyFlow", "KernelEigh", "LinearizedPath",
    "MatrixFreeNTK3", "ReplacedSGD", "SubsetKernel", "TrainResult", "apply_update", "batches",
    "berg_faithful_bound", "crossentropy_flow", "crossentropy_update", "cumulative_gains",
    "dense_kernel", "du_discrete_bound", "du_learning_rate", "epoch_batches", "example_losses",
    "flow_rate", "flow_residual", "frozen_jacobian_steps", "integrate_linearized_flow",
    "kernel_eigh", "lanczos_matrix_function", "loss_bound", "minibatch_scan", "ntk1_descent",
    "ntk1_gains", "ntk2_gains", "ntk3_gains", "ntk3_matrix_free", "ntk3_update", "ntk_update",
    "output_residual", "phase_loss", "pinv_cutoff", "relative_error", "residual_factors",
    "sgd_epoch", "sgd_flow_time", "sgd_steps", "squared_loss", "steps_per_epoch", "subset_kernel",
    "time_scale_rows", "train_gd", "train_sgd",
]
