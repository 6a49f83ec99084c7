"""Config-field checks that fail with one line naming the field and what is allowed.

The one validation helper of the codebase: the shared schema (`genjax.config`),
the data options, the optimizers and every family's ``model.*`` fields all read
their values through these, so a bad value always reads
``<section>.<field>: got <value>; must be ....`` and nobody writes the check twice.

Two layers: ``check_*`` validate a value under its full dotted name
(``"optim.generator.learning_rate"``); the section readers (`choice`, `number`,
`fraction`, `widths`) read ``section[field]`` and name it ``<prefix>.<field>``,
``prefix`` defaulting to ``"model"`` for the families' builders.
"""

from __future__ import annotations

import math
from typing import Any

import ml_collections

from genjax.errors import ConfigError


def is_int(value: Any) -> bool:
    """An int that is not a bool (``True`` is never a meaningful count)."""
    return isinstance(value, int) and not isinstance(value, bool)


def check_number(
    value: Any,
    name: str,
    *,
    integer: bool = False,
    positive: bool = False,
    optional: bool = False,
    note: str = "",
) -> Any:
    """``value`` if it is a non-negative (``positive``: > 0) int or float, else `ConfigError`.

    ``optional`` also accepts None; ``note`` is appended to the message, e.g. "(0 turns it off)".
    """
    if value is None and optional:
        return None
    kind_ok = is_int(value) if integer else (is_int(value) or isinstance(value, float))
    # NaN compares false with everything, so without the first test it passes "value < 0" unseen.
    if not kind_ok or math.isnan(value) or value < 0 or (positive and not value > 0):
        sign = "positive" if positive else "non-negative"
        kind = "integer" if integer else "number"
        allowed = f"a {sign} {kind}" + (" or None" if optional else "")
        raise ConfigError(f"{name}: got {value!r}; must be {allowed}" + (f" {note}" if note else "") + ".")
    return value


def check_choice(value: Any, name: str, allowed: tuple[str, ...]) -> str:
    """``value`` if it is one of ``allowed``, else `ConfigError` listing them."""
    if value not in allowed:
        raise ConfigError(f"{name}: got {value!r}; allowed: {', '.join(allowed)}.")
    return value


def check_string(value: Any, name: str, *, optional: bool = False) -> str | None:
    """A non-empty string (``optional``: None or "" become None)."""
    if optional and (value is None or value == ""):
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{name}: got {value!r}; must be a non-empty string.")
    return value


def check_flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{name}: got {value!r}; must be True or False.")
    return value


def choice(
    m: ml_collections.ConfigDict, field: str, allowed: tuple[str, ...], *, prefix: str = "model"
) -> str:
    return check_choice(m.get(field), f"{prefix}.{field}", allowed)


def number(
    m: ml_collections.ConfigDict,
    field: str,
    *,
    integer: bool = False,
    positive: bool = False,
    default=0,
    prefix: str = "model",
):
    """A non-negative (or, with ``positive``, strictly positive) int or float; bools are refused."""
    return check_number(m.get(field, default), f"{prefix}.{field}", integer=integer, positive=positive)


def fraction(m: ml_collections.ConfigDict, field: str, *, prefix: str = "model") -> float:
    value = m.get(field)
    if not (is_int(value) or isinstance(value, float)) or not 0 <= value <= 1:
        raise ConfigError(f"{prefix}.{field}: got {value!r}; must be a number in [0, 1].")
    return float(value)


def widths(m: ml_collections.ConfigDict, field: str, *, prefix: str = "model") -> tuple[int, ...]:
    """A non-empty sequence of positive ints (layer widths, channel multipliers)."""
    value = m.get(field)
    try:
        items = tuple(value)
    except TypeError:
        items = ()
    if not items or not all(is_int(v) and v > 0 for v in items):
        raise ConfigError(f"{prefix}.{field}: got {value!r}; must be a non-empty list of positive integers.")
    return items


def continuous_density_data(
    data: ml_collections.ConfigDict, *, num_levels: int | None, dataset: str, model: str
) -> None:
    """Checks that discrete data reach a continuous density (flow, PPCA, KDE) dequantized.

    Such a density of raw levels is unbounded, so the data must be dequantized (and
    not binarized); `genjax.losses.dequantized_log_prob` then makes its NLL that of
    the discrete data. ``model`` names the density in the message, e.g. "a flow".
    """
    if num_levels and not data.get("dequantize", False):
        raise ConfigError(
            f"data.dequantize: got False; {model} is a continuous density and {dataset} is "
            f"discrete ({num_levels} levels), so set data.dequantize=True"
        )
    if num_levels and data.get("binarize", "none") != "none":
        raise ConfigError(
            f"data.binarize: {model} needs dequantized levels; use binarize='none' with dequantize=True "
            "(binary data such as binarized MNIST already has 2 levels)"
        )
