"""``load_dataset``: from ``data.name`` to a :class:`~genjax.data.dataset.Dataset`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
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


class LabelledProceduralSource(ProceduralSource):
    """Infinite labelled data from ``sampler(rng, n) -> (x [n, ...], y [n] int)``, y in 0..num_classes-1."""

    has_labels = True

    def __init__(
        self, sampler: Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]], num_classes
    ):
        super().__init__(sampler)
        self.num_classes = int(num_classes)

    def sample(self, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
        x, label = self.sampler(rng, n)
        return {"x": x, "label": np.asarray(label, np.int32)}


def _fixed_samples(sample, num: int) -> dict[str, ArraySource]:
    """The test and validation splits of a procedural toy: fixed samples of ``num`` points each.

    ``sample`` returns x, or (x, y) for a labelled toy.
    """

    def fixed(seed) -> ArraySource:
        drawn = sample(np.random.default_rng(seed), num)
        return ArraySource(*drawn) if isinstance(drawn, tuple) else ArraySource(drawn)

    return {"test": fixed(TOY2D_TEST_SEED), "validation": fixed(TOY_VALIDATION_SEED)}


def _toy_splits(options: DataOptions, sample, components) -> dict[str, Any]:
    """A procedural toy's splits; under ``data.component_labels``, labelled (`_component_labels`)."""
    if options.component_labels:
        return _component_labels(options, components)
    return {"train": ProceduralSource(sample), **_fixed_samples(sample, options.num_test)}


def _component_labels(options: DataOptions, components) -> dict[str, Any]:
    """The labelled toy's splits and exact conditional law under ``data.component_labels``.

    ``components``: an object with ``sample_labelled(rng, n) -> (x, y)``, ``num_components``,
    ``conditional_log_density`` and ``label_probs``; None for toys that are no mixture.
    """
    if components is None:
        raise ConfigError(
            f"data.component_labels: {options.name!r} is not a mixture with a component per label; "
            "allowed for toy2d:8gaussians, toy2d:25gaussians, toy2d:ring and toy_binary:*."
        )
    return {
        "train": LabelledProceduralSource(components.sample_labelled, components.num_components),
        **_fixed_samples(components.sample_labelled, options.num_test),
        "conditional_log_density": components.conditional_log_density,
        "label_probs": np.asarray(components.label_probs, np.float64),
    }


def _load_toy2d(options: DataOptions, toy_name: str) -> Dataset:
    if toy_name not in toy2d.NAMES:
        known = ", ".join(f"toy2d:{name}" for name in toy2d.NAMES)
        raise ConfigError(f"data.name: unknown toy2d dataset 'toy2d:{toy_name}'; known: {known}.")
    toy = toy2d.get(toy_name)
    return Dataset(
        name=options.name,
        **_toy_splits(options, toy.sample, toy.components),
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
        **_toy_splits(options, toy.sample, None if tokens else toy),
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
    if options.component_labels and kind not in ("toy2d", "toy_binary"):
        raise ConfigError(
            f"data.component_labels: {options.name!r} is not a mixture toy; "
            "allowed for toy2d:8gaussians, toy2d:25gaussians, toy2d:ring and toy_binary:*."
        )
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
