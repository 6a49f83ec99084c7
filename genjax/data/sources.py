"""In-memory sources: scikit-learn's 8x8 digits and ``.npz`` files.

Both deliver raw integer levels; nothing here scales or binarizes.
"""

from __future__ import annotations

import os

import numpy as np

from genjax.data import splits as splits_lib
from genjax.data.dataset import ArraySource
from genjax.data.options import DataOptions
from genjax.errors import ConfigError

DIGITS_NUM_TRAIN = 1500  # of 1797; the remaining 297 are the test split (validation is carved from train)
DIGITS_NUM_LEVELS = 17  # pixel values are counts 0..16
PACKED_MNIST_BYTES = 98  # 784 bits packed 8 per byte


def load_digits() -> tuple[ArraySource, ArraySource, tuple[int, ...], int]:
    """scikit-learn's bundled digits (offline): (train, test, element_shape, num_levels).

    Images are [N, 8, 8, 1] uint8 in 0..16 with int labels 0..9. The split is
    a fixed permutation from ``np.random.default_rng(0)``: the first 1500
    examples train, the other 297 test, so every run sees the same split.
    The loader carves the validation split from these 1500
    (``data.validation_fraction``; 150 by default).
    """
    # Imported here: scikit-learn takes ~1 s to import and only digits needs it.
    from sklearn.datasets import load_digits as sklearn_load_digits

    bunch = sklearn_load_digits()
    images = bunch.images.astype(np.uint8)[..., None]
    labels = bunch.target.astype(np.int32)
    order = np.random.default_rng(0).permutation(len(images))
    train, test = order[:DIGITS_NUM_TRAIN], order[DIGITS_NUM_TRAIN:]
    return (
        ArraySource(images[train], labels[train]),
        ArraySource(images[test], labels[test]),
        images.shape[1:],
        DIGITS_NUM_LEVELS,
    )


def _unpack_if_packed_mnist(array: np.ndarray) -> tuple[np.ndarray, bool]:
    """uint8 [N, 98] -> uint8 [N, 28, 28, 1] in {0, 1}; other arrays unchanged."""
    if array.dtype == np.uint8 and array.ndim == 2 and array.shape[1] == PACKED_MNIST_BYTES:
        bits = np.unpackbits(array, axis=1)[:, :784]
        return bits.reshape(-1, 28, 28, 1), True
    return array, False


def infer_num_levels(values: np.ndarray, field_hint: str, options: DataOptions) -> int | None:
    """Levels per dimension of raw data, from (a sample of) its ``values``.

    ``data.num_levels`` wins; bool -> 2; uint8 -> 256, except 2 when every
    value is 0 or 1 (binarized images such as TFDS binarized_mnist are stored
    as uint8); floats -> None (continuous). Other dtypes need data.num_levels.
    """
    if options.num_levels is not None:
        return options.num_levels
    dtype = values.dtype
    if dtype == np.bool_:
        return 2
    if dtype == np.uint8:
        return 2 if values.size and values.max() <= 1 else 256
    if np.issubdtype(dtype, np.floating):
        return None  # continuous values, used as they are
    raise ConfigError(
        f"data.num_levels: {field_hint} holds {dtype} values, whose number of levels cannot be "
        "inferred; set data.num_levels (uint8 implies 256, bool 2, floats are continuous)."
    )


def load_npz(
    path: str, options: DataOptions
) -> tuple[ArraySource, ArraySource | None, ArraySource, tuple[int, ...], int | None]:
    """An .npz with one array per split: (train, validation, test, element_shape, num_levels).

    uint8 [N, 98] arrays are the packed binarized MNIST (unpacked to
    [N, 28, 28, 1] in {0, 1}, 2 levels). Other arrays are used as they are,
    except that [N, H, W] gains a channel axis. Labels are read from
    ``<split>_labels`` arrays when present. ``data.train_splits`` (e.g.
    "train+extra") concatenates splits for training. ``validation`` is the
    split chosen by `genjax.data.splits.choose_validation_split` ("valid" in
    the shared binarized MNIST file), or None when the file has none (the
    loader then carves one from train).
    """
    expanded = os.path.expanduser(path)
    if not os.path.isfile(expanded):
        raise ConfigError(f"data.name: npz file not found: {path!r} (from 'npz:{path}').")
    with np.load(expanded) as archive:
        available = [key for key in archive.files if not key.endswith("_labels")]
        for field, split in [("train_splits", s) for s in options.train_splits] + [
            ("test_split", options.test_split)
        ]:
            if split not in available:
                raise ConfigError(
                    f"data.{field}: split {split!r} is not in {path}; available: {', '.join(available)}."
                )
        validation_split = splits_lib.choose_validation_split(options, available, path)
        wanted = set(options.train_splits) | {options.test_split} | ({validation_split} - {None})
        splits = {}
        for split in wanted:
            images, packed = _unpack_if_packed_mnist(archive[split])
            if images.dtype == np.bool_:
                images = images.astype(np.uint8)
            if images.ndim == 3:
                images = images[..., None]
            labels = archive[f"{split}_labels"] if f"{split}_labels" in archive.files else None
            splits[split] = (images, labels, packed)

    shapes = {split: value[0].shape[1:] for split, value in splits.items()}
    if len(set(shapes.values())) > 1:
        raise ConfigError(f"data.name: splits of {path} have different example shapes {shapes}.")
    test_images, _, packed = splits[options.test_split]
    num_levels = 2 if packed and options.num_levels is None else infer_num_levels(test_images, path, options)

    def merge(names: tuple[str, ...]) -> ArraySource:
        images = np.concatenate([splits[name][0] for name in names])
        label_parts = [splits[name][1] for name in names]
        labels = None if any(part is None for part in label_parts) else np.concatenate(label_parts)
        return ArraySource(images, labels)

    validation = None if validation_split is None else merge((validation_split,))
    test = merge((options.test_split,))
    return merge(options.train_splits), validation, test, shapes[options.test_split], num_levels
