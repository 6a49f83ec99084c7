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
its log-determinant is part of ``log p(y)``.

Everything here is a pure function of arrays (numpy or JAX where noted).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from genjax import distributions

Array = jax.Array


def flow_log_prob(z: Array, log_det: Array, base_log_prob: Callable[[Array], Array] | None = None) -> Array:
    """log p(x) = log p_Z(z) + log |det dz/dx|, per example.

    Args:
      z: `[B, ...]` latents ``f(x)``.
      log_det: `[B]` log |det dz/dx|.
      base_log_prob: ``z -> [B]``; default the standard normal over all non-batch axes.
    Returns:
      `[B]` log-density in nats.
    """
    base = distributions.standard_normal_log_prob(z) if base_log_prob is None else base_log_prob(z)
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


def _namespace(x):
    return jnp if isinstance(x, jax.Array) else np


def logit_transform(y, alpha: float = 0.05):
    """Logit transform (RealNVP): ``z = logit(a + (1 - 2a) y)`` maps ``[0, 1]`` to the real line.

    Squeezing by ``alpha`` keeps ``z`` finite at y = 0 or 1. Densities change by
    the log-determinant: ``log p_y(y) = log p_z(z) + log_det``.

    Args:
      y: `[N, ...]` values in [0, 1] (numpy or JAX).
      alpha: squeeze in [0, 0.5).
    Returns:
      z: `[N, ...]` same shape and array type as ``y``.
      log_det: `[N]` log |dz/dy| summed over all non-batch axes.
    """
    xp = _namespace(y)
    s = alpha + (1 - 2 * alpha) * y
    z = xp.log(s) - xp.log1p(-s)
    # dz/dy = (1 - 2a) / (s (1 - s)) elementwise: the Jacobian is diagonal.
    log_det_elem = math.log(1 - 2 * alpha) - xp.log(s) - xp.log1p(-s)
    return z, log_det_elem.reshape(log_det_elem.shape[0], -1).sum(axis=1)


def inverse_logit_transform(z, alpha: float = 0.05):
    """Inverse of :func:`logit_transform`: ``y = (sigmoid(z) - a) / (1 - 2a)``.

    Returns:
      y: `[N, ...]` same shape and array type as ``z``.
      log_det: `[N]` log |dy/dz| summed over non-batch axes (minus the forward one).
    """
    xp = _namespace(z)
    # log sigmoid(z) and log(1 - sigmoid(z)) without overflow for large |z|.
    log_s = -xp.logaddexp(0.0, -z)
    log_one_minus_s = -xp.logaddexp(0.0, z)
    y = (xp.exp(log_s) - alpha) / (1 - 2 * alpha)
    log_det_elem = log_s + log_one_minus_s - math.log(1 - 2 * alpha)
    return y, log_det_elem.reshape(log_det_elem.shape[0], -1).sum(axis=1)
