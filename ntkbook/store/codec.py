"""The one JSON codec of the package: NumPy/JAX values to plain Python, NaN/Inf <-> null.

JSON has no NaN or Inf. A result that is not a number (a diverged run, the spread of one seed)
is written as ``null`` by :func:`to_builtin` and read back as NaN by :func:`floats`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np


def to_builtin(value: Any) -> Any:
    """``value`` with NumPy/JAX scalars and arrays turned into Python numbers and lists,
    tuples into lists, dict keys into strings, and NaN/Inf into None."""
    if isinstance(value, dict):
        return {str(k): to_builtin(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_builtin(v) for v in value]
    if hasattr(value, "tolist") and hasattr(value, "dtype"):
        return to_builtin(np.asarray(value).tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def floats(values: Iterable[float | None] | float | None) -> np.ndarray:
    """Numbers as written by :func:`to_builtin` back to a float64 array, None as NaN.

    Returns:
        Shape of ``values`` (a 0-d array for a scalar), float64.
    """
    if values is None:
        return np.array(np.nan)
    if np.isscalar(values):
        return np.array(float(values))
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def finite_or_none(value: float | None) -> float | None:
    """A float, or None where it is missing, NaN or Inf: one number for a JSON record."""
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None
