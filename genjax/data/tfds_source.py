"""TFDS datasets as random-access sources (ArrayRecord via ``tfds.data_source``).

Offline safety: ``tfds.data_source(name)`` with its default ``download=True``
calls ``download_and_prepare`` when the dataset is missing, which offline
retries its downloads for minutes. We never let it: the builder is looked up
on disk first (no network, no builder code), and only a prepared dataset is
opened, with ``builder.as_data_source(split)`` (what ``tfds.data_source``
does once it has a builder).

Reading needs no registered builder class: the prepared folder
``DATA_DIR/NAME[/CONFIG]/VERSION`` holds ``dataset_info.json`` and
``features.json``, from which TFDS rebuilds a read-only builder. So a dataset
prepared by any process (``tfds build``, or a ``GeneratorBasedBuilder`` defined
in a script) is readable by ``experiments/train.py`` from ``data_dir`` alone.
It must be prepared with ``--file_format=array_record`` (or parquet): TFRecord
has no random access.
"""

from __future__ import annotations

import numpy as np

from genjax.data.dataset import Source
from genjax.data.options import DataOptions
from genjax.data.sources import infer_num_levels
from genjax.data.splits import choose_validation_split
from genjax.errors import ConfigError

LABEL_KEY = "label"
_NUM_LEVELS_PROBE = 1000  # test examples read to infer the number of levels


class TfdsSource(Source):
    """A TFDS random-access data source; gathers whole batches with ``__getitems__``."""

    def __init__(self, data_source, image_key: str, label_key: str | None, num_classes: int | None = None):
        self.data_source = data_source
        self.image_key = image_key
        self.label_key = label_key
        self.num_examples = len(data_source)
        self.has_labels = label_key is not None
        self.num_classes = num_classes if self.has_labels else None

    def gather(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        # One batched read; ArrayRecord fetches the records in parallel.
        records = self.data_source.__getitems__(np.asarray(indices).tolist())
        batch = {"x": np.stack([np.asarray(record[self.image_key]) for record in records])}
        if self.label_key is not None:
            batch["label"] = np.asarray([record[self.label_key] for record in records], np.int32)
        return batch

    def __repr__(self) -> str:
        return f"TfdsSource({self.data_source!r}, image_key={self.image_key!r})"


def _not_prepared(name: str, data_dir: str) -> ConfigError:
    return ConfigError(
        f"data.name: TFDS dataset '{name}' is not prepared in {data_dir}; prepare it once on a machine "
        f"with internet: tfds build {name} --data_dir {data_dir} --file_format=array_record (then copy "
        "the folder), or point data.tfds_data_dir at a prepared copy."
    )


def _find_builder(name: str, data_dir: str | None):
    """The prepared builder for ``name``, looked up without touching the network."""
    # Imported lazily: only tfds:NAME datasets pay for it.
    import tensorflow_datasets as tfds
    from tensorflow_datasets.core import read_only_builder

    try:
        # From files only: works for unregistered datasets and never runs builder code.
        return read_only_builder.builder_from_files(name, data_dir=data_dir)
    except Exception:  # not found (or unreadable) as files: try the registered code
        pass
    try:
        # Registered builders know their default config (``mnist`` vs
        # ``mnist/CONFIG``); constructing one reads data_dir only (try_gcs=False).
        builder = tfds.builder(name, data_dir=data_dir, try_gcs=False)
    except Exception:  # unknown names raise DatasetNotFoundError
        return None
    return builder if builder.is_prepared() else None


def _default_data_dir() -> str:
    from tensorflow_datasets.core import constants

    return str(constants.DATA_DIR)


def load_tfds(
    name: str, options: DataOptions
) -> tuple[TfdsSource, TfdsSource | None, TfdsSource, tuple[int, ...], int | None]:
    """Opens ``tfds:NAME``: (train, validation, test, element_shape, num_levels).

    ``validation`` is the dataset's own "validation" (or "valid") split, or
    ``data.validation_split`` (a slice such as "train[90%:]" is allowed); None
    when there is none, and the loader carves one from train.

    Fails within a second with a ConfigError if the dataset is not prepared,
    lacks a split or feature, or is stored without random access.
    """
    from tensorflow_datasets.core import file_adapters

    data_dir = options.tfds_data_dir
    builder = _find_builder(name, data_dir)
    if builder is None:
        raise _not_prepared(name, data_dir or _default_data_dir())
    if builder.info.file_format not in file_adapters.FileFormat.with_random_access():
        raise ConfigError(
            f"data.name: TFDS dataset '{name}' in {builder.data_dir} is stored as "
            f"{builder.info.file_format.value}, which has no random access; rebuild it with "
            f"tfds build {name} --file_format=array_record."
        )
    splits = list(builder.info.splits.keys())
    wanted = [("train_splits", split) for split in options.train_splits] + [
        ("test_split", options.test_split)
    ]
    for field, split in wanted:
        # TFDS slicing such as "train[:90%]" selects part of a named split.
        if split.split("[")[0] not in splits:
            raise ConfigError(
                f"data.{field}: TFDS dataset '{name}' has no split {split!r}; available: {', '.join(splits)}."
            )
    validation_split = choose_validation_split(options, splits, f"TFDS dataset '{name}'")
    features = sorted(builder.info.features.keys())
    if options.tfds_image_key not in features:
        raise ConfigError(
            f"data.tfds_image_key: {options.tfds_image_key!r} is not a feature of TFDS dataset '{name}'; "
            f"available: {', '.join(features)}."
        )
    label_key = LABEL_KEY if LABEL_KEY in features else None
    # A ClassLabel feature knows its class count; anything else leaves it unknown.
    num_classes = getattr(builder.info.features[label_key], "num_classes", None) if label_key else None

    def open_split(split: str) -> TfdsSource:
        # What tfds.data_source(name, split=..., download=False) does after its
        # builder lookup; reusing our lookup avoids a second, costlier one.
        return TfdsSource(builder.as_data_source(split=split), options.tfds_image_key, label_key, num_classes)

    train = open_split("+".join(options.train_splits))
    test = open_split(options.test_split)
    validation = None if validation_split is None else open_split(validation_split)
    # A sample of the test split decides the number of levels (uint8 0/1 -> 2).
    probe = test.gather(np.arange(min(test.num_examples, _NUM_LEVELS_PROBE)))["x"]
    num_levels = infer_num_levels(probe, f"TFDS feature '{options.tfds_image_key}'", options)
    return train, validation, test, probe.shape[1:], num_levels
