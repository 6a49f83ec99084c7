"""Bounds for latent-variable models with several stochastic layers (hierarchical VAEs).

Pure functions of arrays and callables; no Flax. The model is a chain of Gaussian
stochastic layers z_1, ..., z_L, given as two callables so that any network plugs in:

* ``posterior_layers``: one callable per layer, in the order the inference network
  samples them, ``layer(previous) -> (mean, log_var)``, each `[B, L_i]`, where
  ``previous`` is the z the previous layer drew (None for the first: it reads x
  through its closure). A bottom-up chain q(z_1|x) q(z_2|z_1) ... samples z_1
  first; a ladder (top-down) posterior q(z_L|x) q(z_{L-1}|z_L, x) ... samples z_L
  first.
* ``generative_log_probs(zs, x) -> (log p(x | z) [B], (log p(z_i | parents) [B], ...))``,
  zs and the per-layer prior terms in the same order as ``posterior_layers``.

Every bound is built from per-sample log weights log p(x, z) − log q(z | x).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp

from genjax.distributions import normal_log_prob, reparameterize

Array = jax.Array
PosteriorLayer = Callable[[Array | None], tuple[Array, Array]]
GenerativeLogProbs = Callable[[tuple[Array, ...], Array], tuple[Array, tuple[Array, ...]]]

__all__ = [
    "HierarchicalTerms",
    "elbo_from_log_weights",
    "hierarchical_elbo",
    "hierarchical_iwae_bound",
    "hierarchical_terms",
    "iwae_from_log_weights",
    "precision_weighted_merge",
]


class HierarchicalTerms(NamedTuple):
    """Per-sample terms of one draw z ~ q(z | x) per example.

    Attributes:
      log_likelihood: log p(x | z), `[S, B]`.
      layer_kl: log q(z_i | ...) − log p(z_i | parents), one column per layer in
        sampling order, `[S, B, L]`; its mean over samples estimates each layer's KL.
    """

    log_likelihood: Array
    layer_kl: Array

    @property
    def log_weights(self) -> Array:
        """log p(x, z) − log q(z | x), `[S, B]`."""
        return self.log_likelihood - jnp.sum(self.layer_kl, axis=-1)


def _one_draw(
    rng: Array, posterior_layers: Sequence[PosteriorLayer], generative_log_probs: GenerativeLogProbs, x: Array
) -> tuple[Array, Array]:
    """One z per example through the chain: (log p(x | z) `[B]`, layer KL samples `[B, L]`)."""
    previous = None
    zs, log_posteriors = [], []
    for layer, layer_rng in zip(posterior_layers, jax.random.split(rng, len(posterior_layers)), strict=True):
        mean, log_var = layer(previous)
        message = "each posterior layer must return (mean, log_var), each [B, L_i]"
        chex.assert_shape([mean, log_var], (x.shape[0], None), custom_message=message)
        previous = reparameterize(layer_rng, mean, log_var)
        zs.append(previous)
        log_posteriors.append(normal_log_prob(previous, mean, log_var, event_ndims=1))
    log_likelihood, log_priors = generative_log_probs(tuple(zs), x)
    chex.assert_shape(log_likelihood, (x.shape[0],), custom_message="log p(x | z) must be [B]")
    if len(log_priors) != len(zs):
        raise ValueError(f"generative_log_probs gave {len(log_priors)} prior terms for {len(zs)} layers")
    layer_kl = jnp.stack([q - p for q, p in zip(log_posteriors, log_priors, strict=True)], axis=-1)
    return log_likelihood, layer_kl


def hierarchical_terms(
    rng: Array,
    posterior_layers: Sequence[PosteriorLayer],
    generative_log_probs: GenerativeLogProbs,
    x: Array,
    *,
    num_samples: int = 1,
) -> HierarchicalTerms:
    """``num_samples`` reparameterized draws z ~ q(z | x) and their log-density terms.

    Args:
      rng: PRNG key.
      posterior_layers: see the module docstring; at least one layer.
      generative_log_probs: see the module docstring.
      x: `[B, ...]`.
      num_samples: S.
    Returns:
      `HierarchicalTerms` with `[S, B]` and `[S, B, L]` arrays.
    """
    if not posterior_layers:
        raise ValueError("posterior_layers: need at least one stochastic layer")
    chex.assert_shape(x, (None, ...), custom_message="x must be a batch [B, ...]")
    draw = lambda key: _one_draw(key, posterior_layers, generative_log_probs, x)  # noqa: E731
    # vmap leaves x-only work (the first layer, a ladder's bottom-up pass) unbatched.
    log_likelihood, layer_kl = jax.vmap(draw)(jax.random.split(rng, num_samples))
    return HierarchicalTerms(log_likelihood, layer_kl)


def elbo_from_log_weights(log_weights: Array) -> Array:
    """The ELBO estimate: the mean of log weights over samples, `[S, B] -> [B]`."""
    return jnp.mean(log_weights, axis=0)


def iwae_from_log_weights(log_weights: Array) -> Array:
    """The IWAE bound log (1/S) Σ_s w_s, `[S, B] -> [B]` (Burda et al. 2016)."""
    return jax.nn.logsumexp(log_weights, axis=0) - math.log(log_weights.shape[0])


def hierarchical_elbo(
    rng: Array,
    posterior_layers: Sequence[PosteriorLayer],
    generative_log_probs: GenerativeLogProbs,
    x: Array,
    *,
    num_samples: int = 1,
) -> Array:
    """Per-example ELBO E_q[log p(x, z) − log q(z | x)], a Monte Carlo average, `[B]` nats."""
    terms = hierarchical_terms(rng, posterior_layers, generative_log_probs, x, num_samples=num_samples)
    return elbo_from_log_weights(terms.log_weights)


def hierarchical_iwae_bound(
    rng: Array,
    posterior_layers: Sequence[PosteriorLayer],
    generative_log_probs: GenerativeLogProbs,
    x: Array,
    *,
    num_samples: int,
    chunk_size: int | None = None,
) -> Array:
    """The IWAE bound with K = ``num_samples`` draws of the whole chain, `[B]` nats.

    Args:
      chunk_size: draw the K samples in chunks of this many (a divisor of K), so
        memory stays at one chunk however large K is (K = 5000 for test NLLs).
    """
    chunk_size = num_samples if chunk_size is None else chunk_size
    if num_samples % chunk_size:
        raise ValueError(f"chunk_size {chunk_size} must divide num_samples {num_samples}")

    def accumulate(running_logsumexp: Array, chunk_index: Array) -> tuple[Array, None]:
        chunk_rng = jax.random.fold_in(rng, chunk_index)
        terms = hierarchical_terms(
            chunk_rng, posterior_layers, generative_log_probs, x, num_samples=chunk_size
        )
        return jnp.logaddexp(running_logsumexp, jax.nn.logsumexp(terms.log_weights, axis=0)), None

    initial = jnp.full(x.shape[:1], -jnp.inf, dtype=jnp.float32)
    total, _ = jax.lax.scan(accumulate, initial, jnp.arange(num_samples // chunk_size))
    return total - math.log(num_samples)


def precision_weighted_merge(
    mean_a: Array, log_var_a: Array, mean_b: Array, log_var_b: Array
) -> tuple[Array, Array]:
    """The normalised product of two diagonal Gaussians: (mean, log_var), each `[..., L]` like the inputs.

    The ladder VAE's posterior (Sønderby et al. 2016) merges the bottom-up estimate
    with the top-down prior this way: precisions add, and the mean is the
    precision-weighted average of the two means.
    """
    precision_a, precision_b = jnp.exp(-log_var_a), jnp.exp(-log_var_b)
    log_var = -jnp.logaddexp(-log_var_a, -log_var_b)
    mean = (mean_a * precision_a + mean_b * precision_b) * jnp.exp(log_var)
    return mean, log_var
