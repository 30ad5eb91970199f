"""Hybrid SGD -> NTK training (Sarvanau 2025): the protocol and its records.

Modules, in the order a run uses them: :mod:`.spec` (settings and :class:`HybridSpec`),
:mod:`.task` (data, network, evaluation, the SGD phase replayed), :mod:`.heuristics` (switch
metrics and thresholds), :mod:`.context` (what one run shares), :mod:`.run` (:func:`run_hybrid`),
:mod:`.extras` (optional measurements), :mod:`.frontier` (the time-quality frontier),
:mod:`.sweep` (:func:`run_sweep`, cached), :mod:`.book` (the chapters' runs in one call) and
:mod:`.record` (the typed run record, which the report layer reads).
"""

from ntkbook.dynamics.sgd import CLASSIFICATION, REGRESSION
from ntkbook.experiments.hybrid.book import BookRuns, book_runs
from ntkbook.experiments.hybrid.heuristics import HEURISTICS, scouting_summary
from ntkbook.experiments.hybrid.record import (
    Branch,
    Extras,
    FrontierPoint,
    HybridRun,
    MethodKey,
    MethodResult,
    ScoutingSummary,
    SGDHistory,
)
from ntkbook.experiments.hybrid.run import run_hybrid
from ntkbook.experiments.hybrid.spec import (
    BATCH_SIZE,
    LEARNING_RATE,
    TASK_SETTINGS,
    HybridSpec,
    main_specs,
    replaced_for,
    scouting_specs,
    spec_for,
    time_scale_summary,
)
from ntkbook.experiments.hybrid.sweep import run_sweep
from ntkbook.experiments.hybrid.task import (
    Task,
    evaluate,
    load_task,
    make_task,
    network,
    ntk_subset,
    sgd_to_epoch,
)

__all__ = [
    "BATCH_SIZE", "CLASSIFICATION", "HEURISTICS", "LEARNING_RATE", "REGRESSION", "TASK_SETTINGS",
    "BookRuns", "Branch", "Extras", "FrontierPoint", "HybridRun", "HybridSpec", "MethodKey",
    "MethodResult", "SGDHistory", "ScoutingSummary", "Task", "book_runs", "evaluate",
    "load_task", "main_specs", "make_task", "network", "ntk_subset", "replaced_for",
    "run_hybrid", "run_sweep", "scouting_specs", "scouting_summary", "sgd_to_epoch", "spec_for",
    "time_scale_summary",
]
