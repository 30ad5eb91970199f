"""Small statistics on NumPy arrays, shared by experiments, figures and chapters."""

from __future__ import annotations

import numpy as np


def fit_power_law(x, y) -> tuple[float, float]:
    """Least-squares fit of ``y = a x^b`` on log-log axes; returns ``(b, a)``."""
    lx = np.log(np.asarray(x, dtype=np.float64))
    ly = np.log(np.asarray(y, dtype=np.float64))
    slope, intercept = np.polyfit(lx, ly, 1)
    return float(slope), float(np.exp(intercept))
