"""The time-quality frontier of the hybrid runs (:class:`~ntkbook.experiments.hybrid.record.
FrontierPoint`): seed means with 95 % intervals, paired differences against the cheapest
baselines, the verdict those intervals allow, and its figure.

**Pairing.** Every seed is one run with its own switch point, so a method is compared with a
baseline *within* each seed (same network, same switch) and the seed-to-seed spread cancels:
the difference ``metric(method) - metric(baseline)`` per seed, its mean and Student-t 95 %
interval (:func:`ntkbook.stats.mean_ci`). A method *beats* a baseline only when that interval
lies entirely on the better side of zero (higher accuracy, lower NRMSE); *loses* when it lies
entirely on the worse side; otherwise the seeds cannot tell them apart.

**Positions.** NTK points sit at a flow multiple (the same ladder in every seed); the run's own
SGD sits at ``k`` epochs after the switch (the number of remaining epochs differs between seeds
when their switch epochs differ, so ``"SGD to E"`` is each seed's last SGD point).

Metrics are in percent (accuracy or NRMSE). This module reads records only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ntkbook.experiments.hybrid.record import HybridRun
from ntkbook.report.comparisons import outcome
from ntkbook.stats import mean_ci

STOP, SGD_END = "stop at the switch", "SGD to E"
#: Coverage of every interval; what identifies one frontier point across seeds.
LEVEL = 0.95
POINT_KEYS = ["method", "label", "variant", "kernel", "position"]
#: ``position`` of the faithful NTK3: one point per seed at the thesis' time scale, whose flow
#: multiple differs between seeds with their switch epochs (the summary shows its mean).
FAITHFUL = -1.0
#: Colours per curve family, taken in order by its curves (e.g. NTK3 squared, then softmax).
FRONTIER_COLORS = {"SGD": ("k",), "SGD continued": ("0.45",), "NTK3": ("C2", "C8", "C9"),
                   "CE flow": ("C3", "C1", "C6")}


def higher_is_better(dataset_kind: str) -> bool:
    """Accuracy (classification) is better high; NRMSE (regression) low."""
    return dataset_kind == "classification"


def frontier_rows(runs: Sequence[HybridRun], heuristic: str, width: int) -> pd.DataFrame:
    """Every frontier point of every run at ``width`` from ``heuristic``'s switch, one row each.

    Columns: ``seed, switch_epoch, method, label, position, flow_multiple, epochs_after,
    seconds, test_metric`` (percent; NaN if diverged), ``test_loss, diverged``. ``position`` is
    the key that is the same across seeds: the flow multiple for NTK points and SGD continued,
    :data:`FAITHFUL` for the faithful NTK3, the epochs after the switch for the run's SGD, 0 for
    the stop.
    """
    rows = []
    for run in runs:
        branch = run.branch(heuristic)
        if run.width != width or branch is None or not branch.frontier:
            continue
        remaining = run.epochs - branch.switch_epoch
        for p in branch.frontier:
            epochs_after = p.flow_multiple * remaining if p.method in ("stop", "SGD") else np.nan
            position = (round(epochs_after) if p.method in ("stop", "SGD")
                        else FAITHFUL if p.variant == "faithful" else p.flow_multiple)
            rows.append({"seed": run.seed, "switch_epoch": branch.switch_epoch,
                         "method": p.method, "label": p.label, "variant": p.variant,
                         "residual": p.residual, "kernel": p.kernel, "samples": p.samples,
                         "position": position, "flow_multiple": p.flow_multiple,
                         "epochs_after": epochs_after, "seconds": p.seconds,
                         "test_metric": np.nan if p.test_metric is None else 100 * p.test_metric,
                         "test_loss": np.nan if p.test_loss is None else p.test_loss,
                         "diverged": p.diverged})
    return pd.DataFrame(rows)


def _with_baselines(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with each seed's stop and last-SGD metric beside every point."""
    stop = rows[rows["method"] == "stop"].set_index("seed")["test_metric"]
    sgd = rows[rows["method"] == "SGD"]
    end = sgd.loc[sgd.groupby("seed")["position"].idxmax()].set_index("seed")
    out = rows.copy()
    out["stop_metric"] = out["seed"].map(stop)
    out["sgd_end_metric"] = out["seed"].map(end["test_metric"])
    out["sgd_end_seconds"] = out["seed"].map(end["seconds"])
    return out


