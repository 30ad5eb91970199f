"""Tables and curves from hybrid runs (:class:`~ntkbook.experiments.hybrid.record.HybridRun`,
made by :func:`ntkbook.experiments.hybrid.run_hybrid`), beside the thesis'.

Per-run rows (:func:`run_rows`) hold every method's final test numbers and seconds from the
switch; :func:`table_rows` averages them over seeds, leaving out diverged methods and runs that
never switched (both are counted). Metrics are in percent in the tables (accuracy, NRMSE). The
numbers the prose quotes are in :mod:`ntkbook.report.hybrid_numbers`.

This module reads records only: it never reruns any part of the protocol.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ntkbook.experiments.hybrid.record import (
    HEURISTICS,
    Branch,
    FrontierPoint,
    HybridRun,
    MethodKey,
    ScoutingSummary,
)
from ntkbook.reported import (
    SARVANAU_SWITCH_EPOCHS,
    SARVANAU_TABLE1,
    SARVANAU_TABLE2,
    SARVANAU_THRESHOLDS,
)
from ntkbook.stats import mean_ci

SGD = "SGD"

SGD_FLOW = "SGD for the faithful NTK3's flow time"

KEYS = ("dataset", "heuristic", "method", "variant", "residual", "width")

_LABELS = {"eps": "ε", "delta": "δ", "spectral": "spectral"}



def text(value, spec: str = ".2f", suffix: str = "") -> str:
    """``value`` formatted for the prose, or ``"n/a"`` where it is missing (None/NaN): prose
    numbers that a small profile may not produce are glued as text."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    return f"{value:{spec}}{suffix}"


def pick(table: pd.DataFrame, field: str, **keys) -> float:
    """One value of ``table`` where every column in ``keys`` matches (NaN if none)."""
    sel = table
    for column, value in keys.items():
        sel = sel[sel[column] == value]
    if sel.empty or sel.iloc[0][field] is None:
        return float("nan")
    return float(sel.iloc[0][field])


def _ratio(a: float, b: float) -> float:
    return a / b if b and np.isfinite(a) and np.isfinite(b) else float("nan")


def _percent(value):
    return None if value is None else 100.0 * value


def _opt(value) -> float | None:
    """A float, or None where it is missing or NaN (as the JSON record holds it)."""
    return None if value is None or not np.isfinite(value) else float(value)


