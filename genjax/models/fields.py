"""Readers of ``config.model`` fields that fail with one line naming the field and what is allowed."""

from __future__ import annotations

import ml_collections

from genjax.errors import ConfigError


def choice(m: ml_collections.ConfigDict, field: str, allowed: tuple[str, ...]) -> str:
    value = m.get(field)
    if value not in allowed:
        raise ConfigError(f"model.{field}: got {value!r}; allowed: {', '.join(allowed)}")
    return value


def number(
    m: ml_collections.ConfigDict, field: str, *, integer: bool = False, positive: bool = False, default=0
):
    """A non-negative (or, with ``positive``, strictly positive) int or float; bools are refused."""
    value = m.get(field, default)
    kinds = (int,) if integer else (int, float)
    bad = isinstance(value, bool) or not isinstance(value, kinds) or value < 0 or (positive and value == 0)
    if bad:
        sign = "positive" if positive else "non-negative"
        kind = "integer" if integer else "number"
        raise ConfigError(f"model.{field}: got {value!r}; must be a {sign} {kind}")
    return value


def fraction(m: ml_collections.ConfigDict, field: str) -> float:
    value = m.get(field)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ConfigError(f"model.{field}: got {value!r}; must be a number in [0, 1]")
    return float(value)


def widths(m: ml_collections.ConfigDict, field: str) -> tuple[int, ...]:
    """A non-empty sequence of positive ints (layer widths, channel multipliers)."""
    value = m.get(field)
    try:
        items = tuple(value)
    except TypeError:
        items = ()
    if not items or any(isinstance(v, bool) or not isinstance(v, int) or v <= 0 for v in items):
        raise ConfigError(f"model.{field}: got {value!r}; must be a non-empty list of positive integers")
    return items
