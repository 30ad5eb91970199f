"""Glue: key numbers of a chapter shown in its prose and collected into its result record.

A chapter reports a number with :func:`glue`: myst-nb shows it in the prose (``{glue:text}``),
and ``ntkbook run`` collects every glued value of the executed notebook into the chapter's
result record ``_build/results/<profile>/<chapter>.json``.
"""

from __future__ import annotations

import ast
import json
import platform
from importlib import metadata
from typing import Any

from ntkbook.store.codec import to_builtin

RECORD_PACKAGES = ("ntkbook", "jax", "jaxlib", "numpy", "scipy", "papermill", "jupyter-book")


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
