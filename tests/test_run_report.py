"""The run report's account of where a chapter's time went, from papermill's cell timings."""

import json

import nbformat

from ntkbook.pipeline import build, runner


def _executed(path, durations):
    """An executed notebook whose code cells ran for ``durations`` seconds (None: no timing)."""
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell("# A chapter"))
    for i, seconds in enumerate(durations):
        cell = nbformat.v4.new_code_cell(f"import numpy\n# step {i}\nresult_{i} = train({i})")
        if seconds is not None:
            cell.metadata["papermill"] = {"duration": seconds}
        nb.cells.append(cell)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def test_slowest_cells_are_ordered_by_papermill_duration_and_labelled_by_code(tmp_path):
    nb = _executed(tmp_path / "ch.ipynb", [1.5, None, 40.0, 7.25, 0.1])
    cells = build.slowest_cells(nb)
    assert [(c.position, c.seconds) for c in cells] == [(4, 40.0), (5, 7.25), (2, 1.5)]
    assert cells[0].label == "result_2 = train(2)"  # imports and comments skipped
    assert build.slowest_cells(_executed(tmp_path / "none.ipynb", [None])) == []


def test_long_labels_are_cut(tmp_path):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x = " + "a + " * 40 + "b")
    cell.metadata["papermill"] = {"duration": 2.0}
    nb.cells.append(cell)
    nbformat.write(nb, tmp_path / "long.ipynb")
    (label,) = [c.label for c in build.slowest_cells(tmp_path / "long.ipynb")]
    assert len(label) == 48 and label.endswith("…")


def test_report_lists_each_chapters_slowest_cells_with_their_share(tmp_path, monkeypatch):
    monkeypatch.setattr(build, "CHAPTERS", ("ch_a", "ch_b"))
    for chapter, durations, wall in (("ch_a", [10.0, 30.0], 50.0), ("ch_b", [1.0], 4.0)):
        _executed(runner.executed_path(tmp_path, "smoke", chapter), durations)
        record = runner.record_path(tmp_path, "smoke", chapter)
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps({
            "chapter": chapter, "profile": "smoke", "started": "2026-12-01T00:00:00+00:00",
            "wall_seconds": wall, "parameters": {}, "seed": 0, "versions": {"jax": "0"},
            "claims": []}))
    page = build.run_report(tmp_path, "smoke")
    section = page.split("## Where the time goes", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| {doc}")]
    assert rows[0] == ("| {doc}`ch_a <ch_a>` | 50 s | cell 3 `result_1 = train(1)`: 30 s (60 %); "
                       "cell 2 `result_0 = train(0)`: 10 s (20 %) |")
    assert rows[1].endswith("cell 2 `result_0 = train(0)`: 1 s (25 %) |")
