"""The ``data.*`` config section: defaults and validation in one place.

=============================  ========  ==============================================
field                          default   meaning
=============================  ========  ==============================================
``data.name``                  required  ``toy2d:NAME``, ``toy_binary:D`` / ``:HxW``,
                                         ``toy_markov:V`` / ``:VxT``, ``digits``,
                                         ``npz:PATH``, ``tfds:NAME``
``data.batch_size``            required  global training batch (split over processes)
``data.eval_batch_size``       None      global eval batch; None -> ``data.batch_size``
``data.binarize``              "none"    none | static | dynamic | threshold
``data.dequantize``            False     uniform dequantization instead of scaling
``data.num_test``              10000     toy datasets: size of the fixed test and
                                         validation samples
``data.tfds_data_dir``         None      TFDS data dir; None -> TFDS default
                                         (``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``)
``data.tfds_image_key``        "image"   TFDS feature holding the examples
``data.train_splits``          "train"   npz/tfds splits to train on, e.g. "train+extra"
                                         (tfds also takes slices such as "train[:90%]")
``data.test_split``            "test"    npz/tfds split used as the test set
``data.validation_split``      None      npz/tfds split used as the validation set; None:
                                         "valid" or "validation" if the source has one
                                         (and it is not the test split), else carve
``data.validation_fraction``   0.1       share of train carved off as validation, in
                                         (0, 1), when no validation split is named or
                                         found (digits, npz/tfds without one)
``data.num_levels``            None      npz/tfds: override the number of discrete levels
                                         (inferred: uint8 -> 256, or 2 if all 0/1; bool -> 2)
``data.component_labels``      False     mixture toys (toy2d 8gaussians, 25gaussians, ring;
                                         toy_binary): the mixture component is ``"label"``
=============================  ========  ==============================================

The carve is a fixed permutation from a constant seed, not the run's, so
every run, process and resume (and every seed) validates on the same
examples; see :mod:`genjax.data.splits`. A validation split that is also in
``data.train_splits`` is rejected: selecting on data the model trained on is
not model selection. Toy datasets validate on a fixed sample of
``data.num_test`` points.

Pipeline order: raw -> (dequantize | scale) -> binarize; toy2d ignores the
image transforms. Unknown fields are rejected too, so a typo such as
``data.binarise`` fails at start-up instead of being silently ignored.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from genjax import fields
from genjax.errors import ConfigError

BINARIZE_CHOICES = ("none", "static", "dynamic", "threshold")

_DEFAULTS: dict[str, Any] = {
    "eval_batch_size": None,
    "binarize": "none",
    "dequantize": False,
    "num_test": 10_000,
    "tfds_data_dir": None,
    "tfds_image_key": "image",
    "train_splits": "train",
    "test_split": "test",
    "validation_split": None,
    "validation_fraction": 0.1,
    "num_levels": None,
    "component_labels": False,
}
_REQUIRED = ("name", "batch_size")
KNOWN_FIELDS = _REQUIRED + tuple(_DEFAULTS)


@dataclasses.dataclass(frozen=True)
class DataOptions:
    """Validated ``data.*`` fields (see the module docstring for meanings)."""

    name: str
    batch_size: int
    eval_batch_size: int | None
    binarize: str
    dequantize: bool
    num_test: int
    tfds_data_dir: str | None
    tfds_image_key: str
    train_splits: tuple[str, ...]
    test_split: str
    validation_split: str | None
    validation_fraction: float
    num_levels: int | None
    component_labels: bool = False


def _positive_int(field: str, value: Any, *, optional: bool = False) -> int | None:
    return fields.check_number(value, f"data.{field}", integer=True, positive=True, optional=optional)


def _string(field: str, value: Any, *, optional: bool = False) -> str | None:
    return fields.check_string(value, f"data.{field}", optional=optional)


def _fraction(field: str, value: Any) -> float:
    """A real number strictly between 0 and 1 (bools and NaN are not)."""
    is_real = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not (is_real and 0 < value < 1):
        raise ConfigError(f"data.{field}: got {value!r}; must be in (0, 1).")
    return float(value)


def parse_options(data_config: Mapping[str, Any]) -> DataOptions:
    """Validates a ``data`` ConfigDict (or dict) and fills in defaults.

    Raises:
      ConfigError: one sentence naming the first bad field and what is allowed.
    """
    if data_config is None:
        raise ConfigError("data: the config has no data section; it needs data.name and data.batch_size.")
    unknown = sorted(set(data_config.keys()) - set(KNOWN_FIELDS))
    if unknown:
        raise ConfigError(f"data.{unknown[0]}: unknown field; known fields: {', '.join(KNOWN_FIELDS)}.")
    for field in _REQUIRED:
        if data_config.get(field) is None:
            raise ConfigError(f"data.{field}: missing; it is required.")
    values = {**_DEFAULTS, **{k: v for k, v in data_config.items() if v is not None}}

    binarize = fields.check_choice(values["binarize"], "data.binarize", BINARIZE_CHOICES)
    fields.check_flag(values["dequantize"], "data.dequantize")
    fields.check_flag(values["component_labels"], "data.component_labels")
    num_levels = _positive_int("num_levels", values["num_levels"], optional=True)
    if num_levels is not None and num_levels < 2:
        raise ConfigError(f"data.num_levels: got {num_levels}; must be at least 2 or None.")
    train_splits = _string("train_splits", values["train_splits"])
    splits = tuple(part.strip() for part in train_splits.split("+"))
    if not all(splits):
        raise ConfigError(
            f"data.train_splits: got {train_splits!r}; "
            "must be split names joined by '+', such as 'train+extra'."
        )
    return DataOptions(
        name=_string("name", values["name"]),
        batch_size=_positive_int("batch_size", values["batch_size"]),
        eval_batch_size=_positive_int("eval_batch_size", values["eval_batch_size"], optional=True),
        binarize=binarize,
        dequantize=values["dequantize"],
        num_test=_positive_int("num_test", values["num_test"]),
        tfds_data_dir=_string("tfds_data_dir", values["tfds_data_dir"], optional=True),
        tfds_image_key=_string("tfds_image_key", values["tfds_image_key"]),
        train_splits=splits,
        test_split=_string("test_split", values["test_split"]),
        validation_split=_string("validation_split", values["validation_split"], optional=True),
        validation_fraction=_fraction("validation_fraction", values["validation_fraction"]),
        num_levels=num_levels,
        component_labels=values["component_labels"],
    )