def frontier_summary(rows: pd.DataFrame, level: float = LEVEL) -> pd.DataFrame:
    """Seed means per curve point with ``level`` (95 %) intervals, and paired differences from
    the stop and from SGD to ``E``.

    Columns: ``method, label, variant, kernel, position, flow_multiple, seeds, diverged,
    seconds, metric,
    metric_lo, metric_hi, vs_stop, vs_stop_lo, vs_stop_hi, vs_sgd_end, vs_sgd_end_lo,
    vs_sgd_end_hi`` (differences in percentage points; intervals NaN for one seed).
    """
    data = _with_baselines(rows)
    out = []
    for (method, label, variant, kernel, position), group in data.groupby(POINT_KEYS,
                                                                          sort=False):
        ok = group[~group["diverged"]]
        entry = {"method": method, "label": label, "variant": variant, "kernel": kernel,
                 "position": position,
                 "flow_multiple": float(group["flow_multiple"].mean()),
                 "seeds": len(group), "diverged": int(group["diverged"].sum()),
                 "seconds": float(group["seconds"].mean())}
        for name, values in (("metric", ok["test_metric"]),
                             ("vs_stop", ok["test_metric"] - ok["stop_metric"]),
                             ("vs_sgd_end", ok["test_metric"] - ok["sgd_end_metric"])):
            mean, lo, hi = mean_ci(values, level) if len(values) else (np.nan,) * 3
            entry |= {name: mean, f"{name}_lo": lo, f"{name}_hi": hi}
        out.append(entry)
    return pd.DataFrame(out)


@dataclass(frozen=True)
class Verdict:
    """What the frontier says, for one data set and heuristic.

    Attributes:
        seeds: runs that switched. higher_better: the metric's direction.
        stop: seed mean and 95 % interval of the metric at the switch, ``(mean, lo, hi)``.
        sgd_end: the same for SGD to ``E``; ``sgd_end_seconds`` its mean seconds.
        sgd_vs_stop: paired difference SGD to E minus stop, ``(mean, lo, hi)``.
        comparisons: ``m``, the NTK-family points (NTK3 or CE flow) compared with the baselines.
        best: the NTK-family point with the best mean metric among those with an interval (if
            any), its label, flow multiple, seconds and differences from the stop and from SGD
            to E, with their own 95 % intervals (``*_lo``, ``*_hi``) and simultaneous ones over
            the ``m`` points (``*_simlo``, ``*_simhi``: Bonferroni, each at 1 - 0.05/m).
        beats_stop / loses_to_stop: NTK points whose *simultaneous* paired interval against the
            stop lies on the better / worse side of zero (labels with their multiple).
        beats_stop_alone: NTK points better than the stop by their own 95 % interval only (with
            ``m`` points and no true difference, about ``0.025 m`` of them would be by chance).
        matches_sgd_end: NTK points not worse than SGD to E (an interval of the difference that
            is not on the worse side), the cheapest first.

    The best point is chosen *because* it looks best, and the lists scan ``m`` points, so their
    verdict words read the simultaneous intervals: with ``m`` points compared, some 95 %
    intervals exclude zero by chance alone.
    """

    seeds: int
    higher_better: bool
    stop: tuple[float, float, float]
    sgd_end: tuple[float, float, float]
    sgd_end_seconds: float
    sgd_vs_stop: tuple[float, float, float]
    comparisons: int
    best: dict
    beats_stop: tuple[str, ...]
    loses_to_stop: tuple[str, ...]
    beats_stop_alone: tuple[str, ...]
    matches_sgd_end: tuple[dict, ...]

    @property
    def sgd_vs_stop_outcome(self) -> str:
        return outcome(*self.sgd_vs_stop[1:], self.higher_better)

    @property
    def best_vs_stop_outcome(self) -> str:
        return outcome(self.best["vs_stop_simlo"], self.best["vs_stop_simhi"],
                       self.higher_better)

    @property
    def best_vs_sgd_end_outcome(self) -> str:
        return outcome(self.best["vs_sgd_end_simlo"], self.best["vs_sgd_end_simhi"],
                       self.higher_better)


