"""Tables for the page: every number to a few significant digits, "—" where nothing was measured.

Pandas' default display prints ``0.0000`` for 3e-5 and ``nan`` for a value a run did not
produce. :func:`format_table` is the one way the chapters show a table: numbers with
``digits`` significant digits (scientific notation outside ``1e-3 .. 1e6``), integers as
integers, missing values (None, NaN) as an em dash, and the index hidden unless it names rows.
"""

from __future__ import annotations

import math
import numbers

import pandas as pd

#: What a cell shows when the run did not measure it.
MISSING = "—"


def format_number(value, digits: int = 3) -> str:
    """``value`` with ``digits`` significant digits; integers exactly; None/NaN as :data:`MISSING`.

    With ``digits=3``: ``3.2e-05 -> "3.20e-05"``, ``0.12345 -> "0.123"``, ``12.5 -> "12.5"``;
    numbers in ``[1e-3, 1e6)`` keep all their integer digits (``1234.5 -> "1234"``), others are
    in scientific notation (``2.5e7 -> "2.50e+07"``). Strings and booleans are returned as text.
    """
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return f"{int(value):d}"
    if not isinstance(value, numbers.Real):
        return str(value)
    value = float(value)
    if math.isnan(value):
        return MISSING
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude < 1e-3 or magnitude >= 1e6:
        return f"{value:.{digits - 1}e}"
    whole = math.floor(math.log10(magnitude)) + 1  # digits before the point
    decimals = max(digits - whole, 0)
    return f"{value:.{decimals}f}"


def format_table(frame: pd.DataFrame, digits: int = 3, hide_index: bool | None = None,
                 caption: str | None = None):
    """``frame`` as a pandas Styler for the page (see the module docstring).

    Args:
        frame: the table; any column types.
        digits: significant digits of real numbers.
        hide_index: hide the index; by default hidden when it is a plain ``RangeIndex``.
        caption: an optional caption above the table.

    Returns:
        A ``pandas.io.formats.style.Styler``.
    """
    if hide_index is None:
        hide_index = isinstance(frame.index, pd.RangeIndex)
    styler = frame.style.format(lambda v: format_number(v, digits))
    if hide_index:
        styler = styler.hide(axis="index")
    if caption:
        styler = styler.set_caption(caption)
    return styler
