"""Exact log-likelihoods of normalizing flows, and the accounting for discrete data.

A flow maps data ``x`` to latents ``z = f(x)``; by the change of variables

    log p(x) = log p_Z(z) + log |det dz/dx|.

Image data are discrete (``L`` levels per dimension). A density is fitted to
uniformly dequantized values ``y = (x + u) / L``, ``u ~ U[0, 1)^D``, which
live in the bin of width ``1/L`` of ``x``; by Jensen,

    log P(x) >= E_u[log p(y)] - D log L,

so reporting ``log p(y) - D log L`` gives a (stochastic lower bound on the)
log-likelihood of the *discrete* data, comparable across papers. Data in
``[0, 1]`` are often mapped to the real line by the logit transform first;
its log-determinant (`genjax.bijections.logit_transform`) is part of ``log p(y)``.

Everything here is a pure function of arrays (numpy or JAX where noted).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import chex
import jax
import jax.numpy as jnp

from genjax import distributions

Array = jax.Array


def flow_log_prob(
    z: Array, log_det: Array, *, base_log_prob: Callable[[Array], Array] | None = None
) -> Array:
    """log p(x) = log p_Z(z) + log |det dz/dx|, per example.

    Args:
      z: `[B, ...]` latents ``f(x)``.
      log_det: `[B]` log |det dz/dx|.
      base_log_prob: ``z -> [B]``; default the standard normal over all non-batch axes.
    Returns:
      `[B]` log-density in nats.
    """
    chex.assert_shape(z, (None, ...), custom_message="z must be a batch [B, ...]")
    chex.assert_shape(log_det, (z.shape[0],), custom_message="log_det must be [B], one per example of z")
    base = distributions.standard_normal_log_prob(z) if base_log_prob is None else base_log_prob(z)
    chex.assert_shape(base, (z.shape[0],), custom_message="base_log_prob(z) must return [B]")
    return base + log_det


def uniform_dequantize(rng: Array, x: Array, *, num_levels: int) -> Array:
    """``y = (x + u) / L`` with ``u ~ U[0, 1)``: integer levels to values in ``[0, 1)``.

    The JAX counterpart of the data pipeline's dequantization, for users who
    dequantize inside their own step.

    Args:
      rng: PRNG key.
      x: `[B, ...]` integer levels in ``{0, ..., L-1}`` (any dtype).
      num_levels: L.
    Returns:
      `[B, ...]` float32 values, each in its level's bin ``[x/L, (x+1)/L)``.
    """
    u = jax.random.uniform(rng, x.shape, jnp.float32)
    y = (x.astype(jnp.float32) + u) / num_levels
    # float32 rounding can land exactly on the upper edge; stay inside the bin.
    upper = jnp.nextafter((x.astype(jnp.float32) + 1.0) / num_levels, jnp.float32(0))
    return jnp.minimum(y, upper)


def dequantized_log_prob(log_density: Array, *, num_dims: int, num_levels: int) -> Array:
    """Log-likelihood of the discrete data from the density of its dequantized values.

    ``log P(x) >= log p(y) - D log L`` for ``y`` in ``x``'s bin of width ``1/L``
    (exact in expectation over ``u`` when the density is constant on bins).

    Args:
      log_density: `[B]` ``log p(y)`` in nats, ``y`` in ``[0, 1)^D``.
      num_dims: D, dimensions per example.
      num_levels: L, levels per dimension.
    Returns:
      `[B]` nats.
    """
    return log_density - num_dims * math.log(num_levels)
