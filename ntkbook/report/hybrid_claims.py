"""The qualitative sentences of the hybrid chapters, each with the predicate that supports it.

Every function returns ``{name: {"holds", "text", "numbers", "tolerance"}}``; a chapter states
them with ``ntkbook.pipeline.claim(name, **spec)``, so that a sentence whose predicate fails in
some run shows up as a warning on the page instead of as a false statement. Paired differences
come from :func:`ntkbook.report.hybrid_numbers.paired_difference` (95 % Student-t intervals over
the runs at the table's width).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ntkbook.experiments.hybrid.record import HybridRun, MethodKey
from ntkbook.report.comparisons import outcome
from ntkbook.report.hybrid_frontier import (
    OUTCOME_WORDS,
    Verdict,
    paired_points,
    verdict,
    verdict_text,
)
from ntkbook.report.hybrid_numbers import (
    nrmse_denominator_check,
    ntk1_stability,
    paired_difference,
    table1_distance,
)

INTERVAL = "95 % t-interval of the paired difference excludes 0"


def _spec(holds, text: str, numbers: dict | None = None, tolerance: str | None = None) -> dict:
    return {"holds": bool(holds), "text": text, "numbers": numbers or {},
            "tolerance": tolerance}


def interval_text(d: dict, sign: float = 1.0, unit: str = " points") -> str:
    """``"+1.23 points [0.50, 1.96], 5 runs"`` for a paired difference (``sign`` flips it)."""
    lo, hi = sorted((sign * d["lo"], sign * d["hi"]))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{sign * d['mean']:+.2f}{unit} ({d['n']} run: no interval)"
    return f"{sign * d['mean']:+.2f}{unit} [{lo:+.2f}, {hi:+.2f}], {d['n']} runs"


def nrmse_rounding() -> dict:
    """The thesis' Wine rows do not share one NRMSE denominator within their rounding."""
    check = nrmse_denominator_check()
    text = (f"No single denominator fits every row within the table's rounding (MSE to 0.005, "
            f"NRMSE to 0.005 %): {check['max_low_row']} needs at least "
            f"{check['max_low']:.3f}, {check['min_high_row']} at most {check['min_high']:.3f}.")
    return {"hybrid_nrmse_rounding": _spec(not check["fits"], text, check,
                                           "rounding of the printed digits")}


def squared_vs_softmax(runs: Sequence[HybridRun]) -> dict:
    """NTK3 (consistent, mean kernel) with the squared residual ends below the softmax one."""
    d = paired_difference(runs, "eps", MethodKey("NTK3", "consistent", "squared"),
                          MethodKey("NTK3", "consistent", "softmax"))
    text = (f"With the mean kernel ⊗ I, NTK3 (consistent) with the squared residual ends "
            f"{-d['mean']:.1f} points of test accuracy below the softmax residual (squared "
            f"minus softmax: {interval_text(d)}).")
    return {"hybrid_squared_vs_softmax": _spec(d["hi"] < 0, text, d, INTERVAL)}


def readings(table: pd.DataFrame, width: int) -> tuple[pd.DataFrame, dict]:
    """Which reading (faithful = the text, code = the published code) of NTK1-NTK3 comes closer
    to the thesis' Table 1 on each data set: the rows, and one sentence per data set."""
    rows = [table1_distance(table, "fmnist", width, "softmax", v) | {"dataset": "fmnist"}
            for v in ("faithful", "code")]
    rows += [table1_distance(table, "wine", width, "squared", v) | {"dataset": "wine"}
             for v in ("faithful", "code")]
    frame = pd.DataFrame(rows)
    claims = {}
    for dataset, group in frame.groupby("dataset", sort=False):
        # a reading reproduces a cell only if it has a number there: fewest diverged cells
        # first, then the smallest mean absolute difference
        ranked = group.assign(_d=group["mean_abs"].fillna(np.inf)).sort_values(
            ["diverged", "_d"])
        best, other = ranked.iloc[0], ranked.iloc[1]
        cells = best["compared"] + best["diverged"]
        if best["compared"] == 0:
            claims[f"hybrid_{dataset}_reading"] = _spec(
                False, "Neither reading has a number to compare with the thesis.")
            continue
        text = (f"The {best['variant']} reading reproduces the thesis' Table 1 best: "
                f"{best['compared']} of its {cells} NTK cells have a number, "
                f"{best['mean_abs']:.2f} points from the thesis' on average (largest: "
                f"{best['worst']}, {best['worst_abs']:.2f}); the {other['variant']} reading "
                f"diverged in {other['diverged']} of its cells and is "
                f"{other['mean_abs']:.2f} points off on average in the other "
                f"{other['compared']}.")
        holds = (best["diverged"] < other["diverged"]
                 or best["mean_abs"] < other["mean_abs"])
        claims[f"hybrid_{dataset}_reading"] = _spec(
            holds, text, {"readings": group.to_dict("records")},
            "fewest diverged cells, then the smaller mean absolute difference")
    return frame, claims


