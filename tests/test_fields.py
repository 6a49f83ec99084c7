"""genjax.fields: the one-line config checks every family and the loop share."""

import math

import pytest

from genjax.errors import ConfigError
from genjax.fields import check_number

MESSAGE = r"^model\.l2: got .*; must be a (non-negative|positive) (number|integer)\.$"
REJECTED = [
    (math.nan, {}),
    (math.nan, {"positive": True}),
    (-1.0, {}),
    (0, {"positive": True}),
    (1.5, {"integer": True}),
]


@pytest.mark.parametrize("value, kwargs", REJECTED)
def test_check_number_rejects_nan_negatives_zero_when_positive_and_non_integers(value, kwargs):
    with pytest.raises(ConfigError, match=MESSAGE):
        check_number(value, "model.l2", **kwargs)


@pytest.mark.parametrize("value, kwargs", [(0, {}), (0.0, {}), (3e-6, {"positive": True}), (math.inf, {})])
def test_check_number_accepts_non_negative_numbers(value, kwargs):
    assert check_number(value, "model.l2", **kwargs) == value
