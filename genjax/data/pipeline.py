"""Training and evaluation batches: pure functions of (seed, step).

``train_batches(...)[step]`` is computed from ``(seed, step)`` alone, never
from iterator state, so a run resumed from a checkpoint at step k reads
exactly the batches an uninterrupted run would have read (the loop stores no
data-pipeline state). The randomness, all from ``np.random.default_rng``:

* finite sources: epoch ``e = step // steps_per_epoch`` uses the permutation
  ``default_rng([seed, e]).permutation(N)``; batches drop the remainder, so
  each epoch visits ``steps_per_epoch * batch_size`` distinct examples.
* procedural sources (toy2d): ``default_rng([seed, step])`` draws the batch.
* random transforms: ``default_rng([seed, step, PURPOSE])`` draws the noise
  of the whole global batch; each process keeps its rows, so the values do
  not depend on the number of processes.
* evaluation (``eval_batches``): ``default_rng([EVAL_SEEDS[split], batch,
  PURPOSE])``, fixed across runs, with its own stream for validation.

The validation split is carved (or read) at load time, so N above is the
number of training examples left after the carve.

Process ``p`` of ``P`` receives rows ``[p * B / P, (p + 1) * B / P)`` of the
global batch of size ``B = data.batch_size``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import grain
import numpy as np

from genjax.data import transforms
from genjax.data.dataset import SPLITS, Dataset, ProceduralSource, Source
from genjax.data.options import DataOptions, parse_options
from genjax.errors import ConfigError

# Length of the step-indexed dataset; the loop only ever indexes it by step.
NUM_STEPS = 2**62
# Purpose words appended to rng keys so each use of randomness is independent.
PURPOSE_DEQUANTIZE = 1
PURPOSE_BINARIZE = 2
# Static binarization is a property of the dataset, not of the run; each split
# has its own seed so train, validation and test example i get independent noise.
STATIC_BINARIZATION_SEEDS = {"train": 0, "test": 1, "validation": 2}
# Eval randomness (dequantization, dynamic binarization) is fixed across runs,
# so every evaluation of a split sees identical inputs. Validation has its own
# stream: with test's, batch b of both splits would get the same noise, and a
# checkpoint selected for doing well under that noise would carry the luck to
# its test figure. Train and test keep EVAL_SEED (their earlier figures stand).
EVAL_SEED = 0xE7A1
EVAL_SEEDS = {"train": EVAL_SEED, "test": EVAL_SEED, "validation": 0x7A1D}


class _Transform:
    """raw -> (dequantize | scale) -> binarize for one batch."""

    def __init__(self, dataset: Dataset, options: DataOptions, split: str):
        self.num_levels = dataset.num_levels
        self.tokens = dataset.tokens  # token ids are class labels: never scaled
        self.static_seed = STATIC_BINARIZATION_SEEDS[split]
        # toy2d points are continuous 2-D data: image transforms do not apply.
        procedural = isinstance(dataset.train, ProceduralSource)
        self.dequantize = options.dequantize and not procedural
        self.binarize = "none" if procedural else options.binarize

    def __call__(
        self, raw: np.ndarray, example_ids: np.ndarray, key: list[int], rows: slice, global_size: int
    ) -> np.ndarray:
        """raw, example_ids: this process's rows of a global batch of global_size.

        Returns float32 [len(raw), *event_shape].
        """

        def global_noise(purpose: int) -> np.ndarray:
            # Drawn for the whole global batch, then this process's rows.
            rng = np.random.default_rng([*key, purpose])
            return rng.random((global_size, *raw.shape[1:]))[rows]

        if self.num_levels is None or self.tokens:
            x = raw.astype(np.float32)
        elif self.dequantize:
            x = transforms.uniform_dequantize(raw, self.num_levels, noise=global_noise(PURPOSE_DEQUANTIZE))
        else:
            x = transforms.scale(raw, self.num_levels)
        if self.binarize == "static":
            x = transforms.binarize_static(x, self.static_seed, example_ids)
        elif self.binarize == "dynamic":
            x = transforms.binarize_dynamic(x, noise=global_noise(PURPOSE_BINARIZE))
        elif self.binarize == "threshold":
            x = transforms.binarize_threshold(x, 0.5)
        return x


def _local_rows(batch_size: int, process_index: int, process_count: int, field: str) -> slice:
    if not (isinstance(process_count, int) and process_count >= 1 and 0 <= process_index < process_count):
        raise ValueError(f"process_index {process_index} must lie in [0, process_count={process_count})")
    if batch_size % process_count:
        raise ConfigError(
            f"{field}: got {batch_size}; the global batch must be divisible by the {process_count} processes."
        )
    local = batch_size // process_count
    return slice(process_index * local, (process_index + 1) * local)


def _batch_dict(x: np.ndarray, source_batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    batch = {"x": x}
    if "label" in source_batch:
        batch["label"] = source_batch["label"].astype(np.int32)
    if "cond" in source_batch:
        batch["cond"] = source_batch["cond"].astype(np.float32)
    return batch


class _TrainBatch:
    """Picklable ``step -> batch`` map (grain may ship it to worker processes)."""

    def __init__(self, dataset: Dataset, options: DataOptions, seed: int, rows: slice):
        self.source: Source = dataset.train
        self.transform = _Transform(dataset, options, "train")
        self.batch_size = options.batch_size
        self.seed = seed
        self.rows = rows
        if self.source.num_examples is not None:
            self.steps_per_epoch = self.source.num_examples // self.batch_size
            if self.steps_per_epoch == 0:
                raise ConfigError(
                    f"data.batch_size: got {self.batch_size}; must be at most the "
                    f"{self.source.num_examples} training examples of {dataset.name}."
                )
        # (epoch, permutation) of the last epoch used: one cheap tuple swap, so
        # concurrent readers (grain prefetch threads) see a consistent pair.
        self._epoch_order: tuple[int, np.ndarray] | None = None

    def _permutation(self, epoch: int) -> np.ndarray:
        cached = self._epoch_order
        if cached is None or cached[0] != epoch:
            cached = (epoch, np.random.default_rng([self.seed, epoch]).permutation(self.source.num_examples))
            self._epoch_order = cached
        return cached[1]

    def __call__(self, step: int) -> dict[str, np.ndarray]:
        step = int(step)
        if step < 0:
            raise IndexError(f"step must be non-negative, got {step}")
        if self.source.num_examples is None:
            # Infinite data: a fresh global batch per step, this process's rows.
            drawn = self.source.sample(np.random.default_rng([self.seed, step]), self.batch_size)
            x = drawn["x"][self.rows].astype(np.float32)
            return _batch_dict(x, {k: v[self.rows] for k, v in drawn.items()})
        epoch, position = divmod(step, self.steps_per_epoch)
        start = position * self.batch_size
        example_ids = self._permutation(epoch)[start : start + self.batch_size][self.rows]
        raw = self.source.gather(example_ids)
        x = self.transform(raw["x"], example_ids, [self.seed, step], self.rows, self.batch_size)
        return _batch_dict(x, raw)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_epoch_order": None}  # a cache, not state


def _check_seed(seed: int) -> None:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed: got {seed!r}; must be a non-negative integer.")


def train_batches(
    dataset: Dataset,
    data_config: Mapping[str, Any],
    *,
    seed: int,
    process_index: int = 0,
    process_count: int = 1,
) -> grain.MapDataset:
    """Training batches indexed by global step: ``train_batches(...)[step]``.

    Args:
      dataset: from :func:`~genjax.data.load.load_dataset`.
      data_config: the ``data`` config section (batch_size, transforms).
      seed: the run's seed (non-negative int).
      process_index, process_count: this process's place among the hosts.

    Returns:
      A ``grain.MapDataset`` of length 2**62 whose element ``step`` is
      ``{"x": float32 [B_local, *element_shape]}`` plus ``"label": int32
      [B_local]`` when the source has labels and ``"cond": float32
      [B_local, ...]`` when it has a conditioning array, B_local = batch_size //
      process_count. Element ``step`` is a pure function of (seed, step).
    """
    options = parse_options(data_config)
    _check_seed(seed)
    rows = _local_rows(options.batch_size, process_index, process_count, "data.batch_size")
    batch_fn = _TrainBatch(dataset, options, int(seed), rows)
    # One element per step, built by one vectorised gather: grain drives the
    # indexing (and optional prefetch / worker processes), numpy the work.
    return grain.MapDataset.range(NUM_STEPS).map(batch_fn)


def eval_batches(
    dataset: Dataset,
    data_config: Mapping[str, Any],
    *,
    split: str = "test",
    batch_size: int | None = None,
    process_index: int = 0,
    process_count: int = 1,
) -> Iterator[dict[str, np.ndarray]]:
    """One deterministic pass over a finite split, in order.

    Args:
      dataset: from :func:`~genjax.data.load.load_dataset`.
      data_config: the ``data`` config section.
      split: "validation" (periodic evaluation and model selection), "test"
        (once, at the end) or "train" (finite sources only: a toy's train
        split is infinite).
      batch_size: global batch; default data.eval_batch_size, else data.batch_size.
      process_index, process_count: rows of each global batch this process gets.

    Yields:
      ``{"x": float32 [B_local, ...], "mask": float32 [B_local]}`` (+ ``"label"``, ``"cond"``).
      The last global batch is padded to full size with copies of example 0
      and mask 0, so ``sum(mask * per_example)`` over all batches and
      processes is an exact sum over the split. Random transforms use a fixed
      seed per split (``EVAL_SEEDS``), so every evaluation sees identical inputs.
    """
    options = parse_options(data_config)
    if split not in SPLITS:
        raise ValueError(f"split must be 'train', 'validation' or 'test', got {split!r}")
    source: Source = dataset.source(split)
    if source.num_examples is None:
        raise ValueError(
            f"the {split} split of {dataset.name} is procedural (infinite); "
            "evaluate on 'validation' or 'test'"
        )
    global_size = batch_size or options.eval_batch_size or options.batch_size
    if batch_size:
        field = "batch_size"
    else:
        field = "data.eval_batch_size" if options.eval_batch_size else "data.batch_size"
    rows = _local_rows(global_size, process_index, process_count, field)
    return _eval_iterator(source, _Transform(dataset, options, split), EVAL_SEEDS[split], global_size, rows)


def _eval_iterator(
    source: Source, transform: _Transform, eval_seed: int, global_size: int, rows: slice
) -> Iterator[dict[str, np.ndarray]]:
    num_examples = source.num_examples
    for batch_index in range(math.ceil(num_examples / global_size)):
        ids = batch_index * global_size + np.arange(global_size)
        real = ids < num_examples
        example_ids = np.where(real, ids, 0)[rows]
        raw = source.gather(example_ids)
        x = transform(raw["x"], example_ids, [eval_seed, batch_index], rows, global_size)
        batch = _batch_dict(x, raw)
        batch["mask"] = real[rows].astype(np.float32)
        yield batch
