"""The page's table format: significant digits, and a dash where nothing was measured."""

import numpy as np
import pandas as pd
import pytest

from ntkbook.report.tables import MISSING, format_number, format_table


@pytest.mark.parametrize(("value", "text"), [
    (3.2e-5, "3.20e-05"), (0.12345, "0.123"), (12.5, "12.5"), (1234.5, "1234"),
    (2.5e7, "2.50e+07"), (-0.004567, "-0.00457"), (0.0, "0"), (7, "7"), (np.int64(5), "5"),
    (np.float32(0.5), "0.500"), ("diverged (1/5)", "diverged (1/5)"),
])
def test_numbers_keep_their_significant_digits(value, text):
    assert format_number(value) == text


@pytest.mark.parametrize("missing", [None, float("nan"), np.nan])
def test_a_value_not_measured_is_a_dash_not_nan(missing):
    assert format_number(missing) == MISSING


def test_small_values_are_never_shown_as_zero():
    assert format_number(1e-9, digits=2) == "1.0e-09"


def test_table_html_has_dashes_and_no_nan_and_hides_a_range_index():
    frame = pd.DataFrame({"loss": [0.5, np.nan], "seconds": [1e-5, 3.0]})
    html = format_table(frame).to_html()
    assert MISSING in html and "nan" not in html and "1.00e-05" in html
    assert "row_heading" not in html
    named = format_table(frame.set_index(pd.Index(["a", "b"], name="method"))).to_html()
    assert "row_heading" in named
