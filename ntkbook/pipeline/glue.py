"""Glue and claims: what a chapter's prose quotes, shown in the page and kept in its record.

A chapter reports a number with :func:`glue`: myst-nb shows it in the prose (``{glue:text}``),
and ``ntkbook run`` collects every glued value of the executed notebook into the chapter's
result record ``_build/results/<profile>/<chapter>.json``.

A qualitative sentence (a comparison, an ordering, "close to", "agrees", "beats") is a
:func:`claim`: a computed predicate with an explicit tolerance, and the sentence it supports. The
page shows the sentence when the predicate holds and a warning admonition with the numbers when
it does not; the record lists every claim under ``claims``. :func:`close`,
:func:`interval_contains`, :func:`interval_excludes`, :func:`less` and :func:`ordered` are the
usual predicates, each with its tolerance spelt out.
"""

from __future__ import annotations

import ast
import json
import platform
from importlib import metadata
from typing import Any

import numpy as np

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
    and the record holds them exactly. A number that is not finite (an interval from one seed,
    say) is glued as a float, so that the prose formats it (``nan``) instead of failing the
    build, and is ``null`` in the record (:func:`glued_values`).
    """
    from myst_nb import glue as myst_glue

    builtin = to_builtin(value)
    if builtin is None and _is_number(value):
        builtin = float(value)  # NaN/Inf: formattable in the prose, null in the record
    myst_glue(name, _FullRepr(builtin) if isinstance(builtin, (list, dict)) else builtin,
              display=display)


def glue_figure(name: str, figure: Any) -> None:
    """Glue a Matplotlib figure for a numbered, captioned figure in the prose, and close it.

    The prose shows it with the ``glue:figure`` directive, named so that text can cite it with
    ``{numref}``::

        ```{glue:figure} ch02_heatmaps
        :name: fig-ch02-heatmaps

        The empirical NTK of ... (the caption).
        ```

    The figure is not displayed where the code cell stands (it would appear twice, once without
    its caption) and is not kept in the record (only numbers are).
    """
    import matplotlib.pyplot as plt
    from myst_nb import glue as myst_glue

    myst_glue(name, figure, display=False)
    plt.close(figure)


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return not isinstance(value, (str, bytes))


NOT_FINITE_TEXT = ("nan", "inf", "-inf")


def glued_values(notebook: dict) -> dict[str, Any]:
    """Every value glued in an executed notebook (nbformat dict), by name."""
    values: dict[str, Any] = {}
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []):
            meta = output.get("metadata", {}).get("scrapbook")
            if not meta or "name" not in meta:
                continue
            prefix = meta.get("mime_prefix", "")
            if f"{prefix}{CLAIM_MIME}" in output.get("data", {}):
                continue  # a claim: listed under the record's ``claims``
            text = output.get("data", {}).get(f"{prefix}text/plain")
            if isinstance(text, list):
                text = "".join(text)
            try:
                value = ast.literal_eval(text)
                json.dumps(value, allow_nan=False)
            except (ValueError, SyntaxError, TypeError):
                # a number that is not finite is null in the record; other text is kept
                value = None if text in NOT_FINITE_TEXT else text
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


# --- claims: prose that checks itself -------------------------------------------------------

CLAIM_MIME = "application/vnd.ntkbook.claim+json"
FAILED_TITLE = "Claim not supported by this run"


def _number(value: Any) -> str:
    """A value of a claim's numbers as the page shows it: floats to 4 significant digits,
    missing (None/NaN) as "—"."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return "[" + ", ".join(_number(v) for v in value) + "]"
    return str(value)


def _numbers_line(numbers: dict[str, Any], tolerance: Any) -> str:
    parts = [f"{name} = {_number(value)}" for name, value in numbers.items()]
    if tolerance is not None:
        parts.append(f"tolerance {_number(tolerance)}")
    return "; ".join(parts)


def _as_bool(holds: Any) -> bool:
    """``holds`` as a Python bool: a bool, a NumPy bool or a 0-d boolean array only, so that a
    number or a whole array passed by mistake is an error, not a truth value."""
    if isinstance(holds, (bool, np.bool_)):
        return bool(holds)
    if getattr(holds, "shape", None) == () and str(getattr(holds, "dtype", "")) == "bool":
        return bool(holds)
    raise TypeError(f"a claim holds or not: expected a bool, got {type(holds).__name__} {holds!r}")


