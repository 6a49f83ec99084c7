"""Classifier-free guidance for the conditional DDPM and NCSN families: config, training, sampling.

Both families read the same fields (``model.*``, used only with ``model.conditional = True``):

=====================  ==========================================================
``label_dropout``      probability of training on the null label instead of y, in [0, 1)
                       (default 0.1, Ho & Salimans 2022 use 0.1 or 0.2)
``guidance_scale``     the default sampling scale s >= 0 (default 1): s = 0 samples p(x),
                       s = 1 p(x | y), s > 1 sharpens towards the class
=====================  ==========================================================

Guidance needs the "no label" id, so it is defined for class labels only. A model
conditioned on a generic array (``"cond"``) trains and samples p(x | cond) without it:
``label_dropout`` must be 0 and ``guidance_scale`` 1 (a ConfigError says so otherwise).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import ml_collections

from genjax import fields
from genjax.errors import ConfigError
from genjax.losses.conditioning import drop_labels
from genjax.models.conditioning import Conditioning, no_condition, sample_condition
from genjax.samplers.guidance import classifier_free_guidance

Array = jax.Array
LABEL_DROPOUT = 0.1
GUIDANCE_SCALE = 1.0


def guidance_options(m: ml_collections.ConfigDict, conditioning: Conditioning) -> tuple[float, float]:
    """``(label_dropout, guidance_scale)`` of a conditional model, checked.

    Raises:
      ConfigError: a dropout outside [0, 1), a negative scale, or guidance asked of a model
        conditioned on an array.
    """
    rate = m.get("label_dropout", LABEL_DROPOUT)
    if not (fields.is_int(rate) or isinstance(rate, float)) or not 0 <= rate < 1:
        raise ConfigError(f"model.label_dropout: got {rate!r}; must be a number in [0, 1).")
    scale = fields.check_number(m.get("guidance_scale", GUIDANCE_SCALE), "model.guidance_scale")
    if not conditioning.labels and (rate != 0 or scale != 1):
        raise ConfigError(
            "model.label_dropout: classifier-free guidance needs class labels; with a conditioning "
            f"array set label_dropout=0 and guidance_scale=1 (got {rate!r}, {scale!r})."
        )
    return float(rate), float(scale)


def training_condition(rng: Array, conditioning: Conditioning, y: Array, rate: float) -> Array:
    """y for one training step `[B, ...]`: labels dropped to the null label at ``rate``."""
    if not conditioning.labels or rate == 0:
        return y
    return drop_labels(rng, y, rate=rate, null_label=conditioning.null_label)


def guided(
    fn: Callable[[Array, Array, Array], Array],
    conditioning: Conditioning,
    y: Array,
    guidance_scale: float | Array,
) -> Callable[[Array, Array], Array]:
    """``(x [N, ...], t [N]) -> [N, ...]`` sampling ``fn(x, t, y)`` at ``guidance_scale``.

    A Python scale of exactly 1 (or 0) calls ``fn`` on the N chains with y (or the null
    label) alone: the guided combine would give the same numbers from twice the work.

    Raises:
      ValueError: a scale other than 1 for a model conditioned on an array.
    """
    static = isinstance(guidance_scale, (int, float))
    if static and guidance_scale == 1:
        return lambda x, t: fn(x, t, y)
    if not conditioning.labels:
        raise ValueError(
            f"sample: guidance_scale={guidance_scale!r} needs class labels; this model is "
            "conditioned on an array (use guidance_scale=1)"
        )
    null = jnp.full_like(y, conditioning.null_label)
    if static and guidance_scale == 0:
        return lambda x, t: fn(x, t, null)
    return classifier_free_guidance(fn, y, null, guidance_scale=guidance_scale)


def sampling_predictor(
    family: str,
    conditioning: Conditioning | None,
    *,
    plain: Callable[[], Callable[[Array, Array], Array]],
    conditional: Callable[[], Callable[[Array, Array, Array], Array]],
    cond: Array | None,
    num_samples: int,
    guidance_scale: float | Array | None,
    default_scale: float,
) -> Callable[[Array, Array], Array]:
    """The sampler's ``(x [N, ...], t [N]) -> [N, ...]``: ``plain()`` for p(x), else
    ``conditional()`` guided toward y = ``cond`` (default ``arange(n) % K``) at
    ``guidance_scale`` (default ``default_scale``).

    Raises:
      ValueError: ``cond`` or ``guidance_scale`` given to an unconditional model.
    """
    if conditioning is None:
        no_condition(cond, family)
        if guidance_scale is not None:
            raise ValueError("sample: guidance_scale needs a conditional model (model.conditional=True)")
        return plain()
    y = sample_condition(conditioning, cond, num_samples)
    scale = default_scale if guidance_scale is None else guidance_scale
    return guided(conditional(), conditioning, y, scale)
