"""The hybrid protocol's settings: per-data-set settings, the SGD hyperparameters, what one run
depends on (:class:`HybridSpec`) and the specs of the scouting and main sweeps, and the SGD that
a switch replaces (:func:`replaced_for`, :func:`time_scale_summary`).

**SGD.** Learning rate 0.007, batch 128; every epoch is a fresh permutation of the training set
cut into ``ceil(N / 128)`` batches, the last one shorter (as in the thesis' code: 329 steps per
epoch for Fashion-MNIST, 8 for Wine).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from ntkbook.dynamics.gains import ReplacedSGD, time_scale_rows
from ntkbook.reported import SARVANAU_SWITCH_EPOCHS

if TYPE_CHECKING:
    from ntkbook.experiments.hybrid.task import Task

#: The thesis' protocol per data set: epochs, NTK subset (None = the whole training set), the
#: loss scale ``c`` that makes the consistent NTK phase move like the SGD it replaces, and the
#: residuals the NTK phase is run with (:meth:`ntkbook.dynamics.updates.SubsetKernel.residual`).
#: ``sgd_continuation_epochs`` caps the SGD continued from the switch for the frontier
#: (:mod:`ntkbook.experiments.hybrid.frontier`): past ``E`` on Wine, whose epochs take
#: milliseconds; on Fashion-MNIST the run's own epochs to ``E`` are the SGD points.
TASK_SETTINGS = {
    "fmnist": {"epochs": 15, "kernel_samples": 2000, "loss_scale": 0.5,
               "residuals": ("squared", "softmax"), "sgd_continuation_epochs": 1.0},
    "wine": {"epochs": 20, "kernel_samples": None, "loss_scale": 1.0, "residuals": ("squared",),
             "sgd_continuation_epochs": 100.0},
}
#: Flow times of the frontier's NTK points, in units of the replaced SGD's flow time.
FRONTIER_MULTIPLES = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
LEARNING_RATE = 0.007
BATCH_SIZE = 128


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
        kernel: ``"mean"`` or ``"full"`` (see :func:`ntkbook.dynamics.updates.subset_kernel`).
        loss_scale: ``c`` of the consistent variant (:data:`TASK_SETTINGS`).
        residuals: residuals of the NTK phase (``"squared"``, ``"softmax"``).
        divergence_factor: growth of the subset loss that counts as divergence.
        frontier_multiples: flow times (in units of the replaced SGD's) of the time-quality
            frontier's NTK points; empty = no frontier (:mod:`~.frontier`).
        frontier_full_samples: subset rows of the frontier's full-kernel cross-entropy flow.
        sgd_continuation_epochs: most epochs of SGD continued from the switch for the frontier.
        full_kernel_samples: if > 0, the first branch also compares the mean-over-outputs
            kernel with the exact full kernel on that many subset samples
            (:mod:`ntkbook.experiments.hybrid.extras`).
        literal_ntk1_steps: if > 0, the first branch also times that many literal NTK1 steps
            (:func:`ntkbook.dynamics.updates.ntk1_descent`) on the subset.
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
    frontier_multiples: tuple[float, ...] = ()
    frontier_full_samples: int = 0
    sgd_continuation_epochs: float = 0.0
    full_kernel_samples: int = 0
    literal_ntk1_steps: int = 0
    evaluate_test: bool = True

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> HybridSpec:
        """The spec from :meth:`to_dict` or its JSON (lists back to tuples)."""
        values = dict(values)
        values["thresholds"] = tuple((str(h), float(t)) for h, t in values.get("thresholds", ()))
        values["residuals"] = tuple(values.get("residuals", ("squared",)))
        values["frontier_multiples"] = tuple(float(m) for m in values.get("frontier_multiples", ()))
        return cls(**values)


def spec_for(dataset: str, width: int, seed: int, thresholds: dict | None = None,
             **overrides) -> HybridSpec:
    """A :class:`HybridSpec` with the thesis' settings for ``dataset`` (:data:`TASK_SETTINGS`)."""
    settings = TASK_SETTINGS[dataset]
    values = {k: settings[k] for k in ("epochs", "kernel_samples", "loss_scale", "residuals")}
    values.update(overrides)
    pairs = tuple(sorted((k, float(v)) for k, v in (thresholds or {}).items()))
    return HybridSpec(dataset, int(width), int(seed), thresholds=pairs, **values)


def scouting_specs(dataset: str, width: int, seeds: Sequence[int], **overrides) -> list:
    """Pure-SGD scouting runs (no thresholds, hence no NTK phase, no test set), one per seed."""
    return [spec_for(dataset, width, s, **{"evaluate_test": False} | overrides) for s in seeds]


def main_specs(dataset: str, widths: Sequence[int], seeds: Sequence[int], thresholds: dict,
               *, extras_width: int | None = None, extras_seeds: Sequence[int] | None = None,
               full_kernel_samples: int = 0, literal_ntk1_steps: int = 0,
               frontier_multiples: Sequence[float] = FRONTIER_MULTIPLES,
               frontier_full_samples: int = 0, **overrides) -> list:
    """The hybrid runs: every width x seed with ``thresholds``.

    At ``extras_width`` (the table's width) the seeds are ``extras_seeds`` (default ``seeds``),
    every run measures the time-quality frontier (:mod:`~.frontier`) and the first makes the
    optional measurements (see :class:`HybridSpec`); at other widths neither."""
    settings = TASK_SETTINGS[dataset]
    specs = []
    for width in widths:
        table = width == extras_width
        for i, seed in enumerate(extras_seeds if table and extras_seeds is not None else seeds):
            extra = table and i == 0
            frontier = {"frontier_multiples": tuple(float(m) for m in frontier_multiples),
                        "frontier_full_samples": int(frontier_full_samples),
                        "sgd_continuation_epochs": settings["sgd_continuation_epochs"]}
            specs.append(spec_for(dataset, width, seed, thresholds, **overrides,
                                  **(frontier if table else {}),
                                  full_kernel_samples=full_kernel_samples if extra else 0,
                                  literal_ntk1_steps=literal_ntk1_steps if extra else 0))
    return specs


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
                       settings["loss_scale"]).for_code(task.kind, task.n_outputs)


def time_scale_summary(task: Task, epochs: int, kernel_samples: int | None) -> tuple[list, dict]:
    """The faithful and consistent time scales (:func:`ntkbook.dynamics.updates.time_scale_rows`)
    for a switch at the thesis' mean epsilon switch epoch, and the numbers the prose quotes: the
    switch, the faithful/consistent ratio of NTK3's exponent, the faithful NTK3's flow time in
    SGD epochs, and the epochs replaced."""
    switch = min(round(SARVANAU_SWITCH_EPOCHS[task.name]["eps"]), epochs - 1)
    replaced = replaced_for(task, switch, epochs, kernel_samples)
    rows = [{"data set": task.name, "switch epoch": switch} | r
            for r in time_scale_rows(replaced)]
    numbers = {
        "switch": switch,
        "ntk3_ratio": replaced.ntk3_exponent("faithful") / replaced.ntk3_exponent("consistent"),
        "faithful_epochs": replaced.equivalent_flow_time("faithful")
        / (replaced.learning_rate * replaced.steps_per_epoch),
        "replaced_epochs": replaced.epochs_replaced,
    }
    return rows, numbers
