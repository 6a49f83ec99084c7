"""Log-densities and samplers as pure functions of arrays.

Nothing here imports Flax: every function takes and returns `jax.Array`s, so the
same code serves genjax's models and anyone else's. Log-densities are summed over
the event dimensions named by ``event_ndims`` (default: every axis after the
first, the batch axis), returning one number per example.
"""

from __future__ import annotations

import math

import chex
import jax
import jax.numpy as jnp
from jax.scipy.special import log_ndtr

# The sampling primitives (genjax.random_variates) are public here too: genjax.distributions.box_muller.
from genjax.random_variates import (  # noqa: F401
    RejectionSamples,
    box_muller,
    gumbel_max_sample,
    inverse_cdf_sample,
    rejection_sample,
)
from genjax.reduce import sum_except_batch

Array = jax.Array

_LOG_2PI = math.log(2.0 * math.pi)


def normal_log_prob(x: Array, mean: Array, log_var: Array, *, event_ndims: int | None = None) -> Array:
    """log N(x; mean, diag(exp(log_var))), summed over event dims.

    Args:
      x, mean, log_var: broadcastable, e.g. `[B, D]`.
    Returns:
      `[B]` (with the default ``event_ndims``).
    """
    log_density = -0.5 * (_LOG_2PI + log_var + (x - mean) ** 2 * jnp.exp(-log_var))
    return sum_except_batch(log_density, event_ndims=event_ndims)


def standard_normal_log_prob(x: Array, *, event_ndims: int | None = None) -> Array:
    """log N(x; 0, I), summed over event dims: `[B, ...] -> [B]`."""
    return sum_except_batch(-0.5 * (_LOG_2PI + x**2), event_ndims=event_ndims)


def standard_logistic_log_prob(x: Array, *, event_ndims: int | None = None) -> Array:
    """log of the standard logistic density ``e^-x / (1 + e^-x)^2``, summed over event dims: `[B]`.

    NICE's prior; stable for large ``|x|`` via softplus.
    """
    return sum_except_batch(-x - 2.0 * jax.nn.softplus(-x), event_ndims=event_ndims)


def bernoulli_log_prob(x: Array, logits: Array, *, event_ndims: int | None = None) -> Array:
    """log Bernoulli(x; sigmoid(logits)) for x in {0, 1}, in the stable logits form; `[B]` by default.

    Uses x·l − softplus(l), which never evaluates log(0) even for saturated logits.
    """
    return sum_except_batch(x * logits - jax.nn.softplus(logits), event_ndims=event_ndims)


def categorical_log_prob(x: Array, logits: Array, *, event_ndims: int | None = None) -> Array:
    """log Categorical(x; softmax(logits)).

    Args:
      x: integer classes `[B, ...]`.
      logits: `[B, ..., K]`.
    """
    chex.assert_shape(logits, (*jnp.shape(x), None), custom_message="logits must be [*x.shape, K]")
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    picked = jnp.take_along_axis(log_probs, x[..., None].astype(jnp.int32), axis=-1)[..., 0]
    return sum_except_batch(picked, event_ndims=event_ndims)


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
    return sum_except_batch(log_mass, event_ndims=event_ndims)


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
    chex.assert_equal_shape([mean, log_var], custom_message="mean and log_var must have the same shape")
    shape = mean.shape if num_samples is None else (num_samples, *mean.shape)
    noise = jax.random.normal(rng, shape, dtype=mean.dtype)
    return mean + jnp.exp(0.5 * log_var) * noise


# PixelCNN++'s floor on mixture log-scales. Below it exp(-log_scale) heads for float32
# overflow (inf * 0 = NaN at a bin edge) and gradients grow like |x - mean| / scale.
# e^-7 ≈ 9e-4 is a quarter of a bin at 256 levels (a component centred on a level
# still puts ~79% of its mass there, more at fewer levels): little likelihood lost.
MIN_LOG_SCALE = -7.0


def _check_mixture(logit_weights: Array, means: Array, scales: Array) -> None:
    """The three parameter blocks of a K-component mixture, each `[..., K]`."""
    message = "logit_weights, means and the scales must share one shape [..., K]"
    chex.assert_shape(logit_weights, (..., None), custom_message=message)
    chex.assert_equal_shape([logit_weights, means, scales], custom_message=message)


def _split_mixture_sample(rng: Array, logit_weights: Array, means: Array, log_scales: Array):
    """Picks one component per position: (mean, its ``log_scales`` entry, noise key), each `[...]`."""
    _check_mixture(logit_weights, means, log_scales)
    component_key, noise_key = jax.random.split(rng)
    component = jax.random.categorical(component_key, logit_weights, axis=-1)[..., None]
    mean = jnp.take_along_axis(means, component, axis=-1)[..., 0]
    log_scale = jnp.take_along_axis(log_scales, component, axis=-1)[..., 0]
    return mean, log_scale, noise_key


