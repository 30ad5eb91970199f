"""Result records: key numbers glued into the book and written as JSON, atomically.

A chapter reports a number with :func:`glue`: myst-nb shows it in the prose (``{glue:text}``),
and ``ntkbook run`` collects every glued value of the executed notebook into the chapter's
result record ``_build/results/<profile>/<chapter>.json``.
"""

from __future__ import annotations

import ast
import json
import os
import platform
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

RECORD_PACKAGES = ("ntkbook", "jax", "jaxlib", "numpy", "scipy", "papermill", "jupyter-book")


def to_builtin(value: Any) -> Any:
    """``value`` with NumPy/JAX scalars and arrays turned into Python numbers and lists, and
    NaN/Inf into None."""
    if isinstance(value, dict):
        return {str(k): to_builtin(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_builtin(v) for v in value]
    if hasattr(value, "tolist") and hasattr(value, "dtype"):
        return to_builtin(np.asarray(value).tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None  # JSON has no NaN/Inf: a missing value (e.g. the spread of one seed)
    return value


class _FullRepr:
    """A container whose text form is Python's complete ``repr``: IPython's pretty printer
    would cut long lists at 1000 items with ``...``, and the record must hold all of them."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return repr(self.value)


def glue(name: str, value: Any, display: bool = False) -> None:
    """Glue ``value`` under ``name`` for the prose and the chapter's result record.

    Numbers are stored as plain Python values so that ``{glue:text}`name:.3f``` formats them
    and the record holds them exactly.
    """
    from myst_nb import glue as myst_glue

    value = to_builtin(value)
    myst_glue(name, _FullRepr(value) if isinstance(value, (list, dict)) else value,
              display=display)


def glued_values(notebook: dict) -> dict[str, Any]:
    """Every value glued in an executed notebook (nbformat dict), by name."""
    values: dict[str, Any] = {}
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []):
            meta = output.get("metadata", {}).get("scrapbook")
            if not meta or "name" not in meta:
                continue
            prefix = meta.get("mime_prefix", "")
            text = output.get("data", {}).get(f"{prefix}text/plain")
            if isinstance(text, list):
                text = "".join(text)
            try:
                value = ast.literal_eval(text)
                json.dumps(value, allow_nan=False)
            except (ValueError, SyntaxError, TypeError):
                value = text  # not a plain literal: keep its text
            values[meta["name"]] = value
    return values


def versions() -> dict[str, str]:
    """Python, platform, accelerator and package versions, for every record."""
    found = {"python": platform.python_version(), "platform": platform.platform()}
    for name in RECORD_PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    try:
        import jax

        found["device"] = str(jax.devices()[0].device_kind)
    except Exception as exc:  # noqa: BLE001 - a record must not fail for lack of a device name
        found["device"] = f"unknown ({exc.__class__.__name__})"
    return found


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename: never half-written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically; NaN/Inf are refused."""
    return atomic_write_text(path, json.dumps(to_builtin(obj), indent=2, allow_nan=False) + "\n")


def atomic_save_npz(path: str | os.PathLike, **arrays: Any) -> Path:
    """``np.savez_compressed`` to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".npz")
    os.close(fd)
    try:
        np.savez_compressed(tmp, **{k: np.asarray(v) for k, v in arrays.items()})
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
