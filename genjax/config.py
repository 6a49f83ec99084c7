"""Validation of the config schema every family shares (docs/architecture.md, "Config schema").

Each check raises `ConfigError` with one sentence naming the field and what is
allowed, before any data is read or anything is compiled. Family-specific
fields are checked by the family's builder; data fields by `genjax.data`.
"""

from __future__ import annotations

import jax
import ml_collections

from genjax import fields
from genjax.errors import ConfigError

INTERVAL_FIELDS = ("log_every", "eval_every", "checkpoint_every", "sample_every")


def _require(config: ml_collections.ConfigDict, dotted: str):
    node = config
    for part in dotted.split("."):
        if not isinstance(node, ml_collections.ConfigDict) or part not in node:
            raise ConfigError(f"{dotted}: missing from the config")
        node = node[part]
    return node


def positive_int(config, dotted: str) -> int:
    return fields.check_number(_require(config, dotted), dotted, integer=True, positive=True)


def non_negative_int(config, dotted: str) -> int:
    return fields.check_number(_require(config, dotted), dotted, integer=True, note="(0 turns it off)")


def divisible_batch(config, dotted: str, device_count: int) -> int:
    value = positive_int(config, dotted)
    if value % device_count:
        raise ConfigError(
            f"{dotted}: got {value}, which is not divisible by the {device_count} devices; "
            f"use a multiple of {device_count}"
        )
    return value


def validate(config: ml_collections.ConfigDict, *, device_count: int | None = None) -> None:
    """Checks the shared schema; raises `ConfigError` on the first bad field."""
    from genjax.models import known_models

    device_count = device_count or jax.device_count()
    fields.check_number(_require(config, "seed"), "seed", integer=True)
    name = _require(config, "model.name")
    if name not in known_models():
        raise ConfigError(f"model.name: unknown model {name!r}; known: {', '.join(known_models())}")
    _require(config, "data.name")
    divisible_batch(config, "data.batch_size", device_count)
    if config.data.get("eval_batch_size") is not None:
        divisible_batch(config, "data.eval_batch_size", device_count)
    positive_int(config, "train.num_steps")
    positive_int(config, "train.steps_per_call")
    fields.check_choice(config.train.get("step_loop", "auto"), "train.step_loop", ("auto", "scan", "host"))
    for field in INTERVAL_FIELDS:
        non_negative_int(config, f"train.{field}")
    _validate_research_fields(config, device_count)
    ema_decay = config.train.get("ema_decay", 0.0)
    if not isinstance(ema_decay, (int, float)) or not 0.0 <= ema_decay < 1.0:
        raise ConfigError(f"train.ema_decay: got {ema_decay!r}; must be in [0, 1) (0 turns EMA off)")
    optim = _require(config, "optim")
    for player, section in optim.items():
        fields.check_number(section.get("learning_rate"), f"optim.{player}.learning_rate", positive=True)


def _validate_research_fields(config: ml_collections.ConfigDict, device_count: int) -> None:
    """Selection, early stopping, accumulation, precision, profiling and resume fields of ``train``."""
    from genjax.train.loop import SCHEDULE_ON_RESUME
    from genjax.train.selection import SELECT_MODES

    train = config.train
    fields.check_choice(train.get("select_mode", "auto"), "train.select_mode", SELECT_MODES)
    select_by = train.get("select_by", "auto")
    if not isinstance(select_by, str) or not (select_by == "auto" or select_by.startswith("validation/")):
        raise ConfigError(f"train.select_by: got {select_by!r}; allowed: auto or validation/<metric>")
    patience = train.get("early_stopping_patience", 0)
    fields.check_number(patience, "train.early_stopping_patience", integer=True, note="(0 turns it off)")
    if patience and not train.get("eval_every", 0):
        raise ConfigError(
            "train.early_stopping_patience: counts validation evaluations, so it needs train.eval_every > 0"
        )
    fields.check_number(
        train.get("profile_steps", 0), "train.profile_steps", integer=True, note="(0 turns it off)"
    )
    for flag, default in (("debug_nans", False), ("evaluate_test", True)):
        value = train.get(flag, default)
        if not isinstance(value, bool):
            raise ConfigError(f"train.{flag}: got {value!r}; allowed: True, False")
    fields.check_choice(
        train.get("schedule_on_resume", "keep"), "train.schedule_on_resume", SCHEDULE_ON_RESUME
    )
    fields.check_choice(train.get("compute_dtype", "float32"), "train.compute_dtype", ("float32", "bfloat16"))
    accum = fields.check_number(
        train.get("grad_accum_steps", 1), "train.grad_accum_steps", integer=True, positive=True
    )
    per_device = config.data.batch_size // device_count
    if per_device % accum:
        raise ConfigError(
            f"train.grad_accum_steps: got {accum}, which does not divide the per-device batch {per_device} "
            f"(data.batch_size {config.data.batch_size} over {device_count} devices); "
            f"use a divisor of {per_device}"
        )
