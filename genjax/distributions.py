"""Log-densities and samplers as pure functions of arrays.

Nothing here imports Flax: every function takes and returns `jax.Array`s, so the
same code serves genjax's models and anyone else's. Log-densities are summed over
the event dimensions named by ``event_ndims`` (default: every axis after the
first, the batch axis), returning one number per example.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

Array = jax.Array

_LOG_2PI = math.log(2.0 * math.pi)


def _sum_event(values: Array, event_ndims: int | None) -> Array:
    """Sums the trailing ``event_ndims`` axes (all but the first when None)."""
    if event_ndims is None:
        event_ndims = values.ndim - 1
    if event_ndims == 0:
        return values
    return jnp.sum(values, axis=tuple(range(-event_ndims, 0)))


def normal_log_prob(x: Array, mean: Array, log_var: Array, *, event_ndims: int | None = None) -> Array:
    """log N(x; mean, diag(exp(log_var))), summed over event dims.

    Args:
      x, mean, log_var: broadcastable, e.g. `[B, D]`.
    Returns:
      `[B]` (with the default ``event_ndims``).
    """
    log_density = -0.5 * (_LOG_2PI + log_var + (x - mean) ** 2 * jnp.exp(-log_var))
    return _sum_event(log_density, event_ndims)


def standard_normal_log_prob(x: Array, *, event_ndims: int | None = None) -> Array:
    """log N(x; 0, I), summed over event dims: `[B, ...] -> [B]`."""
    return _sum_event(-0.5 * (_LOG_2PI + x**2), event_ndims)


def standard_logistic_log_prob(x: Array, *, event_ndims: int | None = None) -> Array:
    """log of the standard logistic density ``e^-x / (1 + e^-x)^2``, summed over event dims.

    NICE's prior; stable for large ``|x|`` via softplus.
    """
    return _sum_event(-x - 2.0 * jax.nn.softplus(-x), event_ndims)


def bernoulli_log_prob(x: Array, logits: Array, *, event_ndims: int | None = None) -> Array:
    """log Bernoulli(x; sigmoid(logits)) for x in {0, 1}, in the stable logits form.

    Uses x·l − softplus(l), which never evaluates log(0) even for saturated logits.
    """
    return _sum_event(x * logits - jax.nn.softplus(logits), event_ndims)


def categorical_log_prob(x: Array, logits: Array, *, event_ndims: int | None = None) -> Array:
    """log Categorical(x; softmax(logits)).

    Args:
      x: integer classes `[B, ...]`.
      logits: `[B, ..., K]`.
    """
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    picked = jnp.take_along_axis(log_probs, x[..., None].astype(jnp.int32), axis=-1)[..., 0]
    return _sum_event(picked, event_ndims)


def discretized_logistic_log_prob(
    x: Array,
    mean: Array,
    log_scale: Array,
    *,
    num_levels: int,
    event_ndims: int | None = None,
) -> Array:
    """Log-mass of a logistic discretized onto ``num_levels`` evenly spaced values in [0, 1].

    x takes values k / (num_levels - 1). Each value owns the bin of half-width
    1 / (2 (num_levels - 1)) around it; the two end bins extend to ∓∞ so the
    masses sum to exactly one (Salimans et al. 2017, PixelCNN++).

    Args:
      x: `[B, ...]` in {0, 1/(L-1), ..., 1}.
      mean, log_scale: broadcastable to x.
    """
    half_bin = 0.5 / (num_levels - 1)
    inv_scale = jnp.exp(-log_scale)
    upper = inv_scale * (x - mean + half_bin)
    lower = inv_scale * (x - mean - half_bin)
    # log(sigmoid(u) - sigmoid(l)) = log sigmoid(u) + log(1 - exp(l - u)) + log sigmoid(-l)
    # rearranged stably: sigmoid(u) - sigmoid(l) = sigmoid(u)·sigmoid(-l)·(1 - exp(l - u)).
    log_mass_mid = jax.nn.log_sigmoid(upper) + jax.nn.log_sigmoid(-lower) + jnp.log(-jnp.expm1(lower - upper))
    log_mass = jnp.where(
        x < half_bin,
        jax.nn.log_sigmoid(upper),  # first bin: (-inf, half_bin)
        jnp.where(x > 1.0 - half_bin, jax.nn.log_sigmoid(-lower), log_mass_mid),
    )
    return _sum_event(log_mass, event_ndims)


def gaussian_kl(mean: Array, log_var: Array) -> Array:
    """KL(N(mean, diag(exp(log_var))) || N(0, I)), summed over the last axis.

    Args:
      mean, log_var: `[..., D]`.
    Returns:
      `[...]`, in nats.
    """
    return 0.5 * jnp.sum(jnp.exp(log_var) + mean**2 - 1.0 - log_var, axis=-1)


def reparameterize(rng: Array, mean: Array, log_var: Array, *, num_samples: int | None = None) -> Array:
    """Draws z = mean + exp(log_var / 2) · ε, ε ~ N(0, I), differentiable in mean, log_var.

    Args:
      rng: a PRNG key.
      mean, log_var: `[B, D]`.
      num_samples: when given, draws that many samples: `[S, B, D]`; else `[B, D]`.
    """
    shape = mean.shape if num_samples is None else (num_samples, *mean.shape)
    noise = jax.random.normal(rng, shape, dtype=mean.dtype)
    return mean + jnp.exp(0.5 * log_var) * noise
