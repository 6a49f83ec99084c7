"""Periodic actions a user attaches to the loop without editing it.

    def digit_accuracy(ctx: HookContext) -> dict[str, float]:
        samples = ctx.model.sample(ctx.params, ctx.rng, 256)
        return {"accuracy": float(my_classifier_accuracy(samples))}

    train_and_evaluate(config, workdir, hooks=[PeriodicHook(every=1000, fn=digit_accuracy, name="digits")])

A hook fires at the first chunk end at or after each multiple of ``every`` (like
the loop's own intervals, so it fires at the same steps on a resumed run), on
every process (a hook that samples runs one computation over the global mesh).
What it returns is logged as ``<name>/<metric>`` by process 0.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jax

from genjax.models.bundle import GenerativeModel
from genjax.train.state import TrainState


@dataclasses.dataclass(frozen=True)
class HookContext:
    """What a hook sees at a chunk end.

    Attributes:
      step: the number of optimisation steps taken.
      state: the full `TrainState` (read it, do not keep it: the next step donates it).
      params: the evaluation parameters (EMA when kept).
      model: the family's `GenerativeModel`.
      dataset: the run's `genjax.data.Dataset`.
      config: the run's config.
      workdir: the run's directory (write files only when ``jax.process_index() == 0``).
      rng: a key of its own for this hook and step, the same on a resumed run.
    """

    step: int
    state: TrainState
    params: Any
    model: GenerativeModel
    dataset: Any
    config: Any
    workdir: Path
    rng: jax.Array


@dataclasses.dataclass(frozen=True)
class PeriodicHook:
    """``fn(ctx) -> {metric: scalar} | None``, every ``every`` steps, logged under ``name``."""

    every: int
    fn: Callable[[HookContext], Mapping[str, Any] | None]
    name: str = "hook"

    def __post_init__(self):
        if not isinstance(self.every, int) or self.every <= 0:
            raise ValueError(f"PeriodicHook.every must be a positive int, got {self.every!r}")
        if not self.name or "/" in self.name:
            raise ValueError(f"PeriodicHook.name must be a non-empty name without '/', got {self.name!r}")
