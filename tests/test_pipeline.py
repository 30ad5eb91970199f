"""`ntkbook run`: parameters checked before running, failures named, results cached and atomic."""

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from probes import PROBE, make_probe_root

from ntkbook.pipeline import profiles, runner
from ntkbook.pipeline.glue import glued_values


@pytest.fixture
def probe_root(tmp_path, monkeypatch):
    return make_probe_root(tmp_path, monkeypatch)


def test_run_writes_record_and_caches(probe_root):
    first = runner.run_chapter(PROBE, "smoke", root=probe_root)
    assert first.executed
    record = json.loads(first.record.read_text())
    assert record["parameters"] == {"scale": 1}
    assert record["results"] == {"probe_value": 21, "probe_list": [1.5, 1]}
    assert record["wall_seconds"] > 0 and "jax" in record["versions"]
    executed = nbformat.read(first.notebook, as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "remove-cell" in injected[0].metadata["tags"]
    shown = next(c for c in executed.cells if "parameters" in c.metadata.get("tags", []))
    assert "profile: smoke" in shown.source and "scale = 1" in shown.source

    again = runner.run_chapter(PROBE, "smoke", root=probe_root)
    assert not again.executed  # same notebook, package and parameters: cached
    assert runner.run_chapter(PROBE, "smoke", {"scale": 3}, root=probe_root).executed
    assert runner.run_chapter(PROBE, "smoke", {"scale": 3}, force=True, root=probe_root).executed
    assert glued_values(nbformat.read(first.notebook, as_version=4))["probe_value"] == 63


def test_unknown_parameter_fails_before_running(probe_root):
    message = r"unknown parameter\(s\) nope.*declares: fail_on, scale"
    with pytest.raises(runner.ChapterError, match=message):
        runner.run_chapter(PROBE, "smoke", {"nope": 1}, root=probe_root)
    assert not runner.executed_path(probe_root, "smoke", PROBE).exists()


def test_unknown_chapter_and_profile(probe_root):
    with pytest.raises(runner.ChapterError, match="unknown chapter 'nochapter'"):
        runner.run_chapter("nochapter", "smoke", root=probe_root)
    with pytest.raises(runner.ChapterError, match="unknown profile 'fast'"):
        runner.run_chapter(PROBE, "fast", root=probe_root)


def test_failing_cell_is_named_and_leaves_no_result(probe_root):
    with pytest.raises(runner.ChapterError) as info:
        runner.run_chapter(PROBE, "smoke", {"fail_on": 1}, root=probe_root)
    message = str(info.value)
    assert f"chapter {PROBE} failed in cell" in message
    assert "ValueError: probe failure at scale=1" in message
    assert not runner.executed_path(probe_root, "smoke", PROBE).exists()
    assert not runner.record_path(probe_root, "smoke", PROBE).exists()
    assert list((probe_root / "_build" / "failed" / "smoke").glob("*.ipynb"))


def _cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "ntkbook", *args], cwd=cwd, capture_output=True, text=True
    )


def test_cli_rejects_unknown_parameter_and_chapter(tmp_path):
    root = runner.repo_root()
    bad = _cli("run", "01_theory", "--profile", "smoke", "-p", "no_such_parameter", "1", cwd=root)
    assert bad.returncode != 0
    assert "no_such_parameter" in bad.stderr
    bad = _cli("run", "00_missing", cwd=root)
    assert bad.returncode != 0 and "unknown chapter '00_missing'" in bad.stderr
    bad = _cli("build", "--profile", "huge", cwd=root)
    assert bad.returncode != 0 and "invalid choice: 'huge'" in bad.stderr


def test_records_are_plain_json(tmp_path):
    import numpy as np

    from ntkbook.store.codec import to_builtin
    from ntkbook.store.files import atomic_write_json

    value = {"a": np.float32(1.5), "b": np.arange(3), "c": [np.nan, np.inf, 2.0], "d": (1, 2)}
    assert to_builtin(value) == {"a": 1.5, "b": [0, 1, 2], "c": [None, None, 2.0], "d": [1, 2]}
    path = atomic_write_json(tmp_path / "r.json", value)
    assert json.loads(path.read_text())["c"] == [None, None, 2.0]
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary file left


def test_chapter_hash_covers_every_module_the_notebook_imports(probe_root):
    """The key of a chapter's record: its notebook, parameters and the source closure of the
    ntkbook modules it imports (here through ``ntkbook.pipeline.glue``)."""
    from ntkbook.store.hashing import module_closure

    notebook = probe_root / "book" / f"{PROBE}.ipynb"
    assert runner.notebook_modules(notebook) >= {"ntkbook", "ntkbook.pipeline.glue"}
    key = runner.inputs_hash(probe_root, PROBE, "smoke", {"scale": 1})
    assert key != runner.inputs_hash(probe_root, PROBE, "smoke", {"scale": 2})
    assert key != runner.inputs_hash(probe_root, PROBE, "default", {"scale": 1})
    nb = nbformat.read(notebook, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import ntkbook.experiments.grids\n%time 1"))
    nbformat.write(nb, notebook)
    assert "ntkbook.experiments.grids" in runner.notebook_modules(notebook)
    assert key != runner.inputs_hash(probe_root, PROBE, "smoke", {"scale": 1})
    chapter = runner.repo_root() / "book" / "05_hybrid_training.ipynb"
    package = Path(runner.__file__).resolve().parents[1]
    files = {p.relative_to(package).as_posix()
             for p in module_closure(runner.notebook_modules(chapter))}
    assert {"core/activations.py", "experiments/hybrid/run.py", "data/wine.py"} <= files


def test_repo_root(tmp_path):
    root = runner.repo_root()
    assert (root / "_toc.yml").is_file() and (root / "book").is_dir()
    assert runner.repo_root(root / "book") == root
    assert runner.repo_root(tmp_path) == root  # outside any checkout: the package's checkout


def test_python_m_ntkbook_lists_chapters():
    listed = _cli("list", cwd=runner.repo_root())
    assert listed.returncode == 0, listed.stderr
    assert all(chapter in listed.stdout for chapter in profiles.CHAPTERS)


def test_a_number_that_is_not_finite_is_null_in_the_record():
    cell = {"outputs": [
        {"metadata": {"scrapbook": {"name": name, "mime_prefix": ""}},
         "data": {"text/plain": text}}
        for name, text in (("a", "nan"), ("b", "-inf"), ("c", "1.5"), ("d", "'word'"))]}
    assert glued_values({"cells": [cell]}) == {"a": None, "b": None, "c": 1.5, "d": "word"}
