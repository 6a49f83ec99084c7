"""Validation splits: the source's own named split, or one carved from train.

Model selection (periodic evaluation, the best checkpoint, early stopping)
reads the validation split, so the test split is touched once, at the end.
Where the source names a validation split (npz / TFDS ``"valid"`` or
``"validation"``, or ``data.validation_split``) it is used as is. Otherwise
:func:`carve` removes ``round(data.validation_fraction * N)`` examples from
the N training examples. The carve is a permutation drawn from
`VALIDATION_CARVE_SEED`, a constant rather than the run's seed: every run,
process and resume, and runs with different seeds, validate on the same
examples, so their validation figures are comparable. It happens at load
time, so ``train_batches(...)[step]`` stays a pure function of (seed, step)
over the remaining examples.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from genjax.data.dataset import Source, SubsetSource
from genjax.data.options import DataOptions
from genjax.errors import ConfigError

# Three words, unlike the [seed, epoch] keys of the training epochs' permutations.
VALIDATION_CARVE_SEED = (0x7A11D, 0xCA7E, 0x5EED)
# Split names taken as the source's own validation split, first match wins.
VALIDATION_SPLIT_NAMES = ("valid", "validation")


def _base_name(split: str) -> str:
    return split.split("[")[0]  # TFDS slices such as "train[:90%]" select part of "train"


def _overlaps(a: str, b: str) -> bool:
    """Whether split expressions ``a`` and ``b`` can share examples.

    The same split, or the same named split where either side is whole.
    Two different slices of one split (``train[:90%]`` and ``train[90%:]``)
    are taken to be disjoint: checking slice arithmetic is left to TFDS.
    """
    if a == b:
        return True
    return _base_name(a) == _base_name(b) and ("[" not in a or "[" not in b)


def choose_validation_split(options: DataOptions, available: Sequence[str], where: str) -> str | None:
    """The named split to validate on, or None when it must be carved from train.

    Args:
      options: the parsed ``data`` section.
      available: the split names the source has.
      where: the source, for messages (a path or ``TFDS dataset 'NAME'``).

    Raises:
      ConfigError: ``data.validation_split`` names a split the source lacks,
        is also a training split (listed in ``data.train_splits``) or is the
        test split.
    """
    name = options.validation_split
    if name is None:
        # Auto: the source's own validation split, unless it is already the test split.
        found = [n for n in VALIDATION_SPLIT_NAMES if n in available and n != options.test_split]
        if not found:
            return None
        name = found[0]
    elif _base_name(name) not in available:
        raise ConfigError(
            f"data.validation_split: split {name!r} is not in {where}; available: {', '.join(available)}."
        )
    for train_split in options.train_splits:
        if _overlaps(train_split, name):
            raise ConfigError(
                f"data.train_splits: got {'+'.join(options.train_splits)!r}, which includes the validation "
                f"split {name!r}; selecting models on training data is dishonest, so remove {train_split!r} "
                "from data.train_splits or set data.validation_split to another split."
            )
    if _overlaps(options.test_split, name):
        raise ConfigError(
            f"data.validation_split: got {name!r}, which is also data.test_split; "
            "set one of them to another split."
        )
    return name


def carve(source: Source, fraction: float, dataset_name: str) -> tuple[SubsetSource, SubsetSource]:
    """Splits a finite training source into (train, validation), the same every time.

    ``n_val = floor(fraction * N + 0.5)`` examples, the first ``n_val`` of
    ``default_rng(VALIDATION_CARVE_SEED).permutation(N)``, become the
    validation split; the other ``N - n_val`` stay in train. Both keep the
    source's order (indices sorted), so they depend only on N and the
    source's rows.

    Raises:
      ConfigError: either part would be empty.
    """
    num_examples = source.num_examples
    num_validation = int(fraction * num_examples + 0.5)
    if not 1 <= num_validation <= num_examples - 1:
        raise ConfigError(
            f"data.validation_fraction: got {fraction!r}, which carves {num_validation} of the "
            f"{num_examples} training examples of {dataset_name}; "
            "train and validation each need at least one."
        )
    order = np.random.default_rng(VALIDATION_CARVE_SEED).permutation(num_examples)
    validation = SubsetSource(source, np.sort(order[:num_validation]))
    train = SubsetSource(source, np.sort(order[num_validation:]))
    return train, validation