def ntk1_steps(results: dict[str, Sequence[HybridRun]], width: int) -> dict:
    """Where the consistent NTK1 step is unstable (eta rho lambda_max > 2) it diverged."""
    out = {}
    for name, s in ntk1_stability(results, width).items():
        unstable = s["switches"] > 0 and s["min_step"] > 2
        if unstable:
            text = (f"At every one of the {s['switches']} switches at width {width} "
                    f"$\\eta\\rho\\lambda_{{\\max}} \\ge$ {s['min_step']:.2f} > 2, and the "
                    f"consistent NTK1 diverged at {s['diverged']} of them.")
            holds = s["diverged"] == s["switches"]
        else:
            text = (f"At the {s['switches']} switches at width {width} "
                    f"$\\eta\\rho\\lambda_{{\\max}}$ lies between {s['min_step']:.2f} and "
                    f"{s['max_step']:.2f}; the consistent NTK1 diverged at {s['diverged']} of "
                    f"them.")
            holds = s["switches"] > 0 and (s["max_step"] > 2 or s["diverged"] == 0)
        out[f"hybrid_{name}_ntk1"] = _spec(holds, text, s,
                                           "the step condition eta rho lambda_max < 2")
    return out


def wine_faithful_ntk3(runs: Sequence[HybridRun]) -> dict:
    """On Wine the faithful NTK3 ends below SGD to the last epoch (the thesis' finding)."""
    d = paired_difference(runs, "eps", MethodKey("NTK3", "faithful", "squared"), "SGD")
    text = (f"On Wine the faithful NTK3 ends with a lower test NRMSE than SGD to the last epoch, "
            f"as in the thesis: {interval_text(d)} (NTK3 minus SGD).")
    return {"hybrid_summary_wine_ntk3": _spec(d["hi"] < 0, text, d, INTERVAL)}


# --------------------------------------------------------------------------- the frontier

def frontier_verdicts(rows: pd.DataFrame, dataset: str, heuristic: str,
                      higher_better: bool) -> tuple[Verdict, dict]:
    """The frontier's verdict for one data set and heuristic, as claims named
    ``frontier_<dataset>_<heuristic>_<part>`` (:func:`~ntkbook.report.hybrid_frontier.
    verdict_text`). A verdict needs at least two seeds (an interval): with one, each sentence
    shows as unsupported."""
    v = verdict(rows, higher_better)
    numbers = {"seeds": v.seeds, "stop": list(v.stop), "sgd_end": list(v.sgd_end),
               "sgd_vs_stop": list(v.sgd_vs_stop),
               "comparisons": v.comparisons,
               "best": {k: v.best[k] for k in (
                   "label", "flow_multiple", "seconds", "metric", "vs_stop", "vs_stop_lo",
                   "vs_stop_hi", "vs_stop_simlo", "vs_stop_simhi", "vs_sgd_end",
                   "vs_sgd_end_lo", "vs_sgd_end_hi", "vs_sgd_end_simlo", "vs_sgd_end_simhi")}}
    claims = {f"frontier_{dataset}_{heuristic}_{part}": _spec(
        v.seeds >= 2, text, numbers, "paired 95 % t-intervals (a difference counts only when "
        "its interval excludes 0); Bonferroni-simultaneous over the NTK points for the best "
        "point and the lists") for part, text in verdict_text(v, _METRIC[dataset]).items()}
    return v, claims


