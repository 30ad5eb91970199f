"""The time-quality frontier of a hybrid run, and what the report reads from it: points equal
the run's own numbers where they are the same thing, and the verdict follows the intervals."""

import json

import numpy as np
import pandas as pd
import pytest
from tiny_tasks import tiny_task

from ntkbook.experiments import hybrid
from ntkbook.experiments.hybrid.record import FrontierPoint, HybridRun
from ntkbook.report import hybrid_frontier as frontier
from ntkbook.stats import mean_ci


def _spec(task, **kw):
    values = {"epochs": 4, "batch_size": 16, "kernel_samples": 20, "monitor_samples": 12,
              "spectral_top": 4, "thresholds": (("eps", 1e9),), "residuals": ("squared",),
              "loss_scale": 1.0, "frontier_multiples": (0.5, 1.0, 4.0),
              "sgd_continuation_epochs": 3.0}
    values.update(kw)
    return hybrid.HybridSpec(task.name, 8, 0, **values)


@pytest.fixture(scope="module")
def regression_run():
    task = tiny_task(hybrid.REGRESSION, n=48)
    return hybrid.run_hybrid(_spec(task), task)


def _points(run, method):
    return [p for p in run.branches[2].frontier if p.method == method]


def test_stop_and_sgd_points_are_the_runs_own_history(regression_run):
    run, s = regression_run, 2
    (stop,) = _points(run, "stop")
    assert stop.seconds == 0 and stop.test_metric == pytest.approx(run.sgd.test_metric[s])
    sgd = _points(run, "SGD")
    assert [p.flow_multiple for p in sgd] == [0.5, 1.0]
    assert [p.test_metric for p in sgd] == pytest.approx(list(run.sgd.test_metric[s + 1:]))
    assert [p.seconds for p in sgd] == pytest.approx(np.cumsum(run.sgd.epoch_seconds[s:]))


def test_ntk3_at_the_replaced_flow_time_is_the_branchs_consistent_ntk3(regression_run):
    branch = regression_run.branches[2]
    (point,) = [p for p in branch.frontier if p.method == "NTK3" and p.variant == "consistent"
                and p.flow_multiple == 1.0]
    method = branch.methods[hybrid.MethodKey("NTK3", "consistent", "squared")]
    assert point.test_metric == pytest.approx(method.test_metric, rel=1e-6)
    (faithful,) = [p for p in branch.frontier if p.method == "NTK3" and p.variant == "faithful"]
    same = branch.methods[hybrid.MethodKey("NTK3", "faithful", "squared")]
    assert faithful.test_metric == pytest.approx(same.test_metric, rel=1e-6)
    multiples = [p.flow_multiple for p in branch.frontier
                 if p.method == "NTK3" and p.variant == "consistent"]
    assert multiples == [0.5, 1.0, 4.0]


def test_sgd_continued_stops_at_its_epoch_budget(regression_run):
    run = regression_run
    points = _points(run, "SGD continued")
    budget = run.spec["sgd_continuation_epochs"] * run.steps_per_epoch
    steps = [p.flow_multiple * run.branches[2].steps_replaced for p in points]
    assert points and max(steps) <= budget + 1e-9
    assert steps == sorted(steps)
    seconds = [p.seconds for p in points]
    assert seconds == sorted(seconds) and all(p.test_metric is not None for p in points)
    assert 4.0 not in [round(p.flow_multiple, 6) for p in points]  # 8 epochs > budget of 3


def test_frontier_survives_json(regression_run):
    back = HybridRun.from_json(json.loads(json.dumps(regression_run.to_json(), allow_nan=False)))
    assert back.branches[2].frontier == regression_run.branches[2].frontier


def test_no_frontier_without_multiples():
    task = tiny_task(hybrid.REGRESSION, n=48)
    run = hybrid.run_hybrid(_spec(task, frontier_multiples=()), task)
    assert run.branches[2].frontier == ()


# ----------------------------------------------------------------------------- the report


