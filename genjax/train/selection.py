"""Model selection on the validation split: which metric, which direction, when to stop.

``train.select_by`` names a validation metric (``validation/nll``, ``validation/mmd``,
``validation/elbo``, ...); ``"auto"`` is ``validation/nll`` for families with a
likelihood and ``validation/mmd`` for samplers-only ones. ``train.select_mode`` is
``min``, ``max`` or ``auto``, where the name says the sign (docs/conventions.md):
bounds, ELBOs, log-probs, accuracies and mode counts are maximised, the rest
(NLL, bits/dim, MMD, FID, KL, losses) minimised.

The state is a small JSON-able `Selection` stored in every checkpoint's ``meta``,
so a resumed run makes exactly the decisions the uninterrupted run would.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any, NamedTuple

from genjax.errors import ConfigError

SELECT_MODES = ("auto", "min", "max")
PREFIX = "validation/"
# Metrics whose larger values are better although their names carry no sign.
_MAXIMISED = ("modes_captured", "high_quality_fraction", "accuracy")
_MAXIMISED_SUFFIXES = ("elbo", "_bound", "log_prob", "accuracy")


class Selection(NamedTuple):
    """The selection bookkeeping after the latest validation evaluation.

    Attributes:
      metric: the full name, e.g. ``"validation/nll"``.
      mode: ``"min"`` or ``"max"``.
      best_step: the step of the best evaluation so far (None before the first).
      best_value: its metric value.
      evals_since_best: validation evaluations since the best one (early stopping counts these).
      best_results: every validation metric at the best step.
    """

    metric: str
    mode: str
    best_step: int | None = None
    best_value: float | None = None
    evals_since_best: int = 0
    best_results: dict[str, float] | None = None

    def to_json(self) -> dict[str, Any]:
        return self._asdict()

    @classmethod
    def from_json(cls, data: dict[str, Any], *, metric: str, mode: str) -> Selection:
        """The stored state, or a fresh one when it selected by another metric (or none was stored)."""
        if not data or data.get("metric") != metric or data.get("mode") != mode:
            return cls(metric, mode)
        stored = {name: data.get(name, default) for name, default in cls._field_defaults.items()}
        return cls(metric, mode, **stored)

    def update(self, step: int, results: dict[str, float]) -> tuple[Selection, bool]:
        """The state after a validation evaluation at ``step``; True when it is the new best.

        A non-finite value never becomes the best. Ties keep the earlier step.
        """
        value = results.get(self.metric.removeprefix(PREFIX))
        if value is None:
            raise ConfigError(f"train.select_by: {self.metric} was not computed at step {step}")
        value = float(value)
        better = math.isfinite(value) and (
            self.best_value is None
            or (value < self.best_value if self.mode == "min" else value > self.best_value)
        )
        if better:
            return self._replace(
                best_step=step, best_value=value, evals_since_best=0, best_results=dict(results)
            ), True
        return self._replace(evals_since_best=self.evals_since_best + 1), False

    def should_stop(self, patience: int) -> bool:
        """Early stopping: ``patience`` > 0 evaluations in a row without improvement."""
        return patience > 0 and self.best_step is not None and self.evals_since_best >= patience


def default_mode(metric: str) -> str:
    """``"max"`` for names that say larger is better (bounds, ELBOs, log-probs, accuracies), else "min"."""
    name = metric.removeprefix(PREFIX)
    if name in _MAXIMISED or name.endswith(_MAXIMISED_SUFFIXES):
        return "max"
    return "min"


def resolve(
    select_by: str, select_mode: str, *, available: Collection[str], has_log_prob: bool
) -> tuple[str, str]:
    """``(metric, mode)`` for the config's ``train.select_by`` / ``train.select_mode``.

    Args:
      available: the validation metrics the family computes (without the prefix).
      has_log_prob: the family has a likelihood (``"auto"`` then selects by NLL).
    Raises:
      ConfigError: an unknown metric or mode, naming what is allowed.
    """
    if select_mode not in SELECT_MODES:
        raise ConfigError(f"train.select_mode: got {select_mode!r}; allowed: {', '.join(SELECT_MODES)}")
    allowed = ", ".join(PREFIX + name for name in sorted(available))
    if select_by == "auto":
        metric = PREFIX + ("nll" if has_log_prob else "mmd")
        if metric.removeprefix(PREFIX) not in available:
            raise ConfigError(f"train.select_by: auto found no {metric}; set one of: {allowed}")
    else:
        metric = str(select_by)
        if not metric.startswith(PREFIX) or metric.removeprefix(PREFIX) not in available:
            raise ConfigError(f"train.select_by: got {select_by!r}; allowed: auto, {allowed}")
    return metric, default_mode(metric) if select_mode == "auto" else select_mode