_METRIC = {"fmnist": "test accuracy", "wine": "test NRMSE"}


def _word(d: dict, higher_better: bool) -> str:
    return OUTCOME_WORDS[outcome(d["lo"], d["hi"], higher_better)]


def long_flow(rows: pd.DataFrame, higher_better: bool = False) -> dict:
    """NTK3 (consistent) against SGD continued from the switch for the same flow time, at the
    longest flow time both reached in at least two seeds (SGD continues within its epoch
    budget)."""
    sgd = rows[(rows["method"] == "SGD continued") & (rows["variant"] == "consistent")
               & ~rows["diverged"]]
    counts = sgd.groupby("flow_multiple")["seed"].nunique()
    multiples = counts[counts >= 2].index
    if len(multiples) == 0:
        return {"frontier_long_flow": _spec(False, "No flow time was reached by SGD continued "
                                            "from the switch in two or more seeds.")}
    m = float(max(multiples))
    d = paired_points(rows, {"method": "NTK3", "variant": "consistent", "flow_multiple": m},
                      {"method": "SGD continued", "variant": "consistent", "flow_multiple": m})
    faithful = rows[(rows["method"] == "NTK3") & (rows["variant"] == "faithful")]
    text = (f"At {m:g}× the replaced SGD's flow time (the longest that SGD continued reached "
            f"within its epoch budget; the faithful NTK3 integrates "
            f"{faithful['flow_multiple'].mean():.0f}×), SGD continued from the switch reaches "
            f"{d['b_metric']:.2f} % in {d['b_seconds']:.3g} s and NTK3 {d['a_metric']:.2f} % in "
            f"{d['a_seconds']:.3g} s: NTK3 is {_word(d, higher_better)} that SGD (NTK3 minus "
            f"SGD {interval_text(d)}), in {d['b_seconds'] / d['a_seconds']:.3g}× less time.")
    return {"frontier_long_flow": _spec(d["n"] >= 2, text, d, INTERVAL)}


def crossentropy(rows: pd.DataFrame) -> dict:
    """The cross-entropy flow against the squared-loss NTK3 (softmax and squared residual) at
    the replaced flow time, and the full kernel against the mean kernel on the small subset."""
    ce = rows[rows["method"] == "CE flow"]
    if ce.empty:
        return {}
    big, small = int(ce["samples"].max()), int(ce["samples"].min())
    at = {"flow_multiple": 1.0}
    ce_big = {"method": "CE flow", "kernel": "mean", "samples": big} | at
    out = {}
    for residual in ("softmax", "squared"):
        d = paired_points(rows, ce_big, {"method": "NTK3", "variant": "consistent",
                                         "residual": residual} | at)
        text = (f"At the replaced flow time the cross-entropy flow (mean kernel, {big} images) "
                f"ends {_word(d, True)} NTK3 with the {residual} residual: "
                f"{d['a_metric']:.2f} % against {d['b_metric']:.2f} % (CE minus NTK3 "
                f"{interval_text(d)}), in {d['a_seconds']:.3g} s against {d['b_seconds']:.3g} s.")
        out[f"frontier_ce_vs_{residual}"] = _spec(d["n"] >= 2, text, d, INTERVAL)
    if small < big:
        d = paired_points(rows, {"method": "CE flow", "kernel": "full", "samples": small} | at,
                          {"method": "CE flow", "kernel": "mean", "samples": small} | at)
        text = (f"On {small} images the full kernel's cross-entropy flow ends "
                f"{_word(d, True)} the mean kernel's: {d['a_metric']:.2f} % against "
                f"{d['b_metric']:.2f} % (full minus mean {interval_text(d)}), in "
                f"{d['a_seconds']:.3g} s against {d['b_seconds']:.3g} s.")
        out["frontier_ce_full_vs_mean"] = _spec(d["n"] >= 2, text, d, INTERVAL)
    return out