def _nanmean(curves: Sequence[np.ndarray]) -> np.ndarray:
    """Epoch-wise mean of equally long curves, ignoring NaN (NaN where all are NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.asarray(curves, dtype=np.float64), axis=0)



def faithful_flow_sgd(branch: Branch) -> FrontierPoint | None:
    """The frontier's SGD continued for the faithful NTK3's flow time, if measured."""
    return next((p for p in branch.frontier
                 if p.method == "SGD continued" and p.variant == "faithful"), None)


def run_rows(runs: Sequence[HybridRun]) -> pd.DataFrame:
    """One row per run, heuristic and method: final test loss and metric (in %), seconds from the
    switch, and flags.

    Columns: ``dataset, width, seed, heuristic, switch_epoch, method, variant, residual,
    test_loss, test_metric, seconds_from_switch, diverged, no_switch, reason``. Pure SGD has
    variant and residual ``"-"``, SGD for the faithful NTK3's flow time ``"faithful"`` and
    ``"-"``; pure SGD's seconds are those of its epochs after the switch.
    """
    rows = []
    for run in runs:
        base = {"dataset": run.dataset, "width": run.width, "seed": run.seed}
        sgd = run.sgd
        for heuristic, _ in run.thresholds:
            s = run.switch_epoch(heuristic)
            seconds = float(np.sum(sgd.epoch_seconds[s:])) if s is not None else None
            head = base | {"heuristic": heuristic, "switch_epoch": run.switch[heuristic]}
            rows.append(head | {"method": SGD, "variant": "-", "residual": "-",
                                "test_loss": _opt(sgd.test_loss[-1]),
                                "test_metric": _percent(_opt(sgd.test_metric[-1])),
                                "seconds_from_switch": seconds, "diverged": False,
                                "no_switch": s is None, "reason": ""})
            branch = run.branch(heuristic)
            if branch is None:
                continue
            for key, m in branch.methods.items():
                rows.append(head | {"method": key.method, "variant": key.variant,
                                    "residual": key.residual, "test_loss": m.test_loss,
                                    "test_metric": _percent(m.test_metric),
                                    "seconds_from_switch": m.seconds, "diverged": m.diverged,
                                    "no_switch": False, "reason": m.reason})
            flow = faithful_flow_sgd(branch)
            if flow is not None:
                rows.append(head | {"method": SGD_FLOW, "variant": "faithful", "residual": "-",
                                    "test_loss": flow.test_loss,
                                    "test_metric": _percent(flow.test_metric),
                                    "seconds_from_switch": flow.seconds,
                                    "diverged": flow.diverged, "no_switch": False,
                                    "reason": flow.reason})
    return pd.DataFrame(rows)


def table_rows(per_run: pd.DataFrame) -> pd.DataFrame:
    """Seed means per (dataset, heuristic, method, variant, residual, width).

    ``seeds`` counts the runs averaged; diverged methods and runs that never switched are left out
    of the means and counted in ``diverged`` and ``no_switch``. Pure SGD's loss and metric average
    every run, its seconds the runs that switched. ``test_metric_half`` is the half-width of the
    metric mean's Student-t 95 % interval (NaN for one seed).
    """
    out = []
    for key, group in per_run.groupby(list(KEYS), sort=False):
        used = group[~group["diverged"] & ~group["no_switch"]]
        if key[2] == SGD:
            used_metrics = group
        else:
            used_metrics = used
        out.append(dict(zip(KEYS, key, strict=True)) | {
            "test_loss": _mean(used_metrics["test_loss"]),
            "test_metric": _mean(used_metrics["test_metric"]),
            "test_metric_half": _half_width(used_metrics["test_metric"]),
            "seconds_from_switch": _mean(used["seconds_from_switch"]),
            "seeds": int(len(used_metrics)), "diverged": int(group["diverged"].sum()),
            "no_switch": int(group["no_switch"].sum()),
        })
    return pd.DataFrame(out)


def _half_width(values) -> float:
    values = pd.to_numeric(values, errors="coerce").dropna()
    if len(values) < 2:
        return float("nan")
    mean, _, high = mean_ci(values)
    return high - mean


def _mean(values) -> float | None:
    values = pd.to_numeric(values, errors="coerce").dropna()
    return float(values.mean()) if len(values) else None


def switch_rows(runs: Sequence[HybridRun]) -> pd.DataFrame:
    """Mean switch epoch per (dataset, width, heuristic); a run that never switches counts as
    ``E`` (as in the thesis) and is counted in ``no_switch``."""
    rows = []
    for run in runs:
        for heuristic, threshold in run.thresholds:
            s = run.switch.get(heuristic)
            rows.append({"dataset": run.dataset, "width": run.width,
                         "heuristic": heuristic, "threshold": threshold,
                         "switch_epoch": run.epochs if s is None else s,
                         "no_switch": s is None or s >= run.epochs})
    frame = pd.DataFrame(rows)
    out = frame.groupby(["dataset", "width", "heuristic"], as_index=False).agg(
        threshold=("threshold", "first"), mean_switch_epoch=("switch_epoch", "mean"),
        min_switch_epoch=("switch_epoch", "min"), max_switch_epoch=("switch_epoch", "max"),
        runs=("switch_epoch", "size"), no_switch=("no_switch", "sum"))
    out["thesis_mean_switch"] = [SARVANAU_SWITCH_EPOCHS.get(d, {}).get(h)
                                 for d, h in zip(out["dataset"], out["heuristic"], strict=True)]
    return out


def heuristic_comparison(table: pd.DataFrame, switches: pd.DataFrame, thresholds: dict,
                         width: int) -> pd.DataFrame:
    """The three heuristics side by side at ``width``: threshold, mean switch epoch, SGD's and
    NTK3 (consistent)'s test metric (%), and NTK3's seconds as a multiple of SGD's. NTK3 uses the
    softmax residual where there is one."""
    rows = []
    for dataset in thresholds:
        residual = "softmax" if "softmax" in set(table[table["dataset"] == dataset]["residual"]) \
            else "squared"
        for heuristic in HEURISTICS:
            keys = {"dataset": dataset, "width": width, "heuristic": heuristic}
            ntk3 = keys | {"method": "NTK3", "variant": "consistent", "residual": residual}
            rows.append({
                "data set": dataset, "heuristic": heuristic,
                "threshold": thresholds[dataset][heuristic],
                "mean switch epoch": pick(switches, "mean_switch_epoch", **keys),
                "SGD test metric %": pick(table, "test_metric", method=SGD, **keys),
                "NTK3 consistent %": pick(table, "test_metric", **ntk3),
                "NTK3 s / SGD s": _ratio(pick(table, "seconds_from_switch", **ntk3),
                                         pick(table, "seconds_from_switch", method=SGD, **keys)),
            })
    return pd.DataFrame(rows)


def _select(table: pd.DataFrame, dataset: str, width: int, heuristic: str, method: str,
            variant: str, residual: str):
    sel = table[(table["dataset"] == dataset) & (table["width"] == width)
                & (table["heuristic"] == heuristic) & (table["method"] == method)]
    if method != SGD:
        sel = sel[(sel["variant"] == variant) & (sel["residual"] == residual)]
    return None if sel.empty else sel.iloc[0]


def thesis_table1(table: pd.DataFrame, dataset: str, width: int, residual: str,
                  variant: str = "faithful") -> pd.DataFrame:
    """Table 1 beside the thesis': ``test loss / metric %`` per method (rows) and heuristic
    (ours, thesis), for one variant and residual of the NTK methods."""
    rows = []
    for method in (SGD, "NTK1", "NTK2", "NTK3"):
        row = {"method": method}
        for heuristic in HEURISTICS:
            hit = _select(table, dataset, width, heuristic, method, variant, residual)
            row[f"{_LABELS[heuristic]} ours"] = "" if hit is None else _cell(hit)
            thesis = SARVANAU_TABLE1.get((dataset, heuristic), {}).get(method)
            if thesis is not None:
                row[f"{_LABELS[heuristic]} thesis"] = f"{thesis[0]:.2f} / {thesis[1]:.2f}%"
        rows.append(row)
    return pd.DataFrame(rows).set_index("method")


def thesis_table2(table: pd.DataFrame, dataset: str, width: int, residual: str,
                  variant: str = "faithful") -> pd.DataFrame:
    """Table 2 beside the thesis': wall seconds from the switch per method and heuristic, and
    each method's time as a multiple of the remaining SGD's (ours and the thesis')."""
    rows = []
    for method in (SGD, "NTK1", "NTK2", "NTK3"):
        row = {"method": method}
        for heuristic in HEURISTICS:
            label = _LABELS[heuristic]
            hit = _select(table, dataset, width, heuristic, method, variant, residual)
            sgd = _select(table, dataset, width, heuristic, SGD, variant, residual)
            seconds = None if hit is None else hit["seconds_from_switch"]
            row[f"{label} s ours"] = seconds
            row[f"{label} ×SGD ours"] = (seconds / sgd["seconds_from_switch"]
                                         if seconds is not None and sgd is not None
                                         and sgd["seconds_from_switch"] else None)
            thesis = SARVANAU_TABLE2.get((dataset, heuristic), {})
            if method in thesis:
                row[f"{label} s thesis"] = thesis[method]
                row[f"{label} ×SGD thesis"] = thesis[method] / thesis[SGD]
        rows.append(row)
    return pd.DataFrame(rows).set_index("method")


def variants_table(table: pd.DataFrame, dataset: str, width: int) -> pd.DataFrame:
    """Every method, variant and residual at one width: ``test loss / metric %`` and seconds
    from the switch per heuristic (diverged counts in brackets)."""
    sel = table[(table["dataset"] == dataset) & (table["width"] == width)]
    rows = {}
    for _, r in sel.iterrows():
        key = (r["method"], r["variant"], r["residual"])
        row = rows.setdefault(key, {})
        row[f"{_LABELS[r['heuristic']]}"] = _cell(r)
        row[f"{_LABELS[r['heuristic']]} s"] = r["seconds_from_switch"]
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index = pd.MultiIndex.from_tuples(frame.index, names=["method", "variant", "residual"])
    return frame


def _cell(row) -> str:
    if row["test_loss"] is None or pd.isna(row["test_loss"]) or row["seeds"] == 0:
        return f"diverged ({row['diverged']}/{row['diverged'] + row['seeds']})"
    half = row.get("test_metric_half", float("nan"))
    spread = f" ± {half:.2f}" if half is not None and np.isfinite(half) else ""
    text = f"{row['test_loss']:.2f} / {row['test_metric']:.2f}{spread}% (n={row['seeds']})"
    if row["diverged"]:
        text += f" ({row['diverged']} diverged)"
    return text


def hybrid_curves(runs: Sequence[HybridRun], heuristic: str, width: int) -> dict:
    """Seed-mean validation curves over epochs ``0..E`` of SGD and every hybrid method.

    A hybrid curve is the run's SGD curve up to its switch epoch and the method's curve after it
    (NTK3: only its one-shot point at ``E``). Diverged methods and runs without a switch are left
    out; ``n`` counts the runs in each mean.

    Returns:
        ``{label: {"val_loss": (E+1,), "val_metric": (E+1,), "n": int}}`` with label :data:`SGD`
        or a :class:`~ntkbook.experiments.hybrid.record.MethodKey`; ``"switch_epochs"``: the
        runs' switch epochs.
    """
    sel = [r for r in runs if r.width == width]
    curves: dict[str | MethodKey, dict[str, list]] = {SGD: {"val_loss": [], "val_metric": []}}
    switches = []
    for run in sel:
        sgd = {"val_loss": run.sgd.val_loss, "val_metric": run.sgd.val_metric}
        curves[SGD]["val_loss"].append(sgd["val_loss"])
        curves[SGD]["val_metric"].append(sgd["val_metric"])
        switches.append(run.switch.get(heuristic))
        branch = run.branch(heuristic)
        if branch is None:
            continue
        s = branch.switch_epoch
        for key, m in branch.methods.items():
            if m.diverged:
                continue
            entry = curves.setdefault(key, {"val_loss": [], "val_metric": []})
            for name in ("val_loss", "val_metric"):
                curve = np.full(len(sgd[name]), np.nan)
                curve[: s + 1] = sgd[name][: s + 1]
                values = getattr(m, name)
                curve[len(curve) - len(values):] = values
                entry[name].append(curve)
    out: dict = {label: {name: _nanmean(v[name]) for name in ("val_loss", "val_metric")}
                 | {"n": len(v["val_loss"])} for label, v in curves.items()}
    out["switch_epochs"] = switches
    return out


def diverged_rows(per_run: pd.DataFrame) -> pd.DataFrame:
    """Counts of diverged methods per (dataset, method, variant, residual), with one reason."""
    sel = per_run[per_run["method"] != SGD]
    sel = sel[~sel["no_switch"]]
    grouped = sel.groupby(["dataset", "method", "variant", "residual"], as_index=False)
    return grouped.agg(runs=("diverged", "size"), diverged=("diverged", "sum"),
                       example_reason=("reason", lambda r: next((x for x in r if x), "")))


def threshold_rows(scouting: dict[str, ScoutingSummary]) -> pd.DataFrame:
    """Per data set and heuristic: our elbow, threshold and suggested switch epoch (on the
    seed-mean metric) beside the thesis' threshold and mean switch epoch."""
    rows = []
    for dataset, summary in scouting.items():
        for heuristic in HEURISTICS:
            rows.append({
                "dataset": dataset, "heuristic": _LABELS[heuristic],
                "scouting runs": summary.runs, "elbow (epoch)": summary.elbow,
                "threshold": summary.thresholds[heuristic],
                "thesis threshold": SARVANAU_THRESHOLDS[dataset].get(heuristic),
                "suggested switch": summary.suggested_switch[heuristic],
                "thesis mean switch": SARVANAU_SWITCH_EPOCHS[dataset].get(heuristic),
            })
    return pd.DataFrame(rows)


def flow_time_rows(table: pd.DataFrame, dataset: str, width: int) -> pd.DataFrame:
    """Pure SGD, NTK3 faithful and consistent (squared residual) and SGD continued for the
    faithful NTK3's flow time: test loss and metric (%) per heuristic."""
    rows = []
    picks = [(SGD, "-", "-"), ("NTK3", "consistent", "squared"), ("NTK3", "faithful", "squared"),
             (SGD_FLOW, "faithful", "-")]
    sel = table[(table["dataset"] == dataset) & (table["width"] == width)]
    for method, variant, residual in picks:
        for heuristic in HEURISTICS:
            hit = sel[(sel["method"] == method) & (sel["variant"] == variant)
                      & (sel["residual"] == residual) & (sel["heuristic"] == heuristic)]
            if hit.empty:
                continue
            h = hit.iloc[0]
            rows.append({"method": method if method in (SGD, SGD_FLOW) else
                         f"{method} {variant}", "heuristic": _LABELS[heuristic],
                         "test loss": h["test_loss"], "test metric %": h["test_metric"],
                         "seconds from switch": h["seconds_from_switch"], "runs": h["seeds"]})
    return pd.DataFrame(rows)

