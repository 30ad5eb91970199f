"""The hybrid chapters' runs in one call: data, scouting, thresholds and the main sweep.

Chapter 5 (the thesis reproduced) and chapter 6 (the frontier) read the same runs. Both call
:func:`book_runs` with their parameters; every run is cached by content
(:func:`~ntkbook.experiments.hybrid.sweep.run_sweep`), so the second chapter re-reads what the
first computed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ntkbook.experiments.hybrid.heuristics import scouting_summary
from ntkbook.experiments.hybrid.record import HybridRun, ScoutingSummary
from ntkbook.experiments.hybrid.spec import main_specs, scouting_specs
from ntkbook.experiments.hybrid.sweep import run_sweep
from ntkbook.experiments.hybrid.task import Task, load_task

DATASETS = ("fmnist", "wine")


@dataclass(frozen=True)
class BookRuns:
    """Everything the hybrid chapters show.

    Attributes:
        tasks: data set -> :class:`~.task.Task`.
        settings: data set -> the run settings (``epochs``, ``kernel_samples``,
            ``monitor_samples``).
        widths: data set -> widths. seeds: data set -> seeds at widths other than the table's;
            table_seeds: data set -> seeds at ``table_width``.
        table_width: the width of the tables and of the frontier.
        scouting: data set -> :class:`~.record.ScoutingSummary`.
        thresholds: data set -> heuristic -> threshold.
        results: data set -> every run (:class:`~.record.HybridRun`).
    """

    tasks: dict[str, Task]
    settings: dict[str, dict]
    widths: dict[str, list[int]]
    seeds: dict[str, list[int]]
    table_seeds: dict[str, list[int]]
    table_width: int
    scouting: dict[str, ScoutingSummary]
    thresholds: dict[str, dict[str, float]]
    results: dict[str, list[HybridRun]]

    def runs_at(self, dataset: str, width: int | None = None) -> list[HybridRun]:
        """The runs of ``dataset`` at ``width`` (default: the table's)."""
        width = self.table_width if width is None else width
        return [r for r in self.results[dataset] if r.width == width]


def book_runs(*, seed: int, fmnist_widths: list[int], wine_widths: list[int],
              fmnist_seeds: int, wine_seeds: int, table_seeds: int, scout_seeds: int,
              scout_width: int, fmnist_epochs: int, wine_epochs: int,
              fmnist_train_samples: int, kernel_samples: int, monitor_samples: int,
              table_width: int, full_kernel_samples: int, literal_ntk1_steps: int,
              cache_dir: Path | None) -> BookRuns:
    """Load the data, scout the thresholds and run the sweep, as the hybrid chapters' parameters
    say (see the chapters' parameter cells; ``table_seeds`` seeds at ``table_width``, the
    others at every other width; the optional measurements on Fashion-MNIST only)."""
    tasks = {"fmnist": load_task("fmnist").with_train_size(fmnist_train_samples),
             "wine": load_task("wine")}
    settings = {
        "fmnist": {"epochs": fmnist_epochs, "kernel_samples": kernel_samples,
                   "monitor_samples": monitor_samples},
        "wine": {"epochs": wine_epochs, "kernel_samples": None,
                 "monitor_samples": monitor_samples},
    }
    widths = {"fmnist": list(fmnist_widths), "wine": list(wine_widths)}
    seeds = {"fmnist": list(range(seed, seed + fmnist_seeds)),
             "wine": list(range(seed, seed + wine_seeds))}
    table = {name: list(range(seed, seed + table_seeds)) for name in DATASETS}
    scouting, thresholds, results = {}, {}, {}
    for name, task in tasks.items():
        specs = scouting_specs(name, scout_width, range(seed + 1000, seed + 1000 + scout_seeds),
                               **settings[name])
        scouting[name] = scouting_summary(run_sweep(specs, task, cache_dir=cache_dir))
        thresholds[name] = dict(scouting[name].thresholds)
        extras = name == "fmnist"
        specs = main_specs(name, widths[name], seeds[name], thresholds[name],
                           extras_width=table_width, extras_seeds=table[name],
                           full_kernel_samples=full_kernel_samples if extras else 0,
                           literal_ntk1_steps=literal_ntk1_steps if extras else 0,
                           frontier_full_samples=full_kernel_samples if extras else 0,
                           **settings[name])
        results[name] = run_sweep(specs, task, cache_dir=cache_dir)
    return BookRuns(tasks, settings, widths, seeds, table, int(table_width), scouting,
                    thresholds, results)