def _synthetic_rows(ntk_gain, seeds=6, noise=0.1, seed=0):
    """Stop at 80 %, SGD to E at 81 %, NTK3 at stop + ``ntk_gain``, per-seed offsets shared by
    every method of a seed (pairing must remove them)."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(seeds):
        offset = rng.normal(0, 5.0)  # large seed-to-seed spread
        for method, label, pos, metric, seconds in (
                ("stop", "stop", 0, 80.0, 0.0), ("SGD", "SGD", 1, 80.5, 1.0),
                ("SGD", "SGD", 2, 81.0, 2.0),
                ("NTK3", "NTK3 consistent", 1.0, 80.0 + ntk_gain, 0.3)):
            rows.append({"seed": s, "switch_epoch": 3, "method": method, "label": label,
                         "variant": "consistent" if method == "NTK3" else "",
                         "kernel": "mean" if method == "NTK3" else "", "samples": 0,
                         "position": pos, "flow_multiple": float(pos), "epochs_after": pos,
                         "seconds": seconds,
                         "test_metric": metric + offset + rng.normal(0, noise),
                         "test_loss": 0.5, "diverged": False})
    return pd.DataFrame(rows)


def test_best_of_many_null_points_is_judged_by_simultaneous_intervals():
    """Forty NTK points with no true difference from the stop: some 95 % intervals exclude
    zero by chance; the verdict names none a win, the best point's words read its Bonferroni
    interval (a t-interval at 1 - 0.05/m), and every chance 'win' is listed as such."""
    rng = np.random.default_rng(3)
    base = _synthetic_rows(0.0, seeds=5)
    base = base[base["method"] != "NTK3"]
    extra = []
    for k in range(40):
        for s in range(5):
            stop = base[(base["seed"] == s) & (base["method"] == "stop")].iloc[0]
            extra.append(stop.to_dict() | {
                "method": "NTK3", "label": "NTK3 consistent", "variant": "consistent",
                "kernel": "mean", "position": 0.1 * (k + 1), "flow_multiple": 0.1 * (k + 1),
                "seconds": 0.3, "test_metric": stop["test_metric"] + rng.normal(0, 1.0)})
    rows = pd.concat([base, pd.DataFrame(extra)], ignore_index=True)
    v = frontier.verdict(rows, True)
    assert v.comparisons == 40 and v.beats_stop == ()
    assert len(v.beats_stop_alone) >= 1  # by chance, with this seed: the reason for the rule
    best = v.best
    assert best["vs_stop_lo"] > 0 > best["vs_stop_simlo"]
    assert v.best_vs_stop_outcome == "tie"
    diffs = [r["test_metric"] - base[(base["seed"] == r["seed"]) & (base["method"] == "stop")]
             ["test_metric"].iloc[0] for r in extra if r["position"] == best["position"]]
    _, lo, hi = mean_ci(diffs, 1 - 0.05 / 40)
    assert (best["vs_stop_simlo"], best["vs_stop_simhi"]) == pytest.approx((lo, hi))
    texts = frontier.verdict_text(v, "test accuracy")
    assert "No NTK point is better than stopping at the switch once the 40" in texts["stop"]
    assert "expected by chance" in texts["stop"] and "Bonferroni" in texts["best"]


@pytest.mark.parametrize(("gain", "expected"), [(0.8, "better"), (-0.8, "worse"), (0.0, "tie")])
def test_paired_verdict_follows_the_interval(gain, expected):
    rows = _synthetic_rows(gain, noise=0.1 if gain else 0.5)
    verdict = frontier.verdict(rows, True)
    assert verdict.best_vs_stop_outcome == expected
    assert verdict.sgd_vs_stop_outcome == "better"
    assert verdict.seeds == 6
    # without pairing the seed spread (sd 5) would hide a 0.8 point gain
    summary = frontier.frontier_summary(rows)
    ntk = summary[summary["method"] == "NTK3"].iloc[0]
    unpaired, paired = ntk["metric_hi"] - ntk["metric_lo"], ntk["vs_stop_hi"] - ntk["vs_stop_lo"]
    assert unpaired > 2.0 and paired < unpaired / 2


def test_frontier_rows_and_figure_from_a_record(regression_run):
    rows = frontier.frontier_rows([regression_run], "eps", 8)
    assert set(rows["method"]) == {"stop", "SGD", "SGD continued", "NTK3"}
    assert (rows.loc[rows["method"] == "SGD", "position"] == [1, 2]).all()
    fig = frontier.frontier_figure([(rows, "NRMSE (%)", "tiny")])
    assert fig.axes[0].get_xscale() == "log"


def test_label_names_the_kernel_and_subset():
    point = FrontierPoint("CE flow", "consistent", "crossentropy", "full", 300, 1.0, 2.0)
    assert point.label == "CE flow consistent (crossentropy, full kernel, n=300)"


def test_hybrid_claims_state_the_thesis_nrmse_rows_and_the_ntk1_step():
    from ntkbook.report import hybrid_claims

    (spec,) = hybrid_claims.nrmse_rounding().values()
    assert spec["holds"] and "5.764" in spec["text"]  # NTK1 (delta) needs >= 5.764
    task = tiny_task(hybrid.REGRESSION, n=48)
    run = hybrid.run_hybrid(_spec(task, frontier_multiples=()), task)
    (ntk1,) = hybrid_claims.ntk1_steps({"wine": [run]}, 8).values()
    assert ntk1["numbers"]["switches"] == 1 and ntk1["holds"]
    (wine,) = hybrid_claims.wine_faithful_ntk3([run]).values()
    assert wine["numbers"]["n"] == 1 and not wine["holds"]  # one run: no interval, no claim
