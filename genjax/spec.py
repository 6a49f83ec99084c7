"""`DataSpec`: the few facts about the data that size and shape a model.

Family builders take a `DataSpec`, never a whole `genjax.data.Dataset`: a model
needs to know what one example looks like, not where the examples come from.
A loaded dataset hands out its spec as ``dataset.spec``; tests and notebooks
build one directly::

    spec = DataSpec(element_shape=(8, 8, 1), num_levels=17, num_classes=10, name="digits")

Conditional models p(x | y) read y from ``num_classes`` (class labels) or
``cond_shape`` (a generic conditioning array), see `genjax.models.conditioning`.
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """What a family builder may know about its data.

    Attributes:
      element_shape: shape of one example's ``"x"`` as the model sees it, e.g.
        ``(8, 8, 1)`` for digits or ``(2,)`` for toy2d points.
      num_levels: discrete levels per dimension of the raw values (17 for
        digits, 2 for binary data, 256 for uint8 images, V for tokens); None
        for continuous data.
      tokens: the values are token ids ``0..num_levels-1`` (classes, never
        scaled to [0, 1], dequantized or binarized), not pixel levels.
      num_classes: labelled data only: batches carry ``"label"`` in
        ``0..num_classes-1``; None when there are no labels.
      cond_shape: data with a generic conditioning array: batches carry
        ``"cond"`` float32 `[B, *cond_shape]`; None without one.
      modes: Gaussian-mixture toy data only: the mixture's ``centers`` [K, D]
        and common ``std`` (a `genjax.data.toy2d.Modes`), for mode coverage.
      name: the ``data.name`` it came from; used only in error messages.
    """

    element_shape: tuple[int, ...]
    num_levels: int | None = None
    tokens: bool = False
    num_classes: int | None = None
    cond_shape: tuple[int, ...] | None = None
    modes: Any = None
    name: str = "data"

    def __post_init__(self):
        shape = tuple(int(d) for d in self.element_shape)
        if not shape or any(d <= 0 for d in shape):
            raise ValueError(f"DataSpec.element_shape: got {self.element_shape!r}; must be positive sizes")
        object.__setattr__(self, "element_shape", shape)
        if self.num_levels is not None and self.num_levels < 2:
            raise ValueError(f"DataSpec.num_levels: got {self.num_levels!r}; must be at least 2 or None")
        if self.tokens and self.num_levels is None:
            raise ValueError("DataSpec.tokens: token data need num_levels (the vocabulary size)")
        if self.num_classes is not None and self.num_classes < 1:
            raise ValueError(f"DataSpec.num_classes: got {self.num_classes!r}; must be positive or None")

        if self.cond_shape is not None:
            cond_shape = tuple(int(d) for d in self.cond_shape)
            if not cond_shape or any(d <= 0 for d in cond_shape):
                raise ValueError(
                    f"DataSpec.cond_shape: got {self.cond_shape!r}; must be positive sizes or None"
                )
            object.__setattr__(self, "cond_shape", cond_shape)

    @property
    def labelled(self) -> bool:
        """Batches carry ``"label"``."""
        return self.num_classes is not None
