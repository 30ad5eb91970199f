"""Computed comparisons: Welch intervals, ratio intervals and the sentences they allow."""

import numpy as np
import pytest
from scipy import stats

from ntkbook.report.comparisons import (
    alike_finding,
    excludes,
    geometric_interval,
    interval_relation,
    lags_finding,
    ordering_finding,
    outcome,
    pair_ratios,
    ratio_ci,
    relation,
    welch_ci,
)


def test_welch_ci_matches_scipy():
    a, b = np.array([1.0, 2.0, 4.0, 3.5]), np.array([0.1, 0.5, 0.2])
    diff, low, high = welch_ci(a, b)
    res = stats.ttest_ind(a, b, equal_var=False)
    ci = res.confidence_interval(0.95)
    assert diff == pytest.approx(a.mean() - b.mean())
    assert (low, high) == pytest.approx((ci.low, ci.high))
    assert np.isnan(welch_ci([1.0], b)[1]) and np.isnan(welch_ci([1.0, 1.0], [2.0, 2.0])[2])


def test_ratio_ci_is_the_ratio_of_geometric_means():
    a, b = np.array([1e-3, 2e-3, 4e-3]), np.array([1e-5, 3e-5, 2e-5])
    ratio, low, high = ratio_ci(a, b)
    assert ratio == pytest.approx(geometric_interval(a)[0] / geometric_interval(b)[0])
    assert low < ratio < high and excludes(low, high, 1.0)
    assert not excludes(float("nan"), float("nan"), 1.0)


def test_relation():
    assert relation(1.0, 2.0, 3.0) == "above" and relation(1.0, 2.0, 0.5) == "below"
    assert relation(1.0, 2.0, 1.5) == "inside" and relation(np.nan, 2.0, 1.5) == "unknown"
    assert relation(1.0, np.inf, 1.5) == "unknown"


@pytest.mark.parametrize(("low", "high", "value", "words"), [
    (-0.1, 0.2, 0.0, "contains"), (0.1, 0.2, 0.0, "lies above"), (-0.3, -0.1, 0.0, "lies below"),
    (-1.0, -0.5, -0.5, "contains"), (float("nan"), 1.0, 0.0, "is undefined"),
])
def test_interval_relation_words_the_interval_side(low, high, value, words):
    assert interval_relation(low, high, value) == words


@pytest.mark.parametrize(("low", "high", "higher_better", "expected"), [
    (0.2, 0.5, True, "better"), (0.2, 0.5, False, "worse"), (-0.5, -0.2, True, "worse"),
    (-0.5, -0.2, False, "better"), (-0.1, 0.3, True, "tie"), (np.nan, np.nan, True, "tie"),
])
def test_outcome_is_better_only_when_the_interval_excludes_zero(low, high, higher_better,
                                                                expected):
    assert outcome(low, high, higher_better) == expected


SAMPLES = {"A": [1e-5, 2e-5, 1.5e-5, 1.2e-5], "B": [1.1e-5, 2.5e-5, 1e-5, 1.6e-5],
           "C": [1e-2, 2e-2, 1.5e-2, 3e-2]}


def test_ordering_names_only_separated_pairs():
    pairs = {(p.lower, p.higher): p for p in pair_ratios(SAMPLES)}
    assert set(pairs) == {("A", "B"), ("A", "C"), ("B", "C")}
    assert pairs["A", "C"].separated and not pairs["A", "B"].separated
    found = ordering_finding(SAMPLES, "L")
    assert found.holds
    assert found.text.index("A ") < found.text.index("B ") < found.text.index("C ")
    assert "excludes 1 for C / A" in found.text and "C / B" in found.text
    assert "it includes 1 for A and B, which these runs do not separate" in found.text
    alike = ordering_finding({"A": SAMPLES["A"], "B": SAMPLES["B"]}, "L")
    assert "separate none of them" in alike.text
    assert found.numbers["C/A"][0] == pytest.approx(pairs["A", "C"].ratio)


def test_lags_and_alike_say_what_was_measured():
    lag = lags_finding(SAMPLES, "C", ["A", "B"], "L", "Berg")
    assert lag.holds and "lags behind is reproduced" in lag.text
    no_lag = lags_finding(SAMPLES, "B", ["A", "C"], "L", "Berg")
    assert no_lag.holds and "is not reproduced" in no_lag.text and "against A, C" in no_lag.text
    alike = alike_finding(SAMPLES, ["A", "B"], "L", "Berg")
    assert alike.holds and "consistent with these runs" in alike.text
    not_alike = alike_finding(SAMPLES, ["A", "B", "C"], "L", "Berg")
    assert not_alike.holds and "is not reproduced" in not_alike.text
    assert "C / A" in not_alike.text and "A / B" not in not_alike.text
