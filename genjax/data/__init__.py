"""Data: sources (toy2d, digits, npz, tfds), transforms and the grain pipeline.

The training loop uses three functions::

    dataset = load_dataset(config.data)
    batches = train_batches(dataset, config.data, seed=config.seed,
                            process_index=jax.process_index(),
                            process_count=jax.process_count())
    batch = batches[step]          # a pure function of (seed, step)
    for batch in eval_batches(dataset, config.data, split="validation"):  # padded, with "mask"
        ...

Every dataset has train, validation and test splits (`SPLITS`); validation
is the source's own split or one carved from train (`genjax.data.splits`).

See :mod:`genjax.data.options` for the ``data.*`` config fields.
"""

from genjax.data import splits, toy2d, transforms
from genjax.data.dataset import SPLITS, ArraySource, Dataset, ProceduralSource, Source, SubsetSource
from genjax.data.load import load_dataset
from genjax.data.options import DataOptions, parse_options
from genjax.data.pipeline import eval_batches, train_batches
from genjax.data.transforms import (
    binarize_dynamic,
    binarize_static,
    binarize_threshold,
    scale,
    uniform_dequantize,
)

__all__ = [
    "SPLITS",
    "ArraySource",
    "DataOptions",
    "Dataset",
    "ProceduralSource",
    "Source",
    "SubsetSource",
    "binarize_dynamic",
    "binarize_static",
    "binarize_threshold",
    "eval_batches",
    "load_dataset",
    "parse_options",
    "scale",
    "splits",
    "toy2d",
    "train_batches",
    "transforms",
    "uniform_dequantize",
]