class Claim:
    """A qualitative sentence and the computed predicate behind it (see :func:`claim`).

    Displayed (and glued) as the sentence when it holds, else as a warning admonition that
    quotes the sentence and the numbers; its record entry travels as :data:`CLAIM_MIME`.
    """

    def __init__(self, name: str, holds: Any, text: str, numbers: dict | None = None,
                 tolerance: Any = None) -> None:
        self.name, self.holds, self.text = name, _as_bool(holds), text.strip()
        self.numbers = to_builtin(dict(numbers or {}))
        self.tolerance = to_builtin(tolerance)

    def record(self) -> dict[str, Any]:
        """The record entry: ``{name, holds, text, numbers, tolerance}``."""
        return {"name": self.name, "holds": self.holds, "text": self.text,
                "numbers": self.numbers, "tolerance": self.tolerance}

    def markdown(self) -> str:
        """The sentence, or (claim failed) an HTML admonition block around it: raw HTML with
        the sentence as Markdown between blank lines, so that it renders as an admonition in
        jupyter-book/myst-nb, in the docutils run pages and in Jupyter alike."""
        if self.holds:
            return self.text
        numbers = _numbers_line(self.numbers, self.tolerance)
        return (
            f'<div class="admonition warning claim-failed" id="claim-{self.name}">\n'
            f'<p class="admonition-title">{FAILED_TITLE}</p>\n\n'
            f"{self.text}\n\n"
            + (f"Numbers of this run: {numbers}.\n\n" if numbers else "")
            + "</div>\n"
        )

    def plain(self) -> str:
        if self.holds:
            return self.text
        numbers = _numbers_line(self.numbers, self.tolerance)
        return f"[{FAILED_TITLE}: {self.text}" + (f" ({numbers})]" if numbers else "]")

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, Any]:
        # The entry as a JSON string: a dict would have its keys sorted when the notebook is
        # written, and the numbers are shown in the order the chapter gave them.
        return {"text/plain": self.plain(), "text/markdown": self.markdown(),
                CLAIM_MIME: json.dumps(self.record(), allow_nan=False)}

    def __repr__(self) -> str:
        return self.plain()


def claim(name: str, holds: Any, text: str, *, numbers: dict[str, Any] | None = None,
          tolerance: Any = None) -> None:
    """State a qualitative sentence of the prose together with the predicate that supports it.

    The prose shows it with the ``glue:md`` directive (a paragraph of its own)::

        ```{glue:md} ch04_sigmoid_worst
        :format: myst
        ```

    When ``holds`` is true the page shows ``text``; when false it shows a warning admonition
    "Claim not supported by this run" with ``text`` and ``numbers``. ``ntkbook run`` lists every
    claim of the chapter under the record's top-level ``claims`` key and reports failed ones.

    Args:
        name: the glue key, unique in the chapter.
        holds: the computed predicate: a bool or NumPy bool (e.g. from :func:`close`).
        text: the sentence, Markdown; numbers in it are formatted by the caller.
        numbers: the values the predicate used, by name (kept in the record, shown on failure).
        tolerance: the explicit tolerance of the predicate, if any (a number or a short text).

    Returns None, like :func:`glue`, so that a claim on a cell's last line displays nothing.
    """
    from myst_nb import glue as myst_glue

    myst_glue(name, Claim(name, holds, text, numbers, tolerance), display=False)


def glued_claims(notebook: dict) -> list[dict[str, Any]]:
    """Every claim stated in an executed notebook (nbformat dict), in order of execution."""
    found = []
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []):
            meta = output.get("metadata", {}).get("scrapbook")
            if not meta:
                continue
            entry = output.get("data", {}).get(meta.get("mime_prefix", "") + CLAIM_MIME)
            if isinstance(entry, str):
                entry = json.loads(entry)
            if entry is not None:
                found.append(dict(entry))
    return found


def failed_claims(record: dict) -> list[dict[str, Any]]:
    """The claims of a chapter record that do not hold."""
    return [c for c in record.get("claims", []) if not c.get("holds")]


def format_claim(entry: dict[str, Any]) -> str:
    """One line for a terminal: ``name: text (numbers)``."""
    numbers = _numbers_line(entry.get("numbers") or {}, entry.get("tolerance"))
    return f"{entry['name']}: {entry['text']}" + (f" ({numbers})" if numbers else "")


# --- predicates with explicit tolerances ----------------------------------------------------


def close(a: Any, b: Any, rtol: float, atol: float = 0.0) -> bool:
    """``|a - b| <= atol + rtol * |b|`` elementwise, for all elements: ``a`` agrees with the
    reference ``b`` to relative tolerance ``rtol`` (and absolute ``atol``). NaN is never close."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return bool(np.all(np.abs(a - b) <= atol + rtol * np.abs(b)))


def interval_contains(lo: float, hi: float, value: float) -> bool:
    """``lo <= value <= hi``: the interval (e.g. a 95% bootstrap interval) covers ``value``."""
    return bool(lo <= value <= hi)


def interval_excludes(lo: float, hi: float, value: float) -> bool:
    """``value < lo`` or ``value > hi``: the interval rules ``value`` out. The tolerance is the
    interval itself (state its level in the claim's ``tolerance``). NaN bounds exclude nothing."""
    lo, hi, value = float(lo), float(hi), float(value)
    return bool(value < lo or value > hi)


def less(a: float, b: float, margin: float = 0.0) -> bool:
    """``a < b - margin``: ``a`` is smaller than ``b`` by more than ``margin`` (absolute)."""
    return bool(float(a) < float(b) - margin)


def ordered(values: Any, decreasing: bool = False, margin: float = 0.0) -> bool:
    """The values are strictly increasing (or decreasing), each step larger than ``margin``."""
    steps = np.diff(np.asarray(values, dtype=float))
    steps = -steps if decreasing else steps
    return bool(steps.size == 0 or np.all(steps > margin))
