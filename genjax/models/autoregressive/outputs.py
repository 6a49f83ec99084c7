"""Per-dimension output distributions for autoregressive models (``model.output``).

A network of the family emits ``params [B, D, P]``; an `OutputDistribution` turns
parameter row d into ``log p(x_d | x_<d)`` and draws ``x_d`` from it. Targets are
what each head models:

==================  =====  ========================================================
name                P      targets
==================  =====  ========================================================
bernoulli           1      float 0/1 (logits)
categorical         L      int classes 0..L-1 (logits)
logistic_mixture    3K     int classes 0..L-1, modelled as values k / (L-1) by a
                           discretized mixture of K logistics (PixelCNN++)
gaussian_mixture    3K     real values, a 1-D mixture of K Gaussians
==================  =====  ========================================================

Mixture parameters are laid out as three blocks of K along the last axis:
mixture logits, means, log-scales. `to_targets` / `from_targets` convert scaled
data ``x = k / (L-1)`` to classes and back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from genjax import distributions
from genjax.errors import ConfigError

Array = jax.Array

NAMES = ("bernoulli", "categorical", "logistic_mixture", "gaussian_mixture")
_DISCRETE = ("bernoulli", "categorical", "logistic_mixture")


class OutputDistribution(NamedTuple):
    """One per-dimension output head.

    Attributes:
      name: one of `NAMES`.
      num_params: P, parameters per dimension.
      log_prob: ``(params [..., P], targets [...]) -> [...]`` nats per dimension.
      sample: ``(rng, params [..., P]) -> targets [...]`` (classes as int32).
    """

    name: str
    num_params: int
    log_prob: Callable[[Array, Array], Array]
    sample: Callable[[Array, Array], Array]


def to_targets(x: Array, num_levels: int) -> Array:
    """Scaled values ``x = k / (L-1)`` in [0, 1] -> int32 classes k: `[...]` -> `[...]`."""
    # Rounding (not truncation) so float error in k / (L-1) cannot move a value down a class.
    classes = jnp.round(jnp.asarray(x) * (num_levels - 1))
    return jnp.clip(classes, 0, num_levels - 1).astype(jnp.int32)


def from_targets(targets: Array, num_levels: int) -> Array:
    """int classes k -> float32 values ``k / (L-1)`` in [0, 1]: `[...]` -> `[...]`."""
    return jnp.asarray(targets).astype(jnp.float32) / (num_levels - 1)


def _mixture_blocks(params: Array, num_components: int) -> tuple[Array, Array, Array]:
    """`[..., 3K]` -> (logit_weights, means, log_scales), each `[..., K]`."""
    k = num_components
    return params[..., :k], params[..., k : 2 * k], params[..., 2 * k :]


def _bernoulli() -> OutputDistribution:
    def log_prob(params: Array, targets: Array) -> Array:
        return distributions.bernoulli_log_prob(targets, params[..., 0], event_ndims=0)

    def sample(rng: Array, params: Array) -> Array:
        return jax.random.bernoulli(rng, jax.nn.sigmoid(params[..., 0])).astype(jnp.float32)

    return OutputDistribution("bernoulli", 1, log_prob, sample)


def _categorical(num_levels: int) -> OutputDistribution:
    def log_prob(params: Array, targets: Array) -> Array:
        # take_along_axis needs equal ranks: broadcast like the other heads do.
        batch = jnp.broadcast_shapes(jnp.shape(targets), params.shape[:-1])
        params = jnp.broadcast_to(params, (*batch, num_levels))
        return distributions.categorical_log_prob(jnp.broadcast_to(targets, batch), params, event_ndims=0)

    def sample(rng: Array, params: Array) -> Array:
        return jax.random.categorical(rng, params, axis=-1).astype(jnp.int32)

    return OutputDistribution("categorical", num_levels, log_prob, sample)


def _logistic_mixture(num_levels: int, num_components: int) -> OutputDistribution:
    def log_prob(params: Array, targets: Array) -> Array:
        x = from_targets(targets, num_levels)
        return distributions.discretized_logistic_mixture_log_prob(
            x, *_mixture_blocks(params, num_components), num_levels=num_levels
        )

    def sample(rng: Array, params: Array) -> Array:
        x = distributions.discretized_logistic_mixture_sample(
            rng, *_mixture_blocks(params, num_components), num_levels=num_levels
        )
        return to_targets(x, num_levels)

    return OutputDistribution("logistic_mixture", 3 * num_components, log_prob, sample)


def _gaussian_mixture(num_components: int) -> OutputDistribution:
    def blocks(params: Array) -> tuple[Array, Array, Array]:
        # The network's third block is each component's log standard deviation (as for the
        # logistic heads); the Gaussian functions take log-variances.
        logit_weights, means, log_scales = _mixture_blocks(params, num_components)
        return logit_weights, means, 2.0 * log_scales

    def log_prob(params: Array, targets: Array) -> Array:
        return distributions.gaussian_mixture_log_prob(targets, *blocks(params))

    def sample(rng: Array, params: Array) -> Array:
        return distributions.gaussian_mixture_sample(rng, *blocks(params))

    return OutputDistribution("gaussian_mixture", 3 * num_components, log_prob, sample)


def get(name: str, *, num_levels: int | None, num_components: int = 5) -> OutputDistribution:
    """The output head called ``name`` (``model.output``).

    Args:
      name: one of `NAMES`.
      num_levels: L, discrete levels of the model's inputs (2 after binarization);
        None for continuous data, which only ``gaussian_mixture`` accepts.
      num_components: K, for the two mixtures.
    Raises:
      ConfigError: an unknown name, a discrete head on continuous data, bernoulli
        on more than 2 levels, or a non-positive ``num_components``.
    """
    if name not in NAMES:
        raise ConfigError(f"model.output: got {name!r}; allowed: {', '.join(NAMES)}")
    if name in _DISCRETE and num_levels is None:
        raise ConfigError(
            f"model.output: {name} needs discrete data (a dataset with num_levels); "
            "use gaussian_mixture for continuous data"
        )
    if num_levels is not None and num_levels < 2:
        raise ValueError(f"num_levels must be at least 2, got {num_levels}")
    if name == "bernoulli" and num_levels != 2:
        raise ConfigError(
            f"model.output: bernoulli needs binary data and the data has {num_levels} levels; "
            "binarize it or use categorical or logistic_mixture"
        )
    if name.endswith("_mixture") and not (
        isinstance(num_components, int) and not isinstance(num_components, bool) and num_components >= 1
    ):
        raise ConfigError(f"model.num_components: got {num_components!r}; must be a positive integer")
    if name == "bernoulli":
        return _bernoulli()
    if name == "categorical":
        return _categorical(num_levels)
    if name == "logistic_mixture":
        return _logistic_mixture(num_levels, num_components)
    return _gaussian_mixture(num_components)
