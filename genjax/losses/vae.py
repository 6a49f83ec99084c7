"""Variational bounds for latent-variable models: the ELBO and the IWAE bound.

Pure functions of arrays and callables; no Flax. The model is given as two
callables so any framework's networks plug in:

* ``encode(x) -> (mean, log_var)``: the Gaussian posterior q(z | x), each `[B, L]`;
* ``decode_log_prob(z, x) -> [B]``: log p(x | z) for z `[B, L]`.

The prior is N(0, I).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import chex
import jax
import jax.numpy as jnp

from genjax.distributions import (
    gaussian_kl,
    normal_log_prob,
    reparameterize,
    standard_normal_log_prob,
)

Array = jax.Array
Encoder = Callable[[Array], tuple[Array, Array]]
DecoderLogProb = Callable[[Array, Array], Array]

__all__ = ["elbo", "gaussian_kl", "iwae_bound", "reparameterize"]


def _encode(encode: Encoder, x: Array) -> tuple[Array, Array]:
    """``encode(x)``, checked (at trace time) to be the posterior's (mean, log_var), each `[B, L]`."""
    chex.assert_shape(x, (None, ...), custom_message="x must be a batch [B, ...]")
    mean, log_var = encode(x)
    message = "encode(x) must return (mean, log_var), each [B, L]"
    chex.assert_shape([mean, log_var], (x.shape[0], None), custom_message=message)
    chex.assert_equal_shape([mean, log_var], custom_message=message)
    return mean, log_var


def _decode(decode_log_prob: DecoderLogProb, z: Array, x: Array) -> Array:
    """``decode_log_prob(z, x)``, checked to be one log-likelihood per example `[B]` (not per pixel)."""
    log_likelihood = decode_log_prob(z, x)
    chex.assert_shape(log_likelihood, (x.shape[0],), custom_message="decode_log_prob(z, x) must return [B]")
    return log_likelihood


def elbo(
    rng: Array,
    encode: Encoder,
    decode_log_prob: DecoderLogProb,
    x: Array,
    *,
    num_samples: int = 1,
    beta: float = 1.0,
) -> Array:
    """Per-example evidence lower bound E_q[log p(x|z)] − β·KL(q(z|x) || p(z)), in nats.

    The KL term is analytic; the reconstruction term is a reparameterized Monte
    Carlo average over ``num_samples`` draws. β = 1 gives the ELBO, a lower
    bound on log p(x); β ≠ 1 gives the β-VAE objective, which is not.

    Args:
      rng: PRNG key.
      x: `[B, ...]`.
    Returns:
      `[B]`.
    """
    mean, log_var = _encode(encode, x)
    if num_samples == 1:
        # The common case: no sample axis, so XLA sees plain [B, ...] matmuls
        # (a vmap over a size-1 axis costs ~5% of a CPU train step in transposes).
        reconstruction = _decode(decode_log_prob, reparameterize(rng, mean, log_var), x)
    else:
        z = reparameterize(rng, mean, log_var, num_samples=num_samples)  # [S, B, L]
        reconstruction = jnp.mean(jax.vmap(lambda z_s: _decode(decode_log_prob, z_s, x))(z), axis=0)
    return reconstruction - beta * gaussian_kl(mean, log_var)


def iwae_bound(
    rng: Array,
    encode: Encoder,
    decode_log_prob: DecoderLogProb,
    x: Array,
    *,
    num_samples: int,
    chunk_size: int | None = None,
) -> Array:
    """Importance-weighted bound log (1/K) Σ_k p(x, z_k) / q(z_k | x), z_k ~ q(z | x).

    Burda et al. (2016). It equals the ELBO's expectation for K = 1, rises
    monotonically in expectation with K, and tends to log p(x) as K → ∞, which is
    how genjax estimates a VAE's test log-likelihood (K = 5000).

    Args:
      rng: PRNG key.
      x: `[B, ...]`.
      num_samples: K.
      chunk_size: draw the K samples in chunks of this many (a divisor of K), so
        memory stays at `[chunk, B, ...]` however large K is. None: all at once.
    Returns:
      `[B]`, nats.
    """
    chunk_size = num_samples if chunk_size is None else chunk_size
    if num_samples % chunk_size:
        raise ValueError(f"chunk_size {chunk_size} must divide num_samples {num_samples}")
    mean, log_var = _encode(encode, x)

    def log_weights(chunk_rng: Array) -> Array:  # [chunk, B]
        z = reparameterize(chunk_rng, mean, log_var, num_samples=chunk_size)
        log_likelihood = jax.vmap(lambda z_s: _decode(decode_log_prob, z_s, x))(z)
        log_prior = standard_normal_log_prob(z, event_ndims=1)
        log_posterior = normal_log_prob(z, mean, log_var, event_ndims=1)
        return log_likelihood + log_prior - log_posterior

    def accumulate(running_logsumexp: Array, chunk_index: Array) -> tuple[Array, None]:
        chunk = log_weights(jax.random.fold_in(rng, chunk_index))
        return jnp.logaddexp(running_logsumexp, jax.nn.logsumexp(chunk, axis=0)), None

    initial = jnp.full(mean.shape[:1], -jnp.inf, dtype=mean.dtype)
    total, _ = jax.lax.scan(accumulate, initial, jnp.arange(num_samples // chunk_size))
    return total - math.log(num_samples)
