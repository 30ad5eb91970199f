"""House rules for the chapters: no committed outputs, a parameters cell matching the profiles."""

import ast
from pathlib import Path

import nbformat
import pytest

from ntkbook.pipeline.profiles import CHAPTER_PARAMETERS, CHAPTERS, PROFILE_NAMES

BOOK = Path(__file__).resolve().parent.parent / "book"
NOTEBOOKS = sorted(BOOK.glob("*.ipynb"))


def test_every_chapter_has_a_notebook_and_profiles():
    assert sorted(p.stem for p in NOTEBOOKS) == sorted(CHAPTERS)
    for chapter, by_profile in CHAPTER_PARAMETERS.items():
        assert set(by_profile) == set(PROFILE_NAMES), chapter


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


def _parameter_cell(nb):
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and "parameters" in code[0].metadata.get("tags", []), "first code cell untagged"
    return code[0]


def _assignments(source):
    values = {}
    for node in ast.parse(source).body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, ast.dump(node)[:80]
        values[node.targets[0].id] = ast.literal_eval(node.value)
    return values


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_is_first_and_matches_default_profile(path):
    nb = nbformat.read(path, as_version=4)
    declared = _assignments(_parameter_cell(nb).source)
    by_profile = CHAPTER_PARAMETERS[path.stem]
    assert declared == by_profile["default"]
    for profile in PROFILE_NAMES:
        assert set(by_profile[profile]) <= set(declared), profile


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_are_never_reassigned(path):
    nb = nbformat.read(path, as_version=4)
    names = set(_assignments(_parameter_cell(nb).source))
    later = [c for c in nb.cells if c.cell_type == "code"][1:]
    for cell in later:
        for node in ast.walk(ast.parse(cell.source)):
            targets = []
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for name in ast.walk(target):
                    assert not (isinstance(name, ast.Name) and name.id in names), name.id


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_refuses_unknown_parameters_under_plain_papermill(path):
    nb = nbformat.read(path, as_version=4)
    after_parameters = [c for c in nb.cells if c.cell_type == "code"][1]
    calls = [node for node in ast.walk(ast.parse(after_parameters.source))
             if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "check_parameters"]
    assert calls, "the cell after the parameters must call check_parameters(globals())"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_valid_nbformat(path):
    nbformat.validate(nbformat.read(path, as_version=nbformat.NO_CONVERT))
