"""Sequential sampling of autoregressive models of binary data, inside one jitted loop.

Pure: the model is any callable ``logits_fn(x [N, D]) -> [N, D]`` whose d-th
output depends only on ``x[:, :d]`` (natural order), from any library.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

Array = jax.Array


def sample_binary_autoregressive(
    rng: Array, logits_fn: Callable[[Array], Array], num_samples: int, num_dims: int
) -> Array:
    """Draws ``x ~ prod_d Bernoulli(sigmoid(logits_fn(x)_d))`` dimension by dimension.

    D passes of ``logits_fn`` inside one ``lax.fori_loop`` (no Python loop over
    dimensions): pass d fills dimension d, which earlier outputs never read.

    Args:
      rng: PRNG key; dimension d uses ``fold_in(rng, d)``.
      logits_fn: `[N, D] -> [N, D]` autoregressive logits.
    Returns:
      `[num_samples, num_dims]` float32 0/1.
    """

    def fill(d, x):
        logits = logits_fn(x)[:, d]
        bit = jax.random.bernoulli(jax.random.fold_in(rng, d), jax.nn.sigmoid(logits))
        return x.at[:, d].set(bit.astype(x.dtype))

    return jax.lax.fori_loop(0, num_dims, fill, jnp.zeros((num_samples, num_dims), jnp.float32))
