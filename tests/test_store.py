"""The store: one JSON codec (NaN <-> null), one content hash over the computed source closure,
atomic files, the cache, and the one place that says where the checkout and caches are."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import ntkbook
from ntkbook.store import cache, codec, files, hashing, paths

PACKAGE = Path(ntkbook.__file__).resolve().parent


# --------------------------------------------------------------------------- codec


def test_codec_nan_null_round_trip(tmp_path):
    value = {"x": np.array([1.0, np.nan, np.inf, -np.inf]), 3: (np.int64(2), np.float32(0.5)),
             "nested": [{"v": np.float64(np.nan)}]}
    plain = codec.to_builtin(value)
    assert plain == {"x": [1.0, None, None, None], "3": [2, 0.5], "nested": [{"v": None}]}
    path = files.atomic_write_json(tmp_path / "r.json", value)
    back = json.loads(path.read_text())
    assert back == plain and "NaN" not in path.read_text()
    restored = codec.floats(back["x"])
    assert restored.dtype == np.float64
    np.testing.assert_array_equal(restored, [1.0, np.nan, np.nan, np.nan])
    assert np.isnan(codec.floats(None)) and codec.floats(2) == 2.0
    assert codec.finite_or_none(np.nan) is None and codec.finite_or_none(1) == 1.0


def test_one_codec():
    assert files.to_builtin is codec.to_builtin
    assert not hasattr(files, "atomic_save_npz")  # dead code, gone


def test_atomic_write_leaves_no_temporary(tmp_path):
    files.atomic_write_text(tmp_path / "a" / "t.txt", "one")
    files.atomic_write_text(tmp_path / "a" / "t.txt", "two")
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["t.txt"]
    assert (tmp_path / "a" / "t.txt").read_text() == "two"
    with pytest.raises(TypeError):
        files.atomic_write_json(tmp_path / "a" / "bad.json", {"f": object()})
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["t.txt"]


# --------------------------------------------------------------------------- hashing


def test_one_content_hash():
    assert cache.content_hash is hashing.content_hash


def test_closure_follows_imports():
    found = {p.relative_to(PACKAGE).as_posix()
             for p in hashing.module_closure(["ntkbook.experiments.grids"])}
    assert {"experiments/grids.py", "core/activations.py", "core/kernel.py",
            "store/cache.py", "__init__.py"} <= found
    assert "pipeline/runner.py" not in found
    with pytest.raises(ValueError, match="not a module of the ntkbook package"):
        hashing.module_closure(["numpy"])


def test_source_imports():
    code = "import numpy as np\nfrom ntkbook.core import kernel\n%matplotlib inline\n"
    assert hashing.source_imports(code) >= {"ntkbook", "ntkbook.core", "ntkbook.core.kernel"}
    assert "numpy" not in hashing.source_imports(code)


def test_content_hash_of_parts():
    a = np.arange(6.0)
    key = hashing.content_hash(a, {"b": 1})
    assert len(key) == 64 and key == hashing.content_hash(a.copy(), {"b": 1})
    assert key != hashing.content_hash(a.reshape(2, 3), {"b": 1})  # shape counts
    assert key != hashing.content_hash(a.astype(np.float32), {"b": 1})  # dtype counts
    assert key != hashing.content_hash(a, {"b": 2})


def _copy_package(tmp_path: Path) -> Path:
    copy = tmp_path / "ntkbook"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "files"))
    return copy


@pytest.fixture
def package_copy(tmp_path, monkeypatch):
    """A copy of the package's source that the hash reads instead of the real one."""
    copy = _copy_package(tmp_path)

    def source_path(module: str) -> Path | None:
        if module != "ntkbook" and not module.startswith("ntkbook."):
            return None
        base = copy.joinpath(*module.split(".")[1:])
        for path in (base / "__init__.py", base.with_suffix(".py")):
            if path.is_file():
                return path
        return None

    monkeypatch.setattr(hashing, "_source_path", source_path)
    return copy


def test_editing_an_imported_module_changes_the_key(package_copy):
    """Editing any module in the closure (however indirectly imported) changes the key; editing
    one outside it does not."""
    code = ("ntkbook.experiments.grids",)
    key = hashing.content_hash("x", code=code)
    assert key == hashing.content_hash("x", code=code)
    outside = package_copy / "pipeline" / "browser.py"
    outside.write_text(outside.read_text() + "\n# an edit\n")
    assert hashing.content_hash("x", code=code) == key
    activations = package_copy / "core" / "activations.py"
    activations.write_text(activations.read_text() + "\n# an edit\n")
    assert hashing.content_hash("x", code=code) != key


def test_a_new_import_joins_the_closure(package_copy):
    code = ("ntkbook.stats",)
    before = set(hashing.module_closure(code))
    stats = package_copy / "stats.py"
    stats.write_text(stats.read_text() + "\nfrom ntkbook.store import paths as _paths  # noqa\n")
    after = set(hashing.module_closure(code))
    assert package_copy / "store" / "paths.py" in after - before


def test_notebook_files_count(tmp_path):
    nb = tmp_path / "c.ipynb"
    nb.write_text("{}")
    key = hashing.content_hash(code=("ntkbook.store.codec",), files=[nb])
    nb.write_text('{"cells": []}')
    assert key != hashing.content_hash(code=("ntkbook.store.codec",), files=[nb])


# --------------------------------------------------------------------------- paths and cache


def test_user_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert paths.user_cache_dir("wine-quality") == tmp_path / "xdg" / "ntkbook" / "wine-quality"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert paths.user_cache_dir() == tmp_path / "home" / ".cache" / "ntkbook"


def test_default_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("NTKBOOK_CACHE", str(tmp_path / "c"))
    assert cache.default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("NTKBOOK_CACHE")
    root = paths.checkout()
    assert root is not None and (root / "_toc.yml").is_file()
    assert paths.default_cache_dir() == root / "_build" / "cache"  # a checkout: its _build
    monkeypatch.setattr(paths, "PACKAGE_DIR", tmp_path / "site-packages" / "ntkbook")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert paths.default_cache_dir() == tmp_path / "xdg" / "ntkbook" / "results"  # a wheel
    assert paths.checkout(tmp_path) is None


def test_cache_round_trip(tmp_path):
    assert cache.load_json(tmp_path, "k", "key") is None
    cache.save_json(tmp_path, "k", "key", {"v": np.array([np.nan, 1.0])})
    assert cache.load_json(tmp_path, "k", "key") == {"v": [None, 1.0]}
    (tmp_path / "k" / "key.json").write_text("{broken")
    assert cache.load_json(tmp_path, "k", "key") is None  # a damaged entry is recomputed
    assert cache.load_json(None, "k", "key") is None
    cache.save_json(None, "k", "other", 1)  # no cache folder: nothing written
    assert not (tmp_path / "k" / "other.json").exists()
