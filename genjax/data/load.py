"""``load_dataset``: from ``data.name`` to a :class:`~genjax.data.dataset.Dataset`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from genjax.data import sources, splits, toy2d, toy_binary, toy_markov
from genjax.data.dataset import ArraySource, Dataset, ProceduralSource
from genjax.data.options import DataOptions, parse_options
from genjax.errors import ConfigError

# Seed the fixed test and validation samples of the procedural toys (toy2d,
# toy_binary, toy_markov); three words so they cannot coincide with the
# [seed, step] keys of training batches, and different from each other.
TOY2D_TEST_SEED = (0x7E57, 0x2D, 0x70F)
TOY_VALIDATION_SEED = (0x7A1D, 0x2D, 0x70F)

KNOWN_NAMES = (
    f"toy2d:NAME ({', '.join(toy2d.NAMES)}), toy_binary:D or toy_binary:HxW, "
    "toy_markov:V or toy_markov:VxT, digits, npz:PATH, tfds:NAME"
)


def _fixed_samples(sample, num: int) -> dict[str, ArraySource]:
    """The test and validation splits of a procedural toy: fixed samples of ``num`` points each."""
    return {
        "test": ArraySource(sample(np.random.default_rng(TOY2D_TEST_SEED), num)),
        "validation": ArraySource(sample(np.random.default_rng(TOY_VALIDATION_SEED), num)),
    }


def _load_toy2d(options: DataOptions, toy_name: str) -> Dataset:
    if toy_name not in toy2d.NAMES:
        known = ", ".join(f"toy2d:{name}" for name in toy2d.NAMES)
        raise ConfigError(f"data.name: unknown toy2d dataset 'toy2d:{toy_name}'; known: {known}.")
    toy = toy2d.get(toy_name)
    return Dataset(
        name=options.name,
        train=ProceduralSource(toy.sample),
        **_fixed_samples(toy.sample, options.num_test),
        element_shape=(2,),
        num_levels=None,
        log_density=toy.log_density,
        entropy=toy.entropy,
        modes=toy.modes,
    )


def _load_exact_toy(options: DataOptions, kind: str, argument: str) -> Dataset:
    """toy_binary or toy_markov: a procedural train split, a fixed test sample, exact log p(x)."""
    tokens = kind == "toy_markov"
    try:
        toy = (toy_markov if tokens else toy_binary).get(argument)
    except ValueError as error:
        raise ConfigError(f"data.name: {error}.") from None
    return Dataset(
        name=options.name,
        train=ProceduralSource(toy.sample),
        **_fixed_samples(toy.sample, options.num_test),
        element_shape=toy.shape,
        num_levels=toy.num_states if tokens else 2,
        log_density=toy.log_density,
        entropy=toy.entropy,
        tokens=tokens,
        outcomes=None if tokens else toy.all_outcomes,
    )


def _check_transforms(options: DataOptions, num_levels: int | None) -> None:
    if num_levels is None and options.dequantize:
        raise ConfigError(
            f"data.dequantize: dataset '{options.name}' is continuous (no discrete levels); "
            "set it to False or set data.num_levels."
        )


def load_dataset(data_config: Mapping[str, Any]) -> Dataset:
    """Loads the dataset named by ``data_config.name``.

    Args:
      data_config: the ``data`` section of the config (ConfigDict or dict);
        see :mod:`genjax.data.options` for the fields and their defaults.

    Returns:
      The :class:`Dataset`, with a validation split: the source's own, a
      fixed sample (toy datasets), or carved from train
      (:mod:`genjax.data.splits`). Sources hold raw values (digits 0..16, binarized
      MNIST 0/1, uint8 0..255, toy2d float32); ``train_batches`` and
      ``eval_batches`` apply the transforms.

    Raises:
      ConfigError: a bad field, unknown name, missing file or unprepared
        TFDS dataset, in one sentence.
    """
    options = parse_options(data_config)
    kind, _, argument = options.name.partition(":")
    if options.validation_split is not None and kind not in ("npz", "tfds"):
        raise ConfigError(
            f"data.validation_split: got {options.validation_split!r}, but only npz and tfds datasets "
            "have named splits; leave it None (toy datasets validate on a fixed sample, digits on a split "
            "carved from train by data.validation_fraction)."
        )
    if kind == "toy2d":
        # Image transforms do not apply to continuous 2-D points; ignored.
        return _load_toy2d(options, argument)
    if kind in ("toy_binary", "toy_markov"):
        # 0/1 bits or token ids, not pixel levels: the image transforms do not apply.
        return _load_exact_toy(options, kind, argument)
    if options.name == "digits":
        train, test, element_shape, num_levels = sources.load_digits()
        validation = None
    elif kind == "npz" and argument:
        train, validation, test, element_shape, num_levels = sources.load_npz(argument, options)
    elif kind == "tfds" and argument:
        from genjax.data.tfds_source import load_tfds  # TFDS is only imported when used

        train, validation, test, element_shape, num_levels = load_tfds(argument, options)
    else:
        raise ConfigError(f"data.name: unknown dataset {options.name!r}; known: {KNOWN_NAMES}.")
    _check_transforms(options, num_levels)
    if validation is None:
        train, validation = splits.carve(train, options.validation_fraction, options.name)
    return Dataset(
        name=options.name,
        train=train,
        validation=validation,
        test=test,
        element_shape=tuple(int(d) for d in element_shape),
        num_levels=num_levels,
    )
