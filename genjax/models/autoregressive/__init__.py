"""Autoregressive models of binary data: p(x) = prod_d p(x_d | x_<d).

Each module maps ``x [B, D]`` to the logits of every conditional, logit d
reading only ``x[:, :d]``; `log_prob` turns those into exact log-likelihoods.
"""

import jax

from genjax import distributions
from genjax.models.autoregressive.fvsbn import FVSBN
from genjax.models.autoregressive.nade import NADE


def log_prob(logits: jax.Array, x: jax.Array) -> jax.Array:
    """Exact ``log p(x) = sum_d log Bernoulli(x_d; sigmoid(logit_d))``: `[B, D]` -> `[B]` nats."""
    return distributions.bernoulli_log_prob(x, logits)


__all__ = ["FVSBN", "NADE", "log_prob"]
