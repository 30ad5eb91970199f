"""The hybrid run record: JSON -> record -> JSON round trips, NaN <-> null, typed keys, and the
layering rules of the record and the report (they read records and never import the protocol)."""

import ast
import json
from pathlib import Path

import numpy as np
import pytest

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
from ntkbook.experiments.hybrid.spec import HybridSpec, spec_for
from ntkbook.experiments.hybrid.sweep import RUN_CODE, run_key
from ntkbook.store.hashing import module_closure

PACKAGE = Path(__file__).resolve().parent.parent / "ntkbook"


def _method(diverged=False, **kw):
    values = {"seconds": 0.5, "diverged": diverged, "max_mode_factor": 0.9,
              "subset_loss_at_switch": 1.5, "subset_loss": 0.7}
    if not diverged:
        values |= {"test_loss": 0.4, "test_metric": 0.81,
                   "val_loss": np.array([0.6, 0.5]), "val_metric": np.array([0.7, np.nan])}
    return MethodResult(**(values | kw))


def _run() -> HybridRun:
    spec = spec_for("fmnist", 8, 0, {"eps": 0.5, "delta": 2.0}, epochs=3)
    methods = {MethodKey("NTK1", "faithful", "squared"): _method(),
               MethodKey("NTK3", "consistent", "softmax"): _method(
                   diverged=True, reason="subset loss grew 12x", subset_loss=float("nan"))}
    branch = Branch(switch_epoch=1, kernel_seconds={"kernel": 0.1, "outputs": 0.01, "eigh": 0.2},
                    lambda_max=12.5, cutoff=1e-9, n_below_cutoff=0, steps_replaced=6,
                    flow_time=0.042, step_stability={"faithful": 0.1, "consistent": 0.2},
                    methods=methods,
                    frontier=(FrontierPoint("stop", "", "", "", 0, 0.0, 0.0, test_loss=1.1,
                                            test_metric=0.6),
                              FrontierPoint("NTK3", "consistent", "softmax", "mean", 20, 3.0,
                                            0.4, diverged=True, reason="NaN/Inf")))
    nan = np.nan
    return HybridRun(
        spec=spec.to_dict(),
        sgd=SGDHistory(val_loss=np.array([2.3, 1.0, 0.8, 0.7]),
                       val_metric=np.array([0.1, 0.6, 0.7, 0.75]),
                       test_loss=np.array([2.3, 1.1, 0.8, 0.7]),
                       test_metric=np.array([0.1, 0.6, 0.7, 0.74]),
                       epoch_seconds=np.array([0.2, 0.1, 0.1])),
        metrics={"eps": np.array([nan, nan, 0.4, 0.3]), "delta": np.array([nan] * 4),
                 "spectral": np.array([nan, nan, 0.1, 0.05])},
        kernel_distance=np.array([0.0, 1.0, 1.5, 1.7]),
        top_eigenvalues=np.array([[3.0, 1.0], [3.5, 1.2], [3.6, 1.3], [3.7, 1.3]]),
        switch={"delta": None, "eps": 1}, branches={1: branch},
        extras=Extras(switch_epoch=1, literal_ntk1={"steps": 2, "subset_loss_after": None},
                      eigh_seconds_by_threads={"1": 0.1, "2": 0.05}),
        steps_per_epoch=3, n_kernel=20)


def test_record_round_trip_json_record_json():
    run = _run()
    text = json.dumps(run.to_json(), allow_nan=False)  # NaN is written as null
    back = HybridRun.from_json(json.loads(text))
    assert back == run and back.to_json() == run.to_json()
    assert json.dumps(back.to_json(), allow_nan=False) == text
    assert np.isnan(back.metrics["delta"]).all() and back.top_eigenvalues.shape == (4, 2)
    assert back.sgd.val_loss.dtype == np.float64 and back.switch == {"delta": None, "eps": 1}
    assert list(back.branches) == [1] and back.branch("eps").switch_epoch == 1
    assert back.branch("delta") is None and back.thresholds == (("delta", 2.0), ("eps", 0.5))
    assert (back.dataset, back.width, back.seed, back.epochs) == ("fmnist", 8, 0, 3)
    keys = list(back.branches[1].methods)
    assert keys == list(run.branches[1].methods)  # order kept
    ntk3 = back.branches[1].methods[MethodKey("NTK3", "consistent", "softmax")]
    assert ntk3.diverged and ntk3.subset_loss is None and ntk3.test_metric is None
    assert np.isnan(back.branches[1].methods[keys[0]].val_metric[1])
    assert back.extras.literal_ntk1 == {"steps": 2, "subset_loss_after": None}
    assert "full_kernel" not in back.extras.to_json()
    assert HybridSpec.from_dict(back.spec) == HybridSpec.from_dict(run.spec)


def test_records_compare_by_content_and_keys_are_typed():
    run, other = _run(), _run()
    assert run == other and run is not other
    changed = HybridRun.from_json(run.to_json() | {"n_kernel": 21})
    assert changed != run
    key = MethodKey("NTK2", "consistent", "squared")
    assert {key: 1}[MethodKey("NTK2", "consistent", "squared")] == 1
    assert key.label == "NTK2 consistent, squared residual"
    with pytest.raises(AttributeError):
        key.method = "NTK3"  # frozen
    summary = ScoutingSummary(runs=2, elbow=3, mean_val_loss=np.array([1.0, np.nan]),
                              mean_val_metric=np.array([0.5, 0.6]),
                              mean_metrics={"eps": np.array([np.nan, 0.2])},
                              thresholds={"eps": 0.2}, suggested_switch={"eps": None})
    assert ScoutingSummary.from_json(json.loads(json.dumps(summary.to_json()))) == summary


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return {m for m in found if m.startswith("ntkbook")}


def test_record_and_report_layering():
    record = _imports(PACKAGE / "experiments" / "hybrid" / "record.py")
    assert all(m.startswith("ntkbook.store") for m in record), record
    allowed = ("ntkbook.store", "ntkbook.stats", "ntkbook.reported",
               "ntkbook.experiments.hybrid.record", "ntkbook.report")
    for path in sorted((PACKAGE / "report").glob("hybrid_*.py")):
        bad = {m for m in _imports(path) if not m.startswith(allowed)}
        assert not bad, (path.name, bad)


def test_run_cache_key_covers_the_computed_source_closure():
    closure = {p.relative_to(PACKAGE).as_posix() for p in module_closure(RUN_CODE)}
    assert {"core/activations.py", "experiments/hybrid/run.py", "experiments/hybrid/extras.py",
            "experiments/hybrid/heuristics.py", "dynamics/updates.py"} <= closure
    spec = spec_for("wine", 8, 0)
    assert run_key(spec, "abc") == run_key(spec, "abc") != run_key(spec, "abd")
