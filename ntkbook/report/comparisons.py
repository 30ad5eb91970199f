"""Comparisons the prose states, computed: intervals of differences and the sentences they allow.

A chapter calls a difference between two measurements only when the 95 % interval of the
difference excludes zero; otherwise it says the runs do not separate them. The functions here
compute those intervals and build the sentence *from* them, returned as a :class:`Finding`
(predicate, sentence, numbers, tolerance) that a chapter passes on to
:func:`ntkbook.pipeline.claim` (this layer does not import the pipeline). A finding whose
wording depends on the result says what was measured in every profile, and its predicate is
the one the chosen wording asserts.

Measurements that spread over orders of magnitude (loss ratios) are compared on logs: the
difference of the mean logs, mapped back, is the ratio of the geometric means.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ntkbook.stats import mean_ci

#: The tolerance every interval comparison here states.
WELCH = "95 % Welch t-interval"


@dataclass(frozen=True)
class Finding:
    """A sentence of the prose and the computed predicate behind it (see ``pipeline.claim``)."""

    holds: bool
    text: str
    numbers: dict = field(default_factory=dict)
    tolerance: str | None = None


def welch_ci(a, b, level: float = 0.95) -> tuple[float, float, float]:
    """``mean(a) - mean(b)`` of two independent samples and its Welch t-interval.

    Returns ``(difference, low, high)``; nan bounds when either sample has fewer than two
    values or both have no spread.
    """
    from scipy import stats

    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    diff = float(a.mean() - b.mean())
    if a.size < 2 or b.size < 2:
        return diff, float("nan"), float("nan")
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se2 = va + vb
    if se2 == 0:
        return diff, float("nan"), float("nan")
    dof = se2**2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    half = float(stats.t.ppf(0.5 + level / 2, dof) * np.sqrt(se2))
    return diff, diff - half, diff + half


def ratio_ci(a, b, level: float = 0.95) -> tuple[float, float, float]:
    """Ratio of the geometric means of positive ``a`` and ``b`` and its interval: the Welch
    interval of the difference of the mean logs, exponentiated. ``(ratio, low, high)``."""
    diff, low, high = welch_ci(np.log(a), np.log(b), level)
    return float(np.exp(diff)), float(np.exp(low)), float(np.exp(high))


def excludes(low: float, high: float, value: float) -> bool:
    """The interval ``[low, high]`` rules ``value`` out (nan bounds rule nothing out)."""
    return bool(value < low or value > high)


def relation(low: float, high: float, value: float) -> str:
    """Where ``value`` lies against an interval: ``"above"`` the interval (value > high),
    ``"below"`` it, ``"inside"`` it, or ``"unknown"`` when the interval is not finite (one
    sample). The one place an interval is read against a value; :func:`interval_relation` and
    :func:`outcome` word it."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "unknown"
    if value > high:
        return "above"
    if value < low:
        return "below"
    return "inside"


#: :func:`relation` worded from the interval's side, for "an interval that ... 0".
_INTERVAL_WORDS = {"above": "lies below", "below": "lies above", "inside": "contains",
                   "unknown": "is undefined"}


def interval_relation(low: float, high: float, value: float) -> str:
    """Where the interval ``[low, high]`` lies with respect to ``value``: ``"contains"``,
    ``"lies above"`` (``low > value``), ``"lies below"`` (``high < value``), or
    ``"is undefined"`` when a bound is not finite. Reads as
    ``f"an interval that {interval_relation(lo, hi, 0)} 0"``."""
    return _INTERVAL_WORDS[relation(float(low), float(high), float(value))]


def outcome(low: float, high: float, higher_better: bool) -> str:
    """``"better"``, ``"worse"`` or ``"tie"``: what the 95 % interval ``[low, high]`` of a
    difference (method minus baseline) says, for a metric where higher is better or not. An
    interval that is not finite is a tie."""
    side = relation(low, high, 0.0)
    if side == "below":  # the whole interval is above zero
        return "better" if higher_better else "worse"
    if side == "above":
        return "worse" if higher_better else "better"
    return "tie"


def geometric_interval(values, level: float = 0.95) -> tuple[float, float, float]:
    """Geometric mean of positive ``values`` and the t-interval of the mean log, mapped back."""
    return tuple(float(np.exp(v)) for v in mean_ci(np.log(np.asarray(values, float)), level))


def _g(value: float, fmt: str) -> str:
    return "—" if not np.isfinite(value) else format(value, fmt)


@dataclass(frozen=True)
class PairRatio:
    """``higher / lower``: ratio of the two geometric means, its interval, whether it excludes 1."""

    higher: str
    lower: str
    ratio: float
    low: float
    high: float

    @property
    def separated(self) -> bool:
        return excludes(self.low, self.high, 1.0)

    def phrase(self) -> str:
        return (f"{self.higher} / {self.lower} = {self.ratio:.3g} "
                f"(95 % interval {_g(self.low, '.3g')} to {_g(self.high, '.3g')})")


