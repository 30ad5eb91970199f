"""Tables and curves from hybrid runs (:func:`ntkbook.hybrid.run_hybrid`), beside the thesis'.

Per-run rows (:func:`run_rows`) hold every method's final test numbers and seconds from the
switch; :func:`table_rows` averages them over seeds, leaving out diverged methods and runs that
never switched (both are counted). Metrics are in percent in the tables (accuracy, NRMSE).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ntkbook.experiments.hybrid.heuristics import (
    HEURISTICS,
    nanmean_curves,
    scouting_thresholds,
    switch_epoch,
)

#: Sarvanau's Table 1 (wide network, width 1000): (test loss, test accuracy or NRMSE in %).
THESIS_TABLE1 = {
    ("fmnist", "eps"): {"SGD": (0.47, 83.29), "NTK1": (0.47, 83.99), "NTK2": (0.50, 82.67),
                        "NTK3": (0.49, 83.02)},
    ("fmnist", "delta"): {"SGD": (0.47, 83.40), "NTK1": (0.45, 84.47), "NTK2": (0.47, 83.64),
                          "NTK3": (0.47, 83.83)},
    ("wine", "eps"): {"SGD": (0.66, 14.32), "NTK1": (0.76, 15.29), "NTK2": (0.82, 15.93),
                      "NTK3": (0.46, 11.93)},
    ("wine", "delta"): {"SGD": (0.66, 14.33), "NTK1": (1.07, 17.90), "NTK2": (1.97, 24.57),
                        "NTK3": (0.46, 11.95)},
}
#: Sarvanau's Table 2: wall seconds from the switch point (width 1000).
THESIS_TABLE2 = {
    ("fmnist", "eps"): {"SGD": 13.99, "NTK1": 153.58, "NTK2": 441.86, "NTK3": 235.27},
    ("fmnist", "delta"): {"SGD": 8.52, "NTK1": 89.59, "NTK2": 332.44, "NTK3": 239.83},
    ("wine", "eps"): {"SGD": 0.25, "NTK1": 6.26, "NTK2": 4.91, "NTK3": 3.95},
    ("wine", "delta"): {"SGD": 0.68, "NTK1": 16.72, "NTK2": 7.38, "NTK3": 3.94},
}

SGD = "SGD"
SGD_FLOW = "SGD for the faithful NTK3's flow time"
KEYS = ("dataset", "heuristic", "method", "variant", "residual", "width")


def implied_nrmse_denominators() -> list[dict]:
    """``sqrt(MSE) / NRMSE`` of every Wine row of the thesis' Table 1: if NRMSE is RMSE divided
    by the mean target of the test set, all of them are that mean (about 5.6)."""
    rows = []
    for (dataset, heuristic), methods in THESIS_TABLE1.items():
        if dataset != "wine":
            continue
        for method, (mse, nrmse) in methods.items():
            rows.append({"heuristic": heuristic, "method": method, "MSE": mse, "NRMSE %": nrmse,
                         "sqrt(MSE) / NRMSE": math.sqrt(mse) / (nrmse / 100)})
    return rows


def scouting_summary(results: Sequence[dict], fraction: float = 0.01,
                     percentile: float = 75.0) -> dict:
    """Thresholds from pure-SGD scouting runs (:func:`ntkbook.heuristics.scouting_thresholds`),
    the seed-mean validation metric, and the switch epoch each threshold gives on the seed-mean
    metric (what the thesis reports as "suggests a switch at epoch")."""
    val_losses = [_nan(r["sgd"]["val_loss"]) for r in results]
    metrics = {h: [_nan(r["metrics"][h]) for r in results] for h in HEURISTICS}
    out = scouting_thresholds(val_losses, metrics, fraction, percentile)
    out["mean_val_metric"] = nanmean_curves([_nan(r["sgd"]["val_metric"]) for r in results])
    out["suggested_switch"] = {h: switch_epoch(out["mean_metrics"][h], t)
                               for h, t in out["thresholds"].items()}
    out["runs"] = len(results)
    return out


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


def _percent(value):
    return None if value is None else 100.0 * value


def _switch(result: dict, heuristic: str) -> int | None:
    s = result["switch"].get(heuristic)
    return None if s is None or s >= result["spec"]["epochs"] else int(s)


def run_rows(results: Sequence[dict]) -> pd.DataFrame:
    """One row per run, heuristic and method: final test loss and metric (in %), seconds from the
    switch, and flags.

    Columns: ``dataset, width, seed, heuristic, switch_epoch, method, variant, residual,
    test_loss, test_metric, seconds_from_switch, diverged, no_switch, reason``. Pure SGD has
    variant and residual ``"-"``; its seconds are those of its epochs after the switch.
    """
    rows = []
    for result in results:
        spec = result["spec"]
        base = {"dataset": spec["dataset"], "width": spec["width"], "seed": spec["seed"]}
        sgd = result["sgd"]
        for heuristic, _ in spec["thresholds"]:
            s = _switch(result, heuristic)
            seconds = float(np.sum(sgd["epoch_seconds"][s:])) if s is not None else None
            head = base | {"heuristic": heuristic, "switch_epoch": result["switch"][heuristic]}
            rows.append(head | {"method": SGD, "variant": "-", "residual": "-",
                                "test_loss": sgd["test_loss"][-1],
                                "test_metric": _percent(sgd["test_metric"][-1]),
                                "seconds_from_switch": seconds, "diverged": False,
                                "no_switch": s is None, "reason": ""})
            methods = result["branches"][str(s)]["methods"] if s is not None else {}
            for key, m in methods.items():
                method, variant, residual = (key.split("/") + ["-"])[:3]
                if method == "SGD":
                    method, variant, residual = SGD_FLOW, "faithful", "-"
                rows.append(head | {"method": method, "variant": variant, "residual": residual,
                                    "test_loss": m.get("test_loss"),
                                    "test_metric": _percent(m.get("test_metric")),
                                    "seconds_from_switch": m["seconds"],
                                    "diverged": bool(m["diverged"]), "no_switch": False,
                                    "reason": m.get("reason", "")})
    return pd.DataFrame(rows)


def table_rows(per_run: pd.DataFrame) -> pd.DataFrame:
    """Seed means per (dataset, heuristic, method, variant, residual, width).

    ``seeds`` counts the runs averaged; diverged methods and runs that never switched are left out
    of the means and counted in ``diverged`` and ``no_switch``. Pure SGD's loss and metric average
    every run, its seconds the runs that switched.
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
            "seconds_from_switch": _mean(used["seconds_from_switch"]),
            "seeds": int(len(used_metrics)), "diverged": int(group["diverged"].sum()),
            "no_switch": int(group["no_switch"].sum()),
        })
    return pd.DataFrame(out)


