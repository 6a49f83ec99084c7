"""The :class:`Dataset` record and the sources that deliver raw examples.

A source is either *finite* (``num_examples`` rows, random access by index:
:class:`ArraySource`, ``TfdsSource``) or *procedural* (:class:`ProceduralSource`:
``num_examples`` is None and every call draws fresh samples). Sources deliver
raw values; :mod:`genjax.data.transforms` turns them into model inputs.
:class:`SubsetSource` is a fixed selection of another finite source's rows
(how a validation split is carved from train, see :mod:`genjax.data.splits`).
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from genjax.spec import DataSpec


class Source(abc.ABC):
    """Raw examples of one split.

    Batches are dicts: ``"x"``: [n, *raw_shape] raw values and, when
    ``has_labels``, ``"label"``: [n] int32; with a ``cond_shape``, ``"cond"``:
    [n, *cond_shape] float32.
    """

    num_examples: int | None  # None: procedural (infinite) source
    has_labels: bool
    num_classes: int | None = None  # labelled sources: labels lie in 0..num_classes-1
    cond_shape: tuple[int, ...] | None = None  # sources with a generic conditioning array

    def gather(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        """Rows ``indices`` ([n] int) of a finite source, in that order."""
        raise TypeError(f"{type(self).__name__} has no fixed rows to gather")

    def sample(self, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
        """``n`` fresh examples of a procedural source."""
        raise TypeError(f"{type(self).__name__} is finite; index it with gather")


class ArraySource(Source):
    """A split held in memory: ``x`` [N, ...] raw values, optional ``label`` [N] and ``cond`` [N, ...].

    ``cond`` is a generic conditioning array (float32) for conditional models p(x | cond).
    """

    def __init__(self, x: np.ndarray, label: np.ndarray | None = None, cond: np.ndarray | None = None):
        if label is not None and len(label) != len(x):
            raise ValueError(f"{len(label)} labels for {len(x)} examples")
        if cond is not None and len(cond) != len(x):
            raise ValueError(f"{len(cond)} conditioning rows for {len(x)} examples")
        self.x = x
        self.label = None if label is None else np.asarray(label, np.int32)
        self.cond = None if cond is None else np.asarray(cond, np.float32)
        self.num_examples = len(x)
        self.has_labels = label is not None
        self.num_classes = int(self.label.max()) + 1 if self.has_labels and len(self.label) else None
        self.cond_shape = None if cond is None else tuple(self.cond.shape[1:])

    def gather(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        # One fancy-indexing gather per batch: no per-record Python work.
        batch = {"x": self.x[indices]}
        if self.label is not None:
            batch["label"] = self.label[indices]
        if self.cond is not None:
            batch["cond"] = self.cond[indices]
        return batch

    def __repr__(self) -> str:
        return f"ArraySource(x={self.x.dtype}{list(self.x.shape)}, labels={self.has_labels})"


class SubsetSource(Source):
    """Rows ``indices`` ([n] int, into ``base``) of a finite source, as a source of its own.

    Row ``i`` of the subset is row ``indices[i]`` of ``base``; labels and the
    class count are the base's.
    """

    def __init__(self, base: Source, indices: np.ndarray):
        if base.num_examples is None:
            raise TypeError(f"{type(base).__name__} is procedural; only finite sources have rows to select")
        indices = np.asarray(indices, np.int64)
        if indices.ndim != 1 or (
            len(indices) and not 0 <= indices.min() <= indices.max() < base.num_examples
        ):
            raise ValueError(f"indices must be a 1-D array of rows in [0, {base.num_examples})")
        self.base = base
        self.indices = indices
        self.num_examples = len(indices)
        self.has_labels = base.has_labels
        self.num_classes = base.num_classes
        self.cond_shape = base.cond_shape

    def gather(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        return self.base.gather(self.indices[np.asarray(indices)])

    def __repr__(self) -> str:
        return f"SubsetSource({self.base!r}, {self.num_examples} of {self.base.num_examples} rows)"


class ProceduralSource(Source):
    """Infinite data from ``sampler(rng, n) -> [n, *shape]``."""

    num_examples = None
    has_labels = False

    def __init__(self, sampler: Callable[[np.random.Generator, int], np.ndarray]):
        self.sampler = sampler

    def sample(self, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
        return {"x": self.sampler(rng, n)}

    def __repr__(self) -> str:
        return f"ProceduralSource({getattr(self.sampler, '__qualname__', self.sampler)})"


# The splits every Dataset has, in the order the loop uses them.
SPLITS = ("train", "validation", "test")


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A loaded dataset: its splits plus what the loop and metrics need to know.

    Attributes:
      name: ``data.name`` it was loaded from.
      train: training split (finite or procedural).
      test: test split (always finite; toy2d's is a fixed sample).
      validation: validation split for periodic evaluation and model selection
        (always finite, disjoint from train and test): the source's own split
        where it has one, else carved from train (``data.validation_fraction``,
        the carved rows removed from ``train``); toy datasets: a fixed sample.
      element_shape: shape of one example's ``"x"`` after transforms, e.g.
        (8, 8, 1) or (2,).
      num_levels: discrete levels per dimension of the raw data (17 digits,
        2 binary, 256 uint8 images); None for continuous data (toy2d).
      log_density: toy datasets only (toy2d, toy_binary, toy_markov): exact
        log p(x), x [N, ...] -> [N] nats (a density for toy2d, a probability
        for the others).
      entropy: toy datasets only: the true (differential or Shannon) entropy
        in nats.
      modes: Gaussian-mixture toy2d data only (ring, 25gaussians, 8gaussians): a
        `genjax.data.toy2d.Modes` of the centres [K, 2] and the common std, for
        mode-coverage metrics.
      outcomes: small discrete toy datasets only (toy_binary): ``outcomes()``
        returns every possible example, ``[N, *element_shape]``, for exact KL
        by enumeration.
      tokens: values are integer token ids 0..num_levels-1 (toy_markov), not
        pixel levels: they are modelled as classes and must not be scaled to
        [0, 1], dequantized or binarized.
      conditional_log_density: mixture toys under ``data.component_labels`` only:
        exact log p(x | y), (x [N, ...], y [N] int) -> [N] nats, y the component.
      label_probs: with ``conditional_log_density``: `[K]` the exact p(y).
    """

    name: str
    train: Source
    test: Source
    validation: Source
    element_shape: tuple[int, ...]
    num_levels: int | None
    log_density: Callable[[np.ndarray], np.ndarray] | None = None
    entropy: float | None = None
    tokens: bool = False
    modes: Any = None
    outcomes: Callable[[], np.ndarray] | None = None
    conditional_log_density: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
    label_probs: np.ndarray | None = None

    def source(self, split: str) -> Source:
        """The source of ``split``, one of `SPLITS` ("train", "validation", "test")."""
        if split not in SPLITS:
            raise ValueError(f"split must be 'train', 'validation' or 'test', got {split!r}")
        return getattr(self, split)

    @property
    def spec(self) -> DataSpec:
        """The `DataSpec` a family builder is sized by (labels counted over every split)."""
        splits = (self.train, self.validation, self.test)
        classes = [s.num_classes for s in splits if s.has_labels and s.num_classes]
        return DataSpec(
            element_shape=self.element_shape,
            num_levels=self.num_levels,
            tokens=self.tokens,
            num_classes=max(classes) if self.train.has_labels and classes else None,
            cond_shape=self.train.cond_shape,
            modes=self.modes,
            name=self.name,
        )