def pair_ratios(samples: Mapping[str, Sequence[float]]) -> list[PairRatio]:
    """Every pair of ``samples`` (name -> positive values), the higher geometric mean over the
    lower, ordered as the names are when ranked from the lowest geometric mean."""
    ranked = sorted(samples, key=lambda k: float(np.mean(np.log(samples[k]))))
    out = []
    for lo_name, hi_name in itertools.combinations(ranked, 2):
        out.append(PairRatio(hi_name, lo_name, *ratio_ci(samples[hi_name], samples[lo_name])))
    return out


def ordering_finding(samples: Mapping[str, Sequence[float]], quantity: str,
                     fmt: str = ".2e") -> Finding:
    """The measured ordering of ``samples`` (name -> positive values, e.g. loss ratios over
    seeds) by geometric mean, lowest first, each with its 95 % interval, and which pairs the
    runs separate: a pair is called different only when the interval of its ratio excludes 1.

    The predicate is that the stated ranking is the ranking of the geometric means and that
    every pair called different has an interval that excludes 1 (true by construction, kept
    so that the record holds the numbers).
    """
    ranked = sorted(samples, key=lambda k: float(np.mean(np.log(samples[k]))))
    means = {k: geometric_interval(samples[k]) for k in ranked}
    listed = ", ".join(f"{k} {_g(m, fmt)} ({_g(lo, fmt)} to {_g(hi, fmt)})"
                       for k, (m, lo, hi) in means.items())
    pairs = pair_ratios(samples)
    apart = [p for p in pairs if p.separated]
    together = [p for p in pairs if not p.separated]
    text = (f"Ranked by the geometric mean of {quantity}, lowest first (95 % interval in "
            f"parentheses): {listed}.")
    names = "; ".join(f"{p.lower} and {p.higher}" for p in together)
    if apart:
        text += (" The 95 % interval of the ratio of two geometric means excludes 1 for "
                 + "; ".join(p.phrase() for p in apart))
        text += (f"; it includes 1 for {names}, which these runs do not separate."
                 if together else ".")
    else:
        text += (" The 95 % interval of the ratio of two geometric means includes 1 for every "
                 "pair: these runs separate none of them.")
    holds = all(np.diff([np.log(means[k][0]) for k in ranked]) >= 0) and all(
        p.separated for p in apart)
    numbers = {f"{k} geometric mean": means[k][0] for k in ranked}
    numbers |= {f"{p.higher}/{p.lower}": [p.ratio, p.low, p.high] for p in pairs}
    return Finding(bool(holds), text, numbers, WELCH + " on the log ratio")


def lags_finding(samples: Mapping[str, Sequence[float]], name: str, others: Sequence[str],
                 quantity: str, source: str) -> Finding:
    """Does ``name`` end higher (worse) than each of ``others``, separated by the ratio's 95 %
    interval? The sentence says whether ``source``'s statement that it lags is reproduced."""
    ratios = {o: PairRatio(name, o, *ratio_ci(samples[name], samples[o])) for o in others}
    worse = [o for o, r in ratios.items() if r.separated and r.ratio > 1]
    reproduced = len(worse) == len(others)
    detail = "; ".join(r.phrase() for r in ratios.values())
    if reproduced:
        text = (f"{source}'s finding that {name} lags behind is reproduced: its {quantity} is "
                f"higher than each of the others', with intervals that exclude 1 ({detail}).")
    else:
        not_worse = [o for o in others if o not in worse]
        text = (f"{source}'s finding that {name} lags behind is not reproduced by these runs: "
                f"against {', '.join(not_worse)} the ratio of the geometric means of "
                f"{quantity} has an interval that does not lie above 1 ({detail}).")
    holds = reproduced == all(r.separated and r.ratio > 1 for r in ratios.values())
    numbers = {f"{name}/{o}": [r.ratio, r.low, r.high] for o, r in ratios.items()}
    return Finding(bool(holds), text, numbers, WELCH + " on the log ratio")


def alike_finding(samples: Mapping[str, Sequence[float]], names: Sequence[str],
                  quantity: str, source: str) -> Finding:
    """Are ``names`` alike, i.e. does no pair's ratio interval exclude 1? The sentence says
    whether ``source``'s statement that they train about equally well is reproduced, naming the
    pairs that are separated."""
    pairs = pair_ratios({n: samples[n] for n in names})
    apart = [p for p in pairs if p.separated]
    if not apart:
        text = (f"{source}'s finding that {', '.join(names)} train about equally well is "
                f"consistent with these runs: no pair's ratio of the geometric means of "
                f"{quantity} has an interval that excludes 1.")
    else:
        text = (f"{source}'s finding that {', '.join(names)} train about equally well is not "
                f"reproduced: " + "; ".join(p.phrase() for p in apart)
                + (" exclude" if len(apart) > 1 else " excludes") + " 1.")
    holds = (not apart) == all(not p.separated for p in pairs)
    numbers = {f"{p.higher}/{p.lower}": [p.ratio, p.low, p.high] for p in pairs}
    return Finding(bool(holds), text, numbers, WELCH + " on the log ratio")
