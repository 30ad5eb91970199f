"""Parameterised runs: own folders, listed, compared, swept in process and on Dask; plain
papermill refuses unknown parameters from any working directory."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from probes import PROBE, make_probe_root, probe_notebook

from ntkbook.pipeline import cli, runner, runs


@pytest.fixture
def probe_root(tmp_path, monkeypatch):
    (tmp_path / "checkout").mkdir()
    root = make_probe_root(tmp_path / "checkout", monkeypatch)
    monkeypatch.chdir(root)  # the CLI finds the checkout from the working directory
    return root


def test_parameterised_run_keeps_its_own_folder(probe_root):
    book = runner.run_chapter(PROBE, "smoke", root=probe_root)
    before = {p: p.read_bytes() for p in (book.record, book.notebook)}
    stamps = {p: p.stat().st_mtime_ns for p in before}

    run = runs.run_parameterised(PROBE, "smoke", {"scale": 3}, root=probe_root)
    assert run.executed
    folder = run.record.parent
    digest = runner.inputs_hash(probe_root, PROBE, "smoke", {"scale": 3})
    assert folder == probe_root / "_build" / "runs" / PROBE / digest[:16]
    assert sorted(p.name for p in folder.iterdir()) == [
        f"{PROBE}.html", f"{PROBE}.ipynb", "record.json"]
    record = json.loads(run.record.read_text())
    assert record["parameters"] == {"scale": 3} and record["overrides"] == {"scale": 3}
    assert record["results"]["probe_value"] == 63 and record["run"] == folder.name
    assert record["inputs_hash"] == digest and record["wall_seconds"] > 0
    assert "jax" in record["versions"]
    assert [c["holds"] for c in record["claims"]] == [True, False]
    page = run.page.read_text()
    assert "claim-failed" in page and "The scale 3 exceeds one hundred." in page
    assert "twenty-one times" in page and "{glue" not in page and "63" in page
    # the profile's book results are untouched
    assert {p: p.read_bytes() for p in before} == before
    assert {p: p.stat().st_mtime_ns for p in before} == stamps

    assert not runs.run_parameterised(PROBE, "smoke", {"scale": 3}, root=probe_root).executed
    assert runs.run_parameterised(PROBE, "smoke", {"scale": 3}, force=True,
                                  root=probe_root).executed


def test_cli_run_runs_and_compare(probe_root, capsys):
    assert cli.main(["run", PROBE, "--profile", "smoke"]) == 0
    assert cli.main(["run", PROBE, "--profile", "smoke", "-p", "scale", "3"]) == 0
    out = capsys.readouterr().out
    assert f"{PROBE} [smoke]: executed" in out and f"{PROBE} [run " in out
    assert "1 claim(s) not supported by this run" in out
    assert "probe_false: The scale 3 exceeds one hundred. (scale = 3; bound = 100)" in out
    assert (probe_root / "_build" / "results" / "smoke" / f"{PROBE}.json").is_file()
    assert cli.main(["run", PROBE, "--profile", "smoke", "-p", "scale", "4"]) == 0
    capsys.readouterr()

    assert cli.main(["runs"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].split()[:3] == ["chapter", "run", "profile"]
    assert len(listed) == 3 and "scale=3" in listed[1] and "scale=4" in listed[2]
    assert all(line.split()[5] == "1" for line in listed[1:])  # one failed claim each

    first = runs.list_runs(probe_root, PROBE)[0]["run"]
    assert cli.main(["compare", PROBE, first[:6], "profile:smoke"]) == 0
    out = capsys.readouterr().out
    assert "probe_value" in out and "63" in out and "21" in out
    table = list(csv.reader((probe_root / "_build" / "runs" / PROBE / "compare.csv").open()))
    assert table[0] == ["", first, "profile:smoke"]
    rows = {row[0]: row[1:] for row in table[1:]}
    assert rows["parameter scale"] == ["3", "1"] and rows["probe_value"] == ["63", "21"]
    assert rows["claim probe_true"] == ["holds", "holds"]
    assert rows["claim probe_false"] == ["FAILS", "FAILS"]

    assert cli.main(["compare", PROBE, "--csv", str(probe_root / "all.csv")]) == 0
    assert len(next(csv.reader((probe_root / "all.csv").open()))) == 3  # both runs
    assert cli.main(["compare", PROBE, "ffffffffff"]) == 1
    assert "no run of" in capsys.readouterr().err


def test_sweep_in_process_is_cached(probe_root, capsys):
    assert cli.main(["sweep", PROBE, "--profile", "smoke", "-p", "scale", "5", "6"]) == 0
    captured = capsys.readouterr()
    assert captured.out.count("executed") == 2 and "sweep 99_probe" in captured.err
    assert sorted(r["parameters"]["scale"] for r in runs.list_runs(probe_root, PROBE)) == [5, 6]
    assert cli.main(["sweep", PROBE, "--profile", "smoke", "-p", "scale", "5", "6"]) == 0
    assert capsys.readouterr().out.count("cached") == 2
    assert cli.main(["sweep", PROBE, "-p", "nope", "1"]) == 1
    assert "unknown parameter(s) nope" in capsys.readouterr().err
    assert runs.sweep_points({"a": [1, 2], "b": ["x", "y"]}) == [
        {"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 2, "b": "x"}, {"a": 2, "b": "y"}]


def test_sweep_on_a_local_dask_cluster(probe_root, capsys):
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster:
        code = cli.main(["sweep", PROBE, "--profile", "smoke", "-p", "scale", "7", "8",
                         "-p", "fail_on", "-1", "8", "--scheduler", cluster.scheduler_address])
    captured = capsys.readouterr()
    assert code == 1  # scale=8, fail_on=8 fails; the other three runs are kept
    assert "probe failure at scale=8" in captured.err
    done = runs.list_runs(probe_root, PROBE)
    assert sorted((r["parameters"]["scale"], r["parameters"]["fail_on"]) for r in done) == [
        (7, -1), (7, 8), (8, -1)]


def _clean_env():
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def test_plain_papermill_rejects_unknown_parameters_from_anywhere(tmp_path):
    import nbformat

    notebook = tmp_path / "nb" / "probe.ipynb"
    notebook.parent.mkdir()
    nbformat.write(probe_notebook(), notebook)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    papermill = str(Path(sys.executable).with_name("papermill"))
    bad = subprocess.run([papermill, str(notebook), "out.ipynb", "-p", "nope", "1"],
                         cwd=elsewhere, env=_clean_env(), capture_output=True, text=True)
    assert bad.returncode != 0
    assert ("UnknownParameterError: unknown parameter(s) nope for this notebook; "
            "it declares: fail_on, scale") in bad.stdout + bad.stderr
    good = subprocess.run([papermill, str(notebook), "out.ipynb", "-p", "scale", "3"],
                          cwd=elsewhere, env=_clean_env(), capture_output=True, text=True)
    assert good.returncode == 0, good.stderr[-2000:]
    from ntkbook.pipeline.glue import glued_values

    assert glued_values(nbformat.read(elsewhere / "out.ipynb", as_version=4))["probe_value"] == 63


def test_import_ntkbook_from_any_directory(tmp_path):
    done = subprocess.run([sys.executable, "-c", "import ntkbook.pipeline; print('ok')"],
                          cwd=tmp_path, env=_clean_env(), capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
