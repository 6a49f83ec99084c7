"""Conditional models p(x | y): what y is, where it comes from, and how samplers get it.

A conditional family reads y from the batch: class ids ``batch["label"]`` `[B]`
int32, or a generic conditioning array ``batch["cond"]`` `[B, *cond_shape]`
float32. Which one comes from the data (`genjax.spec.DataSpec`'s
``num_classes`` and ``cond_shape``); the config only says ``model.conditional
= True``. A config that also names ``model.num_classes`` must agree with the
data. Unconditional models never look at y, so labelled data trains them
unchanged.

Samplers take ``cond=``: labels `[n]` or a conditioning array `[n, *cond_shape]`.
Without one, a labelled model draws ``arange(n) % num_classes`` (a row of every
class in a grid), so the loop's periodic samples show every class.

Classifier-free guidance (Ho & Salimans 2022) needs an "absent" label: it is
``num_classes`` (`Conditioning.null_label`), one row past the real ones, so
label embeddings hold ``num_classes + 1`` rows.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from genjax.errors import ConfigError
from genjax.models.bundle import Batch
from genjax.spec import DataSpec

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class Conditioning:
    """What y is for a conditional model.

    Attributes:
      num_classes: class labels ``0..num_classes-1`` (batches carry ``"label"``); None for a
        conditioning array.
      cond_shape: the shape of one row of ``"cond"``; None for labels.
    """

    num_classes: int | None = None
    cond_shape: tuple[int, ...] | None = None

    def __post_init__(self):
        if (self.num_classes is None) == (self.cond_shape is None):
            raise ValueError("Conditioning: exactly one of num_classes and cond_shape")

    @property
    def labels(self) -> bool:
        """y is a class label (else a conditioning array)."""
        return self.num_classes is not None

    @property
    def key(self) -> str:
        """The batch key that holds y: ``"label"`` or ``"cond"``."""
        return "label" if self.labels else "cond"

    @property
    def null_label(self) -> int:
        """The "no label" id for classifier-free guidance: ``num_classes``."""
        if not self.labels:
            raise ValueError("null_label: only class labels have one")
        return self.num_classes

    @property
    def cond_size(self) -> int:
        """Features of one flattened conditioning row (1 for labels, used only for arrays)."""
        return 1 if self.labels else int(np.prod(self.cond_shape))


def is_conditional(m: ml_collections.ConfigDict) -> bool:
    """``model.conditional`` (``model.class_conditional`` is its older name, still read)."""
    return bool(m.get("conditional", False) or m.get("class_conditional", False))


def from_config(config: ml_collections.ConfigDict, spec: DataSpec) -> Conditioning | None:
    """The model's `Conditioning`, or None when ``model.conditional`` is off.

    Raises:
      ConfigError: ``model.conditional`` on data without labels or a conditioning array, or a
        ``model.num_classes`` that differs from the data's.
    """
    m = config.model
    for name in ("conditional", "class_conditional"):
        value = m.get(name, False)
        if not isinstance(value, bool):
            raise ConfigError(f"model.{name}: got {value!r}; must be true or false")
    if not is_conditional(m):
        return None
    if spec.num_classes is None and spec.cond_shape is None:
        raise ConfigError(
            f"model.conditional: the dataset {spec.name!r} has no labels or conditioning array; "
            "use labelled data (e.g. digits) or set model.conditional=False"
        )
    declared = m.get("num_classes", None)
    if spec.num_classes is not None:
        if declared is not None and declared != spec.num_classes:
            raise ConfigError(
                f"model.num_classes: got {declared!r}; the dataset {spec.name!r} has "
                f"{spec.num_classes} classes (leave it unset to take the data's)"
            )
        return Conditioning(num_classes=spec.num_classes)
    return Conditioning(cond_shape=spec.cond_shape)


def batch_condition(conditioning: Conditioning, batch: Batch) -> Array:
    """y of a batch: ``batch["label"]`` `[B]` int32 or ``batch["cond"]`` `[B, *cond_shape]`.

    Raises:
      ValueError: the batch lacks y (a conditional model needs it for training and ``log_prob``).
    """
    if conditioning.key not in batch:
        raise ValueError(
            f"a conditional model needs batch[{conditioning.key!r}] (p(x | y) has no meaning without y); "
            f"the batch has {sorted(batch)}"
        )
    y = batch[conditioning.key]
    return y.astype(jnp.int32) if conditioning.labels else y.astype(jnp.float32)


def sample_condition(conditioning: Conditioning, cond: Array | None, num_samples: int) -> Array:
    """y for ``num_samples`` draws: ``cond`` checked, or, for labels, ``arange(n) % num_classes``.

    Args:
      cond: labels `[n]` (int) or a conditioning array `[n, *cond_shape]`; None: a row of every
        class in turn (labels only).
    Raises:
      ValueError: a conditioning array model called without ``cond``, or ``cond`` of the wrong shape.
    """
    if cond is None:
        if not conditioning.labels:
            shape = conditioning.cond_shape
            raise ValueError(f"sample: this model is conditioned on arrays of shape {shape}; pass cond")
        return jnp.arange(num_samples, dtype=jnp.int32) % conditioning.num_classes
    cond = jnp.asarray(cond)
    expected = (num_samples,) if conditioning.labels else (num_samples, *conditioning.cond_shape)
    if cond.shape != expected:
        raise ValueError(f"sample: cond has shape {cond.shape}; expected {expected}")
    return cond.astype(jnp.int32) if conditioning.labels else cond.astype(jnp.float32)


def no_condition(cond: Array | None, family: str) -> None:
    """Unconditional samplers accept ``cond=None`` only; anything else is a clear error."""
    if cond is not None:
        raise ValueError(
            f"sample: the {family} model is unconditional (model.conditional=False); cond must be None"
        )


__all__ = [
    "Conditioning",
    "batch_condition",
    "from_config",
    "is_conditional",
    "no_condition",
    "sample_condition",
]
