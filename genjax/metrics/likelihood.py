"""Likelihood metrics: nats to bits per dimension (in the data's original space) and perplexity."""

from __future__ import annotations

import math

import jax.numpy as jnp
from jax.typing import ArrayLike


def bits_per_dim(nll_nats: ArrayLike, num_dims: int, *, num_levels: int | None = None) -> jnp.ndarray:
    """Converts a negative log-likelihood in nats per example to bits per dimension.

    With ``num_levels`` (L), ``nll_nats`` is a *continuous* density's
    ``-log p(y)`` of uniformly dequantized data ``y = (x + u) / L`` in
    ``[0, 1)^D``, and the result is in the original discrete space:
    ``(-log p(y) + D log L) / (D ln 2)`` (see `genjax.losses.dequantized_log_prob`).
    A model that is uniform on ``[0, 1)^D`` then scores exactly ``log2 L``.

    Args:
      nll_nats: −log p in nats, any shape (e.g. `[B]` or a scalar mean).
      num_dims: the number of dimensions D of one example (e.g. 28·28 = 784).
      num_levels: L for dequantized data; None when ``nll_nats`` is already discrete.
    Returns:
      bits per dimension, same shape as ``nll_nats``.
    """
    if num_dims <= 0:
        raise ValueError(f"num_dims must be positive, got {num_dims}")
    nll = jnp.asarray(nll_nats)
    if num_levels is not None:
        if num_levels < 2:
            raise ValueError(f"num_levels must be at least 2, got {num_levels}")
        nll = nll + num_dims * math.log(num_levels)
    return nll / (num_dims * math.log(2.0))


def perplexity(nll_nats: ArrayLike, num_tokens: ArrayLike) -> jnp.ndarray:
    """Per-token perplexity of a sequence's total negative log-likelihood: ``exp(nll / num_tokens)``.

    The geometric-mean inverse probability per token: a model that is uniform
    over V tokens scores exactly V, a perfect one 1.

    Args:
      nll_nats: −log p(sequence) in nats, summed over its tokens; any shape (e.g. `[B]`).
      num_tokens: tokens per sequence (T), a positive int or an array broadcastable
        to ``nll_nats`` (e.g. per-sequence lengths `[B]`).
    Returns:
      perplexity, shape of ``nll_nats`` broadcast with ``num_tokens``.
    """
    if isinstance(num_tokens, (int, float)) and num_tokens <= 0:
        raise ValueError(f"num_tokens must be positive, got {num_tokens}")
    return jnp.exp(jnp.asarray(nll_nats) / num_tokens)