def _mean(values) -> float | None:
    values = pd.to_numeric(values, errors="coerce").dropna()
    return float(values.mean()) if len(values) else None


def switch_rows(results: Sequence[dict]) -> pd.DataFrame:
    """Mean switch epoch per (dataset, width, heuristic); a run that never switches counts as
    ``E`` (as in the thesis) and is counted in ``no_switch``."""
    rows = []
    for result in results:
        spec = result["spec"]
        for heuristic, threshold in spec["thresholds"]:
            s = result["switch"].get(heuristic)
            rows.append({"dataset": spec["dataset"], "width": spec["width"],
                         "heuristic": heuristic, "threshold": threshold,
                         "switch_epoch": spec["epochs"] if s is None else s,
                         "no_switch": s is None or s >= spec["epochs"]})
    from ntkbook.experiments.hybrid.heuristics import THESIS_SWITCH_EPOCHS

    frame = pd.DataFrame(rows)
    out = frame.groupby(["dataset", "width", "heuristic"], as_index=False).agg(
        threshold=("threshold", "first"), mean_switch_epoch=("switch_epoch", "mean"),
        min_switch_epoch=("switch_epoch", "min"), max_switch_epoch=("switch_epoch", "max"),
        runs=("switch_epoch", "size"), no_switch=("no_switch", "sum"))
    out["thesis_mean_switch"] = [THESIS_SWITCH_EPOCHS.get(d, {}).get(h)
                                 for d, h in zip(out["dataset"], out["heuristic"], strict=True)]
    return out


