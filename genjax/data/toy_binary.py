"""Tiny binary datasets whose distribution is known exactly: ``toy_binary:D`` and ``toy_binary:HxW``.

Small enough (at most 2^20 outcomes) that every probability can be enumerated,
so autoregressive models can be checked for exact normalisation and their fit
measured as an exact KL. The distribution is a fixed mixture of ``K`` product
Bernoullis, its parameters drawn from a seed that depends only on the shape:

    p(x) = sum_k pi_k prod_d theta_kd^x_d (1 - theta_kd)^(1 - x_d)

``toy_binary:D`` gives vectors `[D]`; ``toy_binary:HxW`` gives images
`[H, W, 1]` (e.g. ``toy_binary:3x3`` for the convolutional models). Values
are float32 0/1 with 2 levels. Under ``data.component_labels`` the component k
is the example's label, and ``conditional_log_density`` gives the exact
``log p(x | y)``.
"""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
from scipy import special

MAX_DIMS = 20  # 2^20 outcomes: still enumerable in well under a second
NUM_COMPONENTS = 4


@dataclasses.dataclass(frozen=True)
class ToyBinary:
    """A mixture of product Bernoullis over ``{0, 1}^shape``.

    Attributes:
      shape: per-example shape, `(D,)` or `(H, W, 1)`.
      weights: `[K]` mixture weights.
      probs: `[K, D]` Bernoulli means (flattened over ``shape``).
    """

    shape: tuple[int, ...]
    weights: np.ndarray
    probs: np.ndarray

    @property
    def num_dims(self) -> int:
        return math.prod(self.shape)

    @property
    def num_components(self) -> int:
        return len(self.weights)

    @property
    def label_probs(self) -> np.ndarray:
        """`[K]` p(y) of the component label: the mixture weights."""
        return self.weights

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """`[n, *shape]` float32 0/1 samples."""
        return self.sample_labelled(rng, n)[0]

    def sample_labelled(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(x `[n, *shape]` float32 0/1, y `[n]` int32 the component each row came from)."""
        components = rng.choice(len(self.weights), size=n, p=self.weights)
        bits = rng.random((n, self.num_dims)) < self.probs[components]
        return bits.astype(np.float32).reshape(n, *self.shape), components.astype(np.int32)

    def _component_log_probs(self, x: np.ndarray) -> np.ndarray:
        """`[N, K]` log p(x | y = k) of `[N, *shape]` 0/1 rows."""
        flat = np.asarray(x, np.float64).reshape(len(x), self.num_dims)
        return flat @ np.log(self.probs).T + (1 - flat) @ np.log1p(-self.probs).T

    def log_density(self, x: np.ndarray) -> np.ndarray:
        """Exact log p(x) in nats: `[N, *shape]` 0/1 -> `[N]`."""
        return special.logsumexp(self._component_log_probs(x) + np.log(self.weights), axis=1)

    def conditional_log_density(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Exact log p(x | y) in nats, a product of Bernoullis: x `[N, *shape]`, y `[N]` int -> `[N]`."""
        log_probs = self._component_log_probs(x)
        return np.take_along_axis(log_probs, np.asarray(y, np.int64)[:, None], axis=1)[:, 0]

    def all_outcomes(self) -> np.ndarray:
        """Every point of ``{0, 1}^shape``: `[2^D, *shape]` float32, in binary counting order."""
        codes = np.arange(2**self.num_dims)[:, None] >> np.arange(self.num_dims)[::-1]
        return (codes & 1).astype(np.float32).reshape(-1, *self.shape)

    @property
    def entropy(self) -> float:
        """Exact Shannon entropy in nats, by enumeration."""
        log_p = self.log_density(self.all_outcomes())
        return float(-np.sum(np.exp(log_p) * log_p))


def parse_shape(argument: str) -> tuple[int, ...]:
    """``"8"`` -> (8,); ``"3x3"`` -> (3, 3, 1). Raises ValueError with the allowed forms."""
    if re.fullmatch(r"[1-9]\d*", argument):
        shape = (int(argument),)
    elif match := re.fullmatch(r"([1-9]\d*)x([1-9]\d*)", argument):
        shape = (int(match.group(1)), int(match.group(2)), 1)
    else:
        raise ValueError(f"'toy_binary:{argument}' is not toy_binary:D or toy_binary:HxW (e.g. toy_binary:8)")
    if math.prod(shape) > MAX_DIMS:
        raise ValueError(
            f"'toy_binary:{argument}' has {math.prod(shape)} bits; at most {MAX_DIMS} are enumerable"
        )
    return shape


def get(argument: str) -> ToyBinary:
    """The toy distribution named by ``argument`` (the part after ``toy_binary:``)."""
    shape = parse_shape(argument)
    num_dims = math.prod(shape)
    # The parameters depend on the shape only, so every run sees the same distribution.
    rng = np.random.default_rng([0xB17, *shape])
    weights = rng.dirichlet(np.full(NUM_COMPONENTS, 2.0))
    # Means away from 0 and 1 keep every outcome's probability positive.
    probs = rng.uniform(0.05, 0.95, size=(NUM_COMPONENTS, num_dims))
    return ToyBinary(shape=shape, weights=weights, probs=probs)