def _point_name(row, of: str = "") -> str:
    """``"NTK3 ... at 0.3×"`` (+ ``of``, e.g. ``" the replaced flow time"``)."""
    if row["position"] == FAITHFUL:
        return (f"{row['label']} at the thesis' time scale ({row['flow_multiple']:.3g}×{of} on "
                "average)")
    return f"{row['label']} at {row['flow_multiple']:.3g}×{of}"


OF_FLOW = " the replaced flow time"


def _point_seeds(row) -> int:
    return int(row["seeds"] - row["diverged"])


def verdict(rows: pd.DataFrame, higher_better: bool) -> Verdict:
    """The verdict of one frontier (rows of :func:`frontier_rows`)."""
    data = _with_baselines(rows)
    ntk = _ntk_points(frontier_summary(rows))
    # points with an interval (two or more seeds that did not diverge), where there are any
    resolved = ntk[ntk["vs_stop_lo"].notna()]
    ntk = resolved if not resolved.empty else ntk
    m = len(ntk)
    simultaneous = _ntk_points(frontier_summary(rows, 1 - (1 - LEVEL) / max(m, 1)))
    sim = simultaneous.set_index(POINT_KEYS)[["vs_stop_lo", "vs_stop_hi", "vs_sgd_end_lo",
                                              "vs_sgd_end_hi"]]
    sim.columns = ["vs_stop_simlo", "vs_stop_simhi", "vs_sgd_end_simlo", "vs_sgd_end_simhi"]
    ntk = ntk.join(sim, on=POINT_KEYS)
    best = ntk.loc[ntk["metric"].idxmax() if higher_better else ntk["metric"].idxmin()]
    per_seed = data.drop_duplicates("seed")
    outcomes = [(outcome(r["vs_stop_simlo"], r["vs_stop_simhi"], higher_better),
                 outcome(r["vs_stop_lo"], r["vs_stop_hi"], higher_better), _point_name(r))
                for _, r in ntk.iterrows()]
    matches = [r.to_dict() for _, r in ntk.sort_values("seconds").iterrows()
               if np.isfinite(r["vs_sgd_end_lo"])
               and outcome(r["vs_sgd_end_lo"], r["vs_sgd_end_hi"], higher_better) != "worse"]
    return Verdict(
        seeds=int(per_seed["seed"].nunique()), higher_better=higher_better,
        stop=mean_ci(per_seed["stop_metric"]), sgd_end=mean_ci(per_seed["sgd_end_metric"]),
        sgd_end_seconds=float(per_seed["sgd_end_seconds"].mean()),
        sgd_vs_stop=mean_ci(per_seed["sgd_end_metric"] - per_seed["stop_metric"]),
        comparisons=m, best=best.to_dict(),
        beats_stop=tuple(name for o, _, name in outcomes if o == "better"),
        loses_to_stop=tuple(name for o, _, name in outcomes if o == "worse"),
        beats_stop_alone=tuple(name for o, alone, name in outcomes
                               if alone == "better" and o != "better"),
        matches_sgd_end=tuple(matches))


def _ntk_points(summary: pd.DataFrame) -> pd.DataFrame:
    """The NTK-family points (NTK3, CE flow) of a frontier summary that have a metric."""
    return summary[summary["method"].isin(["NTK3", "CE flow"]) & summary["metric"].notna()]


_AXES = {"seconds": "wall seconds from the switch",
         "flow_multiple": "flow time / the replaced SGD's flow time"}


def _style(label: str, method: str, variant: str, kernel: str, used: dict) -> dict:
    """Colour, line and marker of one curve: a colour per curve within its family (a faithful
    point takes its consistent curve's), dotted for the full kernel, stars for faithful."""
    palette = FRONTIER_COLORS.get(method, ("C4",))
    base = label.replace(" faithful", " consistent")
    if variant == "faithful" and base in used:
        index = used[base]
    else:
        index = used.setdefault(label, sum(lab.split()[0] == method.split()[0] for lab in used))
    marker = "*" if variant == "faithful" else {
        "NTK3": "o", "CE flow": "s", "SGD": ".", "SGD continued": "^"}.get(method, "d")
    return {"color": palette[index % len(palette)], "marker": marker,
            "ls": "none" if variant == "faithful" else (":" if kernel == "full" else "-")}