def discretized_logistic_mixture_log_prob(
    x: Array, logit_weights: Array, means: Array, log_scales: Array, *, num_levels: int
) -> Array:
    """Log-mass of a mixture of K logistics discretized onto ``num_levels`` values in [0, 1].

    PixelCNN++ (Salimans et al. 2017): each component is discretized as in
    `discretized_logistic_log_prob` (end bins reach ∓∞, so every component sums to
    one over the L values) and the components are mixed with softmax weights.

    Args:
      x: `[...]` in {0, 1/(L-1), ..., 1}.
      logit_weights, means, log_scales: `[..., K]`; log-scales are floored at
        `MIN_LOG_SCALE`.
    Returns:
      `[...]` log-masses in nats.
    """
    _check_mixture(logit_weights, means, log_scales)
    log_scales = jnp.maximum(log_scales, MIN_LOG_SCALE)
    per_component = discretized_logistic_log_prob(
        x[..., None], means, log_scales, num_levels=num_levels, event_ndims=0
    )
    return jax.nn.logsumexp(per_component + jax.nn.log_softmax(logit_weights, axis=-1), axis=-1)


def discretized_logistic_mixture_sample(
    rng: Array, logit_weights: Array, means: Array, log_scales: Array, *, num_levels: int
) -> Array:
    """Samples `discretized_logistic_mixture_log_prob`: `[..., K]` params -> `[...]` in {k/(L-1)}.

    Draws a component, a logistic by inverting its CDF, then the grid value whose
    bin holds it (rounding to the nearest level; clipping gives the end bins their tails).
    """
    mean, log_scale, noise_key = _split_mixture_sample(rng, logit_weights, means, log_scales)
    log_scale = jnp.maximum(log_scale, MIN_LOG_SCALE)
    # Open interval: log(u) - log(1 - u) stays finite.
    u = jax.random.uniform(noise_key, mean.shape, minval=1e-6, maxval=1.0 - 1e-6)
    value = mean + jnp.exp(log_scale) * (jnp.log(u) - jnp.log1p(-u))
    level = jnp.clip(jnp.round(value * (num_levels - 1)), 0, num_levels - 1)
    return level / (num_levels - 1)


def gaussian_mixture_log_prob(x: Array, logit_weights: Array, means: Array, log_vars: Array) -> Array:
    """log of a 1-D mixture of K Gaussians, one per position.

    Args:
      x: `[...]` real values.
      logit_weights, means, log_vars: `[..., K]` (log-variances, like every Gaussian here).
    Returns:
      `[...]` log-densities in nats.
    """
    _check_mixture(logit_weights, means, log_vars)
    z = (x[..., None] - means) * jnp.exp(-0.5 * log_vars)
    per_component = -0.5 * (_LOG_2PI + z**2 + log_vars)
    return jax.nn.logsumexp(per_component + jax.nn.log_softmax(logit_weights, axis=-1), axis=-1)


def gaussian_mixture_sample(rng: Array, logit_weights: Array, means: Array, log_vars: Array) -> Array:
    """Samples `gaussian_mixture_log_prob`: `[..., K]` params -> `[...]` real values."""
    mean, log_var, noise_key = _split_mixture_sample(rng, logit_weights, means, log_vars)
    return mean + jnp.exp(0.5 * log_var) * jax.random.normal(noise_key, mean.shape, dtype=mean.dtype)


# Floor on a bin's probability: keeps log and its gradient finite when a float32
# CDF difference rounds to zero (the true mass is then below ~1e-7 anyway).
_MIN_MASS = 1e-30


def normal_kl(mean_q: Array, log_var_q: Array, mean_p: Array, log_var_p: Array) -> Array:
    """Elementwise KL(N(mean_q, exp(log_var_q)) || N(mean_p, exp(log_var_p))) in nats, `[...]` broadcast."""
    return 0.5 * (
        log_var_p - log_var_q + (jnp.exp(log_var_q) + (mean_q - mean_p) ** 2) * jnp.exp(-log_var_p) - 1.0
    )


def _log_mass_between(upper: Array, lower: Array) -> Array:
    """log(Phi(upper) - Phi(lower)) for upper > lower, accurate in both tails.

    Reflects intervals right of 0 so the CDFs involved are at most 1/2, where
    log_ndtr keeps full relative precision, then factors out the larger one.
    """
    reflect = lower > 0.0
    high = jnp.where(reflect, -lower, upper)
    low = jnp.where(reflect, -upper, lower)
    log_high = log_ndtr(high)
    return log_high + jnp.log(jnp.maximum(-jnp.expm1(log_ndtr(low) - log_high), _MIN_MASS))


def discretized_gaussian_log_prob(
    x: Array, mean: Array, log_var: Array, *, num_levels: int, event_ndims: int | None = None
) -> Array:
    """Log-mass of N(mean, exp(log_var)) discretized onto ``num_levels`` values of [-1, 1].

    x takes values -1 + 2k / (L - 1); each owns the bin of half-width 1 / (L - 1)
    around it, the two end bins extending to -inf and +inf, so the masses sum to
    one for any mean and variance (Ho et al. 2020's decoder, for any L, not only 256).

    Args:
      x: `[B, ...]` on the grid; mean, log_var (log-variance): broadcastable to x.
      event_ndims: trailing axes summed (None: all but the first).
    Returns:
      `[B]` (default event_ndims), nats.
    """
    half_bin = 1.0 / (num_levels - 1)
    inv_scale = jnp.exp(-0.5 * log_var)
    upper = (x - mean + half_bin) * inv_scale
    lower = (x - mean - half_bin) * inv_scale
    log_mass = jnp.where(
        x < -1.0 + half_bin,
        log_ndtr(upper),  # first bin: (-inf, -1 + half_bin)
        jnp.where(x > 1.0 - half_bin, log_ndtr(-lower), _log_mass_between(upper, lower)),
    )
    return sum_except_batch(log_mass, event_ndims=event_ndims)
