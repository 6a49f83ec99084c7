"""The one input normalisation the sample metrics share: a batch `[N, ...]` as a matrix `[N, D]`."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike


def as_matrix(x: ArrayLike, *, what: str = "samples") -> jax.Array:
    """`[N, ...]` -> `[N, D]` floating array (integers become float32); a scalar fails on one line."""
    x = jnp.asarray(x)
    chex.assert_shape(x, (None, ...), custom_message=f"expected a batch of {what} [N, ...]")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.float32)
    return x.reshape(x.shape[0], -1)