def plot_frontier(rows: pd.DataFrame, ax, metric_label: str, x: str = "seconds") -> None:
    """Test metric against ``x`` (``"seconds"`` from the switch or ``"flow_multiple"``, log
    axis): seed means with 95 % intervals per curve, the stop as a shaded band (mean and
    interval; it takes no time and no flow), and SGD to ``E`` ringed."""
    summary = frontier_summary(rows)
    stop = summary[summary["method"] == "stop"].iloc[0]
    ax.axhline(stop["metric"], color="C0", lw=1.2, ls="--", label=STOP)
    if np.isfinite(stop["metric_lo"]):
        ax.axhspan(stop["metric_lo"], stop["metric_hi"], color="C0", alpha=0.12, lw=0)
    used: dict[str, int] = {}
    for label in dict.fromkeys(summary["label"]):
        if label == "stop":
            continue
        curve = summary[summary["label"] == label].sort_values(["flow_multiple", "seconds"])
        style = _style(label, *curve[["method", "variant", "kernel"]].iloc[0], used)
        yerr = np.vstack([curve["metric"] - curve["metric_lo"],
                          curve["metric_hi"] - curve["metric"]])
        ax.errorbar(curve[x], curve["metric"], yerr=np.nan_to_num(yerr), ms=5, capsize=2,
                    lw=1.2, label=label, **style)
    sgd = summary[summary["method"] == "SGD"]
    if not sgd.empty:
        last = sgd.loc[sgd["position"].idxmax()]
        ax.plot(last[x], last["metric"], "o", mfc="none", mec="k", ms=11, label=SGD_END)
    ax.set_xscale("log")
    ax.set(xlabel=_AXES[x], ylabel=metric_label)


def frontier_figure(panels: Sequence[tuple[pd.DataFrame, str, str]]) -> Figure:
    """One row per ``(rows, metric label, title)``: the metric against the flow time covered
    (left) and against wall seconds (right); one legend below."""
    fig, axes = plt.subplots(len(panels), 2, figsize=(10.5, 3.9 * len(panels) + 1.6),
                             layout="constrained", squeeze=False, sharey="row")
    for row, (rows, label, title) in zip(axes, panels, strict=True):
        for ax, x in zip(row, ("flow_multiple", "seconds"), strict=True):
            plot_frontier(rows, ax, label, x=x)
            ax.set_title(f"{title}: against {'flow time' if x != 'seconds' else 'seconds'}",
                         fontsize=10)
        row[1].set_ylabel("")
    handles, labels = axes[0, 1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=2, fontsize=7, frameon=False)
    return fig


OUTCOME_WORDS = {"better": "better than", "worse": "worse than",
                  "tie": "not distinguishable from"}


def _interval(mean: float, lo: float, hi: float, unit: str = " points") -> str:
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{mean:+.2f}{unit} (one seed: no interval)"
    return f"{mean:+.2f}{unit} [{lo:+.2f}, {hi:+.2f}]"


def _bounds(lo: float, hi: float) -> str:
    return f"[{lo:+.2f}, {hi:+.2f}]" if np.isfinite(lo) and np.isfinite(hi) else "(none)"


