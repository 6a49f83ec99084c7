"""Likelihood metrics: nats to bits per dimension."""

from __future__ import annotations

import math

import jax.numpy as jnp
from jax.typing import ArrayLike


def bits_per_dim(nll_nats: ArrayLike, num_dims: int) -> jnp.ndarray:
    """Converts a negative log-likelihood in nats per example to bits per dimension.

    Args:
      nll_nats: −log p(x) in nats, any shape (e.g. `[B]` or a scalar mean).
      num_dims: the number of dimensions D of one example (e.g. 28·28 = 784).
    Returns:
      nll / (D · ln 2), same shape as ``nll_nats``.
    """
    if num_dims <= 0:
        raise ValueError(f"num_dims must be positive, got {num_dims}")
    return jnp.asarray(nll_nats) / (num_dims * math.log(2.0))