def switch_numbers(switches: pd.DataFrame, width: int) -> dict:
    """Mean switch epoch per data set and heuristic at ``width`` (prose text), and the counts of
    (run, heuristic) pairs and of those that never switched."""
    out = {f"{d}_{h}_switch": text(pick(switches, "mean_switch_epoch", dataset=d, heuristic=h,
                                        width=width), ".1f")
           for d in switches["dataset"].unique() for h in HEURISTICS}
    return out | {"runs": int(switches["runs"].sum()),
                  "no_switch": int(switches["no_switch"].sum())}


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


_LABELS = {"eps": "ε", "delta": "δ", "spectral": "spectral"}


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
            thesis = THESIS_TABLE1.get((dataset, heuristic), {}).get(method)
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
            thesis = THESIS_TABLE2.get((dataset, heuristic), {})
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
    text = f"{row['test_loss']:.2f} / {row['test_metric']:.2f}%"
    if row["diverged"]:
        text += f" ({row['diverged']} diverged)"
    return text


def hybrid_curves(results: Sequence[dict], heuristic: str, width: int) -> dict:
    """Seed-mean validation curves over epochs ``0..E`` of SGD and every hybrid method.

    A hybrid curve is the run's SGD curve up to its switch epoch and the method's curve after it
    (NTK3: only its one-shot point at ``E``). Diverged methods and runs without a switch are left
    out; ``n`` counts the runs in each mean.

    Returns:
        ``{label: {"val_loss": (E+1,), "val_metric": (E+1,), "n": int}}`` with label ``"SGD"`` or
        ``"NTK2/consistent/squared"`` etc.; ``"switch_epochs"``: the runs' switch epochs.
    """
    sel = [r for r in results if r["spec"]["width"] == width]
    curves: dict[str, dict[str, list]] = {SGD: {"val_loss": [], "val_metric": []}}
    switches = []
    for result in sel:
        sgd = result["sgd"]
        curves[SGD]["val_loss"].append(_nan(sgd["val_loss"]))
        curves[SGD]["val_metric"].append(_nan(sgd["val_metric"]))
        s = _switch(result, heuristic)
        switches.append(result["switch"].get(heuristic))
        if s is None:
            continue
        for key, m in result["branches"][str(s)]["methods"].items():
            if key.startswith("SGD") or m["diverged"]:
                continue
            entry = curves.setdefault(key, {"val_loss": [], "val_metric": []})
            for name in ("val_loss", "val_metric"):
                curve = np.full(len(sgd[name]), np.nan)
                curve[: s + 1] = _nan(sgd[name])[: s + 1]
                values = _nan(m[name])
                curve[len(curve) - len(values):] = values
                entry[name].append(curve)
    out = {label: {name: nanmean_curves(v[name]) for name in ("val_loss", "val_metric")}
           | {"n": len(v["val_loss"])} for label, v in curves.items()}
    out["switch_epochs"] = switches
    return out