def verdict_text(v: Verdict, metric: str) -> dict[str, str]:
    """The frontier's verdict as sentences whose every comparison word is read off a paired
    95 % interval (:func:`outcome`): ``sgd``, ``best``, ``stop`` and ``cheapest``."""
    sgd_word = OUTCOME_WORDS[v.sgd_vs_stop_outcome]
    best, m = v.best, v.comparisons
    best_stop = (_interval(best["vs_stop"], best["vs_stop_simlo"], best["vs_stop_simhi"])
                 + f"; its own 95 % interval {_bounds(best['vs_stop_lo'], best['vs_stop_hi'])}")
    best_sgd = (_interval(best["vs_sgd_end"], best["vs_sgd_end_simlo"], best["vs_sgd_end_simhi"])
                + f"; its own {_bounds(best['vs_sgd_end_lo'], best['vs_sgd_end_hi'])}")
    out = {
        "sgd": (f"SGD's remaining epochs end {sgd_word} stopping at the switch: "
                f"{metric} {v.sgd_end[0]:.2f} % against {v.stop[0]:.2f} %, a paired difference "
                f"of {_interval(*v.sgd_vs_stop)} over {v.seeds} seeds, in "
                f"{v.sgd_end_seconds:.3g} s."),
        "best": (f"The best of the {m} NTK points, {_point_name(best, OF_FLOW)} "
                 f"({best['seconds']:.3g} s, {_point_seeds(best)} seeds), ends "
                 f"{OUTCOME_WORDS[v.best_vs_stop_outcome]} "
                 f"the switch point ({best_stop}) and "
                 f"{OUTCOME_WORDS[v.best_vs_sgd_end_outcome]} SGD to the last epoch "
                 f"({best_sgd}); it was picked for looking best, so the words read the "
                 f"intervals that hold for all {m} points at once (Bonferroni)."),
    }
    if v.beats_stop:
        out["stop"] = (f"Better than stopping at the switch by an interval that holds for all {m}"
                       " NTK points at once: " + "; ".join(v.beats_stop) + ".")
    else:
        out["stop"] = (f"No NTK point is better than stopping at the switch once the {m} "
                       "comparisons are accounted for (Bonferroni).")
    if v.beats_stop_alone:
        out["stop"] += (f" By its own 95 % interval alone, {len(v.beats_stop_alone)} more would "
                        f"be ({'; '.join(v.beats_stop_alone)}), where about {0.025 * m:.1f} "
                        f"such wins are expected by chance among {m} points with no true "
                        "difference.")
    if v.loses_to_stop:
        out["stop"] += (f" {len(v.loses_to_stop)} of the NTK points are worse than the switch "
                        "point, by the same simultaneous intervals.")
    if v.matches_sgd_end:
        c = v.matches_sgd_end[0]
        out["cheapest"] = (
            f"The cheapest NTK point not worse than SGD to the last epoch is "
            f"{_point_name(c, OF_FLOW)}: {c['seconds']:.3g} s against SGD's "
            f"{v.sgd_end_seconds:.3g} s ({c['seconds'] / v.sgd_end_seconds:.3g}× the time), "
            f"difference {_interval(c['vs_sgd_end'], c['vs_sgd_end_lo'], c['vs_sgd_end_hi'])}.")
    else:
        out["cheapest"] = "No NTK point reaches SGD to the last epoch within its paired interval."
    return out


def paired_points(rows: pd.DataFrame, a: dict, b: dict) -> dict:
    """``metric(a) - metric(b)`` paired within each seed, for the points that match the column
    filters ``a`` and ``b`` (e.g. ``{"method": "NTK3", "variant": "faithful"}``; each must pick
    at most one point per seed), with both points' mean seconds.

    Returns:
        ``{"mean", "lo", "hi", "n", "a_metric", "b_metric", "a_seconds", "b_seconds",
        "a_multiple", "b_multiple"}`` (NaN where no seed has both).
    """
    def pick(filters):
        sel = rows[~rows["diverged"]]
        for column, value in filters.items():
            sel = sel[np.isclose(sel[column], value)] if isinstance(value, float) \
                else sel[sel[column] == value]
        if sel["seed"].duplicated().any():
            raise ValueError(f"{filters} picks more than one point per seed")
        return sel.set_index("seed")

    pa, pb = pick(a), pick(b)
    both = pa.index.intersection(pb.index)
    nan = float("nan")
    if len(both) == 0:
        return dict.fromkeys(("mean", "lo", "hi", "a_metric", "b_metric", "a_seconds",
                              "b_seconds", "a_multiple", "b_multiple"), nan) | {"n": 0}
    pa, pb = pa.loc[both], pb.loc[both]
    mean, lo, hi = mean_ci(pa["test_metric"] - pb["test_metric"])
    return {"mean": mean, "lo": lo, "hi": hi, "n": len(both),
            "a_metric": float(pa["test_metric"].mean()),
            "b_metric": float(pb["test_metric"].mean()),
            "a_seconds": float(pa["seconds"].mean()), "b_seconds": float(pb["seconds"].mean()),
            "a_multiple": float(pa["flow_multiple"].mean()),
            "b_multiple": float(pb["flow_multiple"].mean())}
