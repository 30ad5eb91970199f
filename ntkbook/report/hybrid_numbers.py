"""The numbers the hybrid chapter's prose quotes, from run records
(:class:`~ntkbook.experiments.hybrid.record.HybridRun`) and the tables of
:mod:`ntkbook.report.hybrid_tables`: as text (``"n/a"`` where a small profile does not make
them), keyed as the chapter glues them; and the tables of the optional measurements.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ntkbook.experiments.hybrid.record import HybridRun, MethodKey
from ntkbook.report.hybrid_tables import (
    HEURISTICS,
    SGD,
    SGD_FLOW,
    _ratio,
    faithful_flow_sgd,
    pick,
    text,
)
from ntkbook.reported import SARVANAU_TABLE1, implied_nrmse_denominators
from ntkbook.stats import mean_ci


def _branches_at(runs: Sequence[HybridRun], width: int):
    """Every NTK branch (one per switch epoch) of the runs at ``width``."""
    return [branch for run in runs if run.width == width for branch in run.branches.values()]


def switch_numbers(switches: pd.DataFrame, width: int) -> dict:
    """Mean switch epoch per data set and heuristic at ``width`` (prose text), and the counts of
    (run, heuristic) pairs and of those that never switched."""
    out = {f"{d}_{h}_switch": text(pick(switches, "mean_switch_epoch", dataset=d, heuristic=h,
                                        width=width), ".1f")
           for d in switches["dataset"].unique() for h in HEURISTICS}
    return out | {"runs": int(switches["runs"].sum()),
                  "no_switch": int(switches["no_switch"].sum())}


def timing_breakdown(runs: Sequence[HybridRun], width: int) -> dict:
    """Mean seconds, over every branch at ``width``, of the NTK phase's parts (kernel on the
    subset, outputs, eigendecomposition), and the mean SGD epoch after epoch 1."""
    parts: dict[str, list] = {"kernel": [], "outputs": [], "eigh": []}
    epochs = []
    for run in runs:
        if run.width == width:
            epochs.extend(run.sgd.epoch_seconds[1:].tolist())
    for branch in _branches_at(runs, width):
        for name in parts:
            parts[name].append(branch.kernel_seconds[name])
    out = {f"{k}_seconds": float(np.mean(v)) if v else None for k, v in parts.items()}
    out["sgd_epoch_seconds"] = float(np.mean(epochs)) if epochs else None
    out["branches"] = len(parts["eigh"])
    return out


def _extra(runs: Sequence[HybridRun], name: str) -> dict:
    """The optional measurement ``name`` of the first run that made it (empty if none did)."""
    return next((getattr(r.extras, name) for r in runs
                 if r.extras is not None and getattr(r.extras, name)), None) or {}


def method_numbers(table: pd.DataFrame, dataset: str, width: int, heuristic: str = "eps") -> dict:
    """Test metric (%), loss and seconds of every method at ``width`` for one heuristic, keyed
    ``"<method>_<variant>_<residual>_<field>"`` (``"sgd_metric"``, ``"ntk3_consistent_softmax
    _seconds"``, ``"sgdflow_metric"``...), as prose text (``"n/a"`` where missing)."""
    sel = table[(table["dataset"] == dataset) & (table["width"] == width)
                & (table["heuristic"] == heuristic)]
    out = {}
    for _, row in sel.iterrows():
        if row["method"] == SGD:
            key = "sgd"
        elif row["method"] == SGD_FLOW:
            key = "sgdflow"
        else:
            key = f"{row['method'].lower()}_{row['variant']}_{row['residual']}"
        for field, name, spec in (("test_metric", "metric", ".2f"), ("test_loss", "loss", ".3f"),
                                  ("seconds_from_switch", "seconds", ".2f")):
            value = row[field]
            out[f"{key}_{name}"] = text(None if value is None or pd.isna(value) else value, spec)
    return out


def clock_numbers(table: pd.DataFrame, runs: Sequence[HybridRun], width: int,
                  residual: str = "softmax", heuristic: str = "eps",
                  dataset: str = "fmnist") -> dict:
    """The wall-clock target: NTK3 (consistent) seconds and test metric against the remaining
    SGD's, the verdict (at most 0.25x the time at no more than 0.5 points below SGD's accuracy),
    and where the NTK3 time goes."""
    keys = {"dataset": dataset, "width": width, "heuristic": heuristic}
    ntk3 = keys | {"method": "NTK3", "variant": "consistent", "residual": residual}
    ntk3_s, sgd_s = pick(table, "seconds_from_switch", **ntk3), pick(
        table, "seconds_from_switch", method=SGD, **keys)
    ntk3_acc = pick(table, "test_metric", **ntk3)
    sgd_acc = pick(table, "test_metric", method=SGD, **keys)
    ratio = _ratio(ntk3_s, sgd_s)
    met = bool(ratio <= 0.25 and ntk3_acc >= sgd_acc - 0.5)
    parts = timing_breakdown(runs, width)
    literal = _extra(runs, "literal_ntk1")
    threads = _extra(runs, "eigh_seconds_by_threads")
    most = max(threads, key=int) if threads else None
    return {
        "ntk3_seconds": text(ntk3_s), "sgd_seconds": text(sgd_s),
        "ntk3_time_ratio": text(ratio), "ntk3_time_ratio_value": ratio,
        "ntk3_acc": text(ntk3_acc), "sgd_acc": text(sgd_acc),
        "ntk3_acc_gap": text(ntk3_acc - sgd_acc, "+.2f"),
        "ntk3_acc_gap_value": ntk3_acc - sgd_acc,
        "target_verdict": "met" if met else "not met",
        "kernel_seconds": text(parts["kernel_seconds"]),
        "eigh_seconds": text(parts["eigh_seconds"]),
        "sgd_epoch_seconds": text(parts["sgd_epoch_seconds"]),
        "literal_ntk1_step": text(literal.get("seconds_per_step"), ".3f"),
        "literal_ntk1_total": text(literal.get("extrapolated_seconds"), ".0f"),
        "eigh_one_thread": text(threads.get("1")),
        "eigh_threads": most or "n/a",
        "eigh_all_threads": text(threads.get(most) if most else None),
    }


def branch_numbers(runs: Sequence[HybridRun], width: int) -> dict:
    """Over every branch at ``width``: the smallest and largest ``eta rho lambda_max`` of the
    consistent NTK1 step, the mean squared-residual loss at the switch, and the longest
    faithful-time SGD continuation (epochs)."""
    stab, loss, flow_epochs = [], [], []
    ntk3 = MethodKey("NTK3", "consistent", "squared")
    for run in runs:
        if run.width != width:
            continue
        for branch in run.branches.values():
            stab.append(branch.step_stability["consistent"])
            m = branch.methods.get(ntk3)
            if m is not None:
                loss.append(m.subset_loss_at_switch)
            flow = faithful_flow_sgd(branch)
            if flow is not None:
                flow_epochs.append(flow.flow_multiple * (run.epochs - branch.switch_epoch))
    return {"step_stability_min": text(min(stab) if stab else None, ".2f"),
            "step_stability_max": text(max(stab) if stab else None, ".2f"),
            "squared_loss_at_switch": text(float(np.mean(loss)) if loss else None, ".1f"),
            "sgdflow_epochs": text(max(flow_epochs) if flow_epochs else None, ".0f")}


def full_kernel_numbers(runs: Sequence[HybridRun]) -> dict:
    """The mean-vs-full kernel measurement of the first run that made it, as prose text."""
    full = _extra(runs, "full_kernel")
    out = {"full_samples": full.get("samples", 0)}
    for key in ("kernel_rel_gap", "off_diagonal_share", "update_rel_diff_softmax",
                "update_rel_diff_squared"):
        out[key] = text(full.get(key), ".3f")
    for kind in ("mean", "full"):
        for residual in ("softmax", "squared"):
            value = full.get(f"test_metric_{kind}_{residual}")
            out[f"{kind}_kernel_acc_{residual}"] = text(
                None if value is None else 100 * value, ".2f")
        out[f"{kind}_kernel_seconds"] = text(full.get(f"seconds_kernel_eigh_{kind}"), ".2f")
    return out


def sgd_context(runs: Sequence[HybridRun], width: int, heuristic: str = "eps") -> dict:
    """How much SGD's test metric (%) moves after the switch, seed means at ``width``: at the
    switch epoch, at the last epoch, and the lowest and highest over the epochs after the switch
    — the scale against which an NTK method's difference from "SGD to the end" is read."""
    at_switch, last, low, high = [], [], [], []
    for run in runs:
        s = run.switch_epoch(heuristic)
        if run.width != width or s is None:
            continue
        metric = 100 * run.sgd.test_metric
        at_switch.append(metric[s])
        last.append(metric[-1])
        low.append(np.nanmin(metric[s + 1:]))
        high.append(np.nanmax(metric[s + 1:]))
    return {"sgd_at_switch_metric": text(_mean_or_none(at_switch)),
            "sgd_last_metric": text(_mean_or_none(last)),
            "sgd_low_metric": text(_mean_or_none(low)),
            "sgd_high_metric": text(_mean_or_none(high))}


def _mean_or_none(values: list) -> float | None:
    return float(np.mean(values)) if values else None


def cutoff_numbers(runs: Sequence[HybridRun]) -> dict:
    """The cutoff measurement (default float64 resolution against the worst-case float32 one)
    of the first run that made it, as prose text."""
    cut = _extra(runs, "cutoff")
    out = {"cutoff_eigenvalues": cut.get("eigenvalues", 0)}
    for name in ("float64", "float32"):
        out[f"cutoff_{name}"] = text(cut.get(f"cutoff_{name}"), ".3g")
        out[f"dropped_{name}"] = cut.get(f"dropped_{name}", 0)
        for residual in ("softmax", "squared"):
            value = cut.get(f"test_metric_{name}_{residual}")
            out[f"cutoff_acc_{name}_{residual}"] = text(None if value is None else 100 * value)
    for residual in ("softmax", "squared"):
        out[f"cutoff_update_diff_{residual}"] = text(cut.get(f"update_rel_diff_{residual}"),
                                                     ".3f")
    return out


def full_kernel_table(runs: Sequence[HybridRun]) -> pd.DataFrame:
    """NTK3 (consistent) with the mean-over-outputs kernel (x) I and with the full kernel, on the
    first run's small subset: kernel and eigendecomposition seconds and test accuracy (%)."""
    full = _extra(runs, "full_kernel")
    rows = []
    for kind, label in (("mean", "mean over outputs ⊗ I"), ("full", "full (every output pair)")):
        row = {"kernel": label, "seconds": full.get(f"seconds_kernel_eigh_{kind}")}
        for residual in ("softmax", "squared"):
            value = full.get(f"test_metric_{kind}_{residual}")
            row[f"test accuracy %, {residual}"] = None if value is None else 100 * value
        rows.append(row)
    return pd.DataFrame(rows).set_index("kernel")


def cutoff_table(runs: Sequence[HybridRun]) -> pd.DataFrame:
    """NTK3 (consistent) with the default cutoff and the worst-case float32 one: the cutoff, the
    eigen-directions it drops and the test accuracy (%)."""
    cut = _extra(runs, "cutoff")
    rows = []
    for name, label in (("float64", "M eps64 lam_max (default)"),
                        ("float32", "M eps32 lam_max (worst case)")):
        row = {"cutoff": label, "value": cut.get(f"cutoff_{name}"),
               "dropped of": f"{cut.get(f'dropped_{name}', 0)} / {cut.get('eigenvalues', 0)}"}
        for residual in ("softmax", "squared"):
            value = cut.get(f"test_metric_{name}_{residual}")
            row[f"test accuracy %, {residual}"] = None if value is None else 100 * value
        rows.append(row)
    return pd.DataFrame(rows).set_index("cutoff")



def paired_difference(runs: Sequence[HybridRun], heuristic: str, a, b) -> dict:
    """``metric(a) - metric(b)`` in percentage points, paired within each run (same network, same
    switch), over the runs where both exist and neither diverged.

    ``a`` and ``b`` are a :class:`MethodKey`, ``"SGD"`` (SGD to the last epoch) or ``"stop"``
    (the test metric at the switch epoch).

    Returns:
        ``{"mean", "lo", "hi", "n", "a", "b"}``: the mean difference and its Student-t 95 %
        interval (NaN bounds for fewer than two runs), ``n`` runs, ``a`` and ``b`` the seed means.
    """
    def metric(run, branch, which):
        if which == "SGD":
            return run.sgd.test_metric[-1]
        if which == "stop":
            return run.sgd.test_metric[branch.switch_epoch]
        m = branch.methods.get(which)
        return None if m is None or m.diverged else m.test_metric

    pairs = []
    for run in runs:
        branch = run.branch(heuristic)
        if branch is None:
            continue
        va, vb = metric(run, branch, a), metric(run, branch, b)
        if va is not None and vb is not None and np.isfinite(va) and np.isfinite(vb):
            pairs.append((100 * va, 100 * vb))
    if not pairs:
        nan = float("nan")
        return {"mean": nan, "lo": nan, "hi": nan, "n": 0, "a": nan, "b": nan}
    arr = np.asarray(pairs)
    mean, lo, hi = mean_ci(arr[:, 0] - arr[:, 1])
    return {"mean": mean, "lo": lo, "hi": hi, "n": len(pairs), "a": float(arr[:, 0].mean()),
            "b": float(arr[:, 1].mean())}


def nrmse_denominator_check() -> dict:
    """Whether one denominator fits every Wine row of the thesis' Table 1 within its rounding
    (:func:`ntkbook.reported.implied_nrmse_denominators`): the largest lower bound, the smallest
    upper bound, and the rows that set them."""
    rows = implied_nrmse_denominators()
    low = max(rows, key=lambda r: r["low"])
    high = min(rows, key=lambda r: r["high"])
    return {"fits": bool(low["low"] <= high["high"]), "max_low": low["low"],
            "max_low_row": f"{low['method']} ({low['heuristic']})", "min_high": high["high"],
            "min_high_row": f"{high['method']} ({high['heuristic']})"}


def table1_distance(table: pd.DataFrame, dataset: str, width: int, residual: str,
                    variant: str) -> dict:
    """How close one reading (``variant``) of NTK1-NTK3 comes to the thesis' Table 1 at
    ``width``: the mean absolute difference of the test metric (percentage points) over the
    methods and heuristics both have, the largest one, and how many cells diverged here (a
    diverged cell has no number and is not in the mean)."""
    diffs, diverged, worst = [], 0, ("", 0.0)
    for heuristic in ("eps", "delta"):
        thesis = SARVANAU_TABLE1.get((dataset, heuristic), {})
        for method in ("NTK1", "NTK2", "NTK3"):
            sel = table[(table["dataset"] == dataset) & (table["width"] == width)
                        & (table["heuristic"] == heuristic) & (table["method"] == method)
                        & (table["variant"] == variant) & (table["residual"] == residual)]
            if sel.empty or method not in thesis:
                continue
            ours = sel.iloc[0]["test_metric"]
            if ours is None or pd.isna(ours):
                diverged += 1
                continue
            d = abs(float(ours) - thesis[method][1])
            diffs.append(d)
            if d >= worst[1]:
                worst = (f"{method} ({heuristic})", d)
    return {"variant": variant, "mean_abs": float(np.mean(diffs)) if diffs else float("nan"),
            "compared": len(diffs), "diverged": diverged, "worst": worst[0],
            "worst_abs": worst[1] if diffs else float("nan")}


def ntk1_stability(results: dict[str, Sequence[HybridRun]], width: int) -> dict:
    """Per data set, over every switch at ``width``: how many, the smallest and largest
    ``eta rho lambda_max`` of the consistent NTK1 step (> 2: the top mode grows), and how many
    consistent NTK1 updates (squared residual) diverged."""
    out = {}
    key = MethodKey("NTK1", "consistent", "squared")
    for name, runs in results.items():
        branches = _branches_at(runs, width)
        steps = [branch.step_stability["consistent"] for branch in branches]
        diverged = sum(int(m is not None and m.diverged)
                       for m in (branch.methods.get(key) for branch in branches))
        out[name] = {"switches": len(steps), "diverged": diverged,
                     "min_step": min(steps) if steps else float("nan"),
                     "max_step": max(steps) if steps else float("nan")}
    return out