def _nan(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def pareto_points(results: Sequence[dict], heuristic: str, width: int) -> pd.DataFrame:
    """Test metric (%) against seconds since the switch, per run: SGD after every epoch from the
    switch to ``E``, and every non-diverged NTK method (and the faithful-time SGD) once."""
    rows = []
    for result in results:
        spec = result["spec"]
        s = _switch(result, heuristic)
        if spec["width"] != width or s is None:
            continue
        sgd = result["sgd"]
        elapsed = np.cumsum(sgd["epoch_seconds"][s:])
        for j, seconds in enumerate(elapsed, start=s + 1):
            rows.append({"seed": spec["seed"], "method": SGD, "epoch": j, "seconds": seconds,
                         "test_metric": _percent(sgd["test_metric"][j])})
        for key, m in result["branches"][str(s)]["methods"].items():
            if m["diverged"]:
                continue
            rows.append({"seed": spec["seed"], "method": SGD_FLOW if key.startswith("SGD")
                         else key, "epoch": spec["epochs"], "seconds": m["seconds"],
                         "test_metric": _percent(m["test_metric"])})
    return pd.DataFrame(rows)


def diverged_rows(per_run: pd.DataFrame) -> pd.DataFrame:
    """Counts of diverged methods per (dataset, method, variant, residual), with one reason."""
    sel = per_run[per_run["method"] != SGD]
    sel = sel[~sel["no_switch"]]
    grouped = sel.groupby(["dataset", "method", "variant", "residual"], as_index=False)
    return grouped.agg(runs=("diverged", "size"), diverged=("diverged", "sum"),
                       example_reason=("reason", lambda r: next((x for x in r if x), "")))


def threshold_rows(scouting: dict[str, dict]) -> pd.DataFrame:
    """Per data set and heuristic: our elbow, threshold and suggested switch epoch (on the
    seed-mean metric) beside the thesis' threshold and mean switch epoch."""
    from ntkbook.experiments.hybrid.heuristics import THESIS_SWITCH_EPOCHS, THESIS_THRESHOLDS

    rows = []
    for dataset, summary in scouting.items():
        for heuristic in HEURISTICS:
            rows.append({
                "dataset": dataset, "heuristic": _LABELS[heuristic],
                "scouting runs": summary["runs"], "elbow (epoch)": summary["elbow"],
                "threshold": summary["thresholds"][heuristic],
                "thesis threshold": THESIS_THRESHOLDS[dataset].get(heuristic),
                "suggested switch": summary["suggested_switch"][heuristic],
                "thesis mean switch": THESIS_SWITCH_EPOCHS[dataset].get(heuristic),
            })
    return pd.DataFrame(rows)


def timing_breakdown(results: Sequence[dict], width: int) -> dict:
    """Mean seconds, over every branch at ``width``, of the NTK phase's parts (kernel on the
    subset, outputs, eigendecomposition), and the mean SGD epoch after epoch 1."""
    parts: dict[str, list] = {"kernel": [], "outputs": [], "eigh": []}
    epochs = []
    for result in results:
        if result["spec"]["width"] != width:
            continue
        epochs.extend(result["sgd"]["epoch_seconds"][1:])
        for branch in result["branches"].values():
            for name in parts:
                parts[name].append(branch["kernel_seconds"][name])
    out = {f"{k}_seconds": float(np.mean(v)) if v else None for k, v in parts.items()}
    out["sgd_epoch_seconds"] = float(np.mean(epochs)) if epochs else None
    out["branches"] = len(parts["eigh"])
    return out


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


# --------------------------------------------------------------------------- headline numbers


def _ratio(a: float, b: float) -> float:
    return a / b if b and np.isfinite(a) and np.isfinite(b) else float("nan")


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


def clock_numbers(table: pd.DataFrame, results: Sequence[dict], width: int,
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
    parts = timing_breakdown(results, width)
    literal = next((r["extras"]["literal_ntk1"] for r in results
                    if "literal_ntk1" in r.get("extras", {})), {})
    threads = next((r["extras"]["eigh_seconds_by_threads"] for r in results
                    if "eigh_seconds_by_threads" in r.get("extras", {})), {})
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


def branch_numbers(results: Sequence[dict], width: int) -> dict:
    """Over every branch at ``width``: the smallest and largest ``eta rho lambda_max`` of the
    consistent NTK1 step, the mean squared-residual loss at the switch, and the longest
    faithful-time SGD continuation (epochs)."""
    stab, loss, flow_epochs = [], [], []
    for result in results:
        if result["spec"]["width"] != width:
            continue
        for branch in result["branches"].values():
            stab.append(branch["step_stability"]["consistent"])
            m = branch["methods"].get("NTK3/consistent/squared")
            if m is not None:
                loss.append(m["subset_loss_at_switch"])
            flow = branch["methods"].get("SGD/faithful-NTK3-time")
            if flow is not None:
                flow_epochs.append(flow["epochs"])
    return {"step_stability_min": text(min(stab) if stab else None, ".2f"),
            "step_stability_max": text(max(stab) if stab else None, ".2f"),
            "squared_loss_at_switch": text(float(np.mean(loss)) if loss else None, ".1f"),
            "sgdflow_epochs": text(max(flow_epochs) if flow_epochs else None, ".0f")}


def full_kernel_numbers(results: Sequence[dict]) -> dict:
    """The mean-vs-full kernel measurement of the first run that made it, as prose text."""
    full = next((r["extras"]["full_kernel"] for r in results
                 if "full_kernel" in r.get("extras", {})), None) or {}
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


def sgd_context(results: Sequence[dict], width: int, heuristic: str = "eps") -> dict:
    """How much SGD's test metric (%) moves after the switch, seed means at ``width``: at the
    switch epoch, at the last epoch, and the lowest and highest over the epochs after the switch
    — the scale against which an NTK method's difference from "SGD to the end" is read."""
    at_switch, last, low, high = [], [], [], []
    for result in results:
        s = _switch(result, heuristic)
        if result["spec"]["width"] != width or s is None:
            continue
        metric = 100 * _nan(result["sgd"]["test_metric"])
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


def cutoff_numbers(results: Sequence[dict]) -> dict:
    """The cutoff measurement (default float64 resolution against the worst-case float32 one)
    of the first run that made it, as prose text."""
    cut = next((r["extras"]["cutoff"] for r in results if "cutoff" in r.get("extras", {})),
               None) or {}
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


def time_scale_summary(task, epochs: int, kernel_samples: int | None) -> tuple[list, dict]:
    """The faithful and consistent time scales (:func:`ntkbook.ntk_updates.time_scale_rows`)
    for a switch at the thesis' mean epsilon switch epoch, and the numbers the prose quotes: the
    switch, the faithful/consistent ratio of NTK3's exponent, the faithful NTK3's flow time in
    SGD epochs, and the epochs replaced."""
    from ntkbook.dynamics.updates import time_scale_rows
    from ntkbook.experiments.hybrid.heuristics import THESIS_SWITCH_EPOCHS
    from ntkbook.experiments.hybrid.run import replaced_for

    switch = min(round(THESIS_SWITCH_EPOCHS[task.name]["eps"]), epochs - 1)
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


def full_kernel_table(results: Sequence[dict]) -> pd.DataFrame:
    """NTK3 (consistent) with the mean-over-outputs kernel (x) I and with the full kernel, on the
    first run's small subset: kernel and eigendecomposition seconds and test accuracy (%)."""
    full = next((r["extras"]["full_kernel"] for r in results
                 if "full_kernel" in r.get("extras", {})), None) or {}
    rows = []
    for kind, label in (("mean", "mean over outputs ⊗ I"), ("full", "full (every output pair)")):
        row = {"kernel": label, "seconds": full.get(f"seconds_kernel_eigh_{kind}")}
        for residual in ("softmax", "squared"):
            value = full.get(f"test_metric_{kind}_{residual}")
            row[f"test accuracy %, {residual}"] = None if value is None else 100 * value
        rows.append(row)
    return pd.DataFrame(rows).set_index("kernel")


def cutoff_table(results: Sequence[dict]) -> pd.DataFrame:
    """NTK3 (consistent) with the default cutoff and the worst-case float32 one: the cutoff, the
    eigen-directions it drops and the test accuracy (%)."""
    cut = next((r["extras"]["cutoff"] for r in results if "cutoff" in r.get("extras", {})),
               None) or {}
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
