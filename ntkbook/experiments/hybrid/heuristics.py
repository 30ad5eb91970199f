"""When to switch from SGD to an NTK update: the stability metrics of Sarvanau (2025) and a
spectral one, the scouting rule that turns them into thresholds, and the switch decision.

Every metric is a series over epochs ``t = 0, 1, ..., E`` (``t = 0`` is the initialisation), with
NaN where its window reaches before the start:

* ``eps`` (parameter norm): ``||theta_t - theta_{t-2}||`` over all weights and biases.
* ``delta`` (NTK stability): ``| ||Theta_t - Theta_0||_F - ||Theta_{t-4} - Theta_0||_F |`` with
  ``Theta`` the **mean-over-outputs** empirical NTK on a fixed monitoring subset of 200 training
  inputs and ``Theta_0`` the kernel at initialisation. (The thesis' published code sums the
  kernel over the outputs, so for 10 outputs its kernel, and its ``delta``, is 10 times ours.)
* ``spectral`` (new): ``max_i |lam_i(t) - lam_i(t-2)| / lam_i(t)`` over the ``k`` largest
  eigenvalues of the same monitoring kernel: the relative drift of its leading spectrum.

Scouting (thesis sec. 4.3.2): average the validation loss and the metrics over pure-SGD runs, find
the *elbow* (:func:`elbow_epoch`), and take as threshold the 75th percentile of the averaged metric
over the plateau after it (:func:`plateau_threshold`). A run then switches at the first epoch
whose metric falls below the threshold (:func:`switch_epoch`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ntkbook.experiments.hybrid.record import HEURISTICS, HybridRun, ScoutingSummary
from ntkbook.store.codec import floats

#: Window ``k`` of each metric (epochs): the thesis' 2 for ``eps`` and 4 for ``delta``; keyed
#: in the order of :data:`HEURISTICS` (defined with the record types, which name them).
WINDOWS = {"eps": 2, "delta": 4, "spectral": 2}

def _lagged(values: np.ndarray, window: int) -> np.ndarray:
    """``values[t] - values[t - window]`` with NaN for ``t < window``; works along axis 0."""
    values = np.asarray(values, dtype=np.float64)
    out = np.full_like(values, np.nan)
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    out[window:] = values[window:] - values[:-window]
    return out


def _euclidean(a, b) -> float:
    return float(np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64)))


def param_change_series(
    params: Sequence, window: int = WINDOWS["eps"], distance: Callable | None = None
) -> np.ndarray:
    """The ``eps`` metric ``||theta_t - theta_{t-window}||`` for every epoch.

    Args:
        params: ``E + 1`` parameter sets, epoch 0 (initialisation) first: flat vectors, or any
            objects ``distance`` accepts (e.g. parameter pytrees).
        window: ``k``.
        distance: ``(a, b) -> ||a - b||``; default the Euclidean norm of flat arrays.

    Returns:
        ``(E + 1,)`` float64, NaN for ``t < window``.
    """
    distance = distance or _euclidean
    out = np.full(len(params), np.nan)
    for t in range(window, len(params)):
        out[t] = distance(params[t], params[t - window])
    return out


def kernel_stability_series(kernel_distances: np.ndarray,
                            window: int = WINDOWS["delta"]) -> np.ndarray:
    """The ``delta`` metric from ``D_t = ||Theta_t - Theta_0||_F``: ``|D_t - D_{t-window}|``.

    Args:
        kernel_distances: ``(E + 1,)`` with ``D_0 = 0``.
        window: ``k``.
    """
    return np.abs(_lagged(kernel_distances, window))


def spectral_series(top_eigenvalues: np.ndarray,
                    window: int = WINDOWS["spectral"]) -> np.ndarray:
    """The spectral metric ``max_i |lam_i(t) - lam_i(t-window)| / lam_i(t)``.

    Args:
        top_eigenvalues: ``(E + 1, k)`` the ``k`` largest eigenvalues of the monitoring kernel at
            each epoch, in the same (e.g. descending) order every epoch.
        window: ``k`` of the lag.
    """
    lam = np.asarray(top_eigenvalues, dtype=np.float64)
    if lam.ndim != 2:
        raise ValueError(f"top_eigenvalues must have shape (epochs + 1, k), got {lam.shape}")
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.abs(_lagged(lam, window)) / np.abs(lam)
    out = np.full(lam.shape[0], np.nan)
    out[window:] = np.max(rel[window:], axis=1)
    return out


def elbow_epoch(val_loss: Sequence[float], fraction: float = 0.01) -> int:
    """The first epoch after which the validation loss changes by less than ``fraction`` of its
    initial drop (the thesis' rule, as its code computes it).

    The curve's epoch-0 value (the initialisation) is not used, since the thesis records losses
    from the end of epoch 1 on: the initial drop is ``L_1 - min_{t >= 1} L_t`` and the elbow is
    the first epoch ``e >= 2`` with ``|L_e - L_{e-1}| < fraction * (L_1 - min L)``. If there is
    none, the thesis' fallback: the middle epoch, ``E // 2 + 1``.

    Args:
        val_loss: ``(E + 1,)`` validation losses, ``L_0`` at initialisation.
        fraction: the thesis' 1 %.

    Raises:
        ValueError: fewer than three epochs, NaN/Inf, or a loss that never falls below its
            epoch-1 value.
    """
    loss = np.asarray(val_loss, dtype=np.float64)
    if loss.ndim != 1 or loss.shape[0] < 4:
        raise ValueError(f"need a 1-D validation-loss curve of >= 3 epochs, got {loss.shape}")
    if not np.all(np.isfinite(loss)):
        raise ValueError("the validation-loss curve holds NaN/Inf: a scouting run diverged")
    recorded = loss[1:]
    drop = recorded[0] - recorded.min()
    if drop <= 0:
        raise ValueError(
            f"the validation loss never falls below its epoch-1 value {recorded[0]:.4g}: no "
            "elbow can be defined; check the learning rate"
        )
    small = np.nonzero(np.abs(np.diff(recorded)) < fraction * drop)[0]
    return int(small[0] + 2) if small.size else recorded.shape[0] // 2 + 1


def plateau_threshold(metric: Sequence[float], elbow: int, percentile: float = 75.0) -> float:
    """The ``percentile`` of ``metric`` over the plateau, the epochs ``t >= elbow`` where the
    metric is defined.

    Raises:
        ValueError: the metric is undefined on the whole plateau (elbow before the window ends
            and nothing after it); the message names the elbow.
    """
    values = np.asarray(metric, dtype=np.float64)[elbow:]
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError(
            f"no defined metric value at or after the elbow (epoch {elbow}): run the scouting "
            "for more epochs than the metric's window"
        )
    return float(np.percentile(values, percentile))


def switch_epoch(metric: Sequence[float], threshold: float) -> int | None:
    """The first epoch whose metric is below ``threshold``, or None if there is none."""
    values = np.asarray(metric, dtype=np.float64)
    below = np.nonzero(np.isfinite(values) & (values < threshold))[0]
    return int(below[0]) if below.size else None


def nanmean_curves(curves: Sequence[Sequence[float]]) -> np.ndarray:
    """Epoch-wise mean of equally long curves, ignoring NaN (NaN where all are NaN)."""
    arr = np.asarray(curves, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        counts = np.sum(np.isfinite(arr), axis=0)
        sums = np.nansum(arr, axis=0)
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def scouting_thresholds(
    val_losses: Sequence[Sequence[float]],
    metrics: dict[str, Sequence[Sequence[float]]],
    fraction: float = 0.01,
    percentile: float = 75.0,
) -> dict:
    """Thresholds from scouting runs, as in the thesis: elbow of the seed-averaged validation
    loss, then the ``percentile`` of each seed-averaged metric over the plateau.

    Args:
        val_losses: one ``(E + 1,)`` validation-loss curve per scouting run.
        metrics: heuristic name -> one ``(E + 1,)`` metric series per run.
        fraction, percentile: the thesis' 1 % and 75th percentile.

    Returns:
        ``{"elbow": int, "mean_val_loss": [...], "thresholds": {name: float},
        "mean_metrics": {name: [...]}}``.
    """
    mean_loss = nanmean_curves(val_losses)
    elbow = elbow_epoch(mean_loss, fraction)
    mean_metrics = {name: nanmean_curves(series) for name, series in metrics.items()}
    thresholds = {name: plateau_threshold(m, elbow, percentile) for name, m in mean_metrics.items()}
    return {"elbow": elbow, "mean_val_loss": mean_loss.tolist(), "thresholds": thresholds,
            "mean_metrics": {k: v.tolist() for k, v in mean_metrics.items()}}


def scouting_summary(runs: Sequence[HybridRun], fraction: float = 0.01,
                     percentile: float = 75.0) -> ScoutingSummary:
    """Thresholds from pure-SGD scouting runs (:func:`scouting_thresholds`), the seed-mean
    validation metric, and the switch epoch each threshold gives on the seed-mean metric (what
    the thesis reports as "suggests a switch at epoch")."""
    val_losses = [floats(r.sgd.val_loss) for r in runs]
    metrics = {h: [floats(r.metrics[h]) for r in runs] for h in HEURISTICS}
    found = scouting_thresholds(val_losses, metrics, fraction, percentile)
    return ScoutingSummary(
        runs=len(runs), elbow=found["elbow"], mean_val_loss=floats(found["mean_val_loss"]),
        mean_val_metric=nanmean_curves([r.sgd.val_metric for r in runs]),
        mean_metrics={h: floats(v) for h, v in found["mean_metrics"].items()},
        thresholds=found["thresholds"],
        suggested_switch={h: switch_epoch(found["mean_metrics"][h], t)
                          for h, t in found["thresholds"].items()})
