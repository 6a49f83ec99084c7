"""Label dropout, the training half of classifier-free guidance (Ho & Salimans 2022).

A conditional network learns both p(x | y) and p(x) when each training label is replaced,
independently with probability ``rate``, by a "no label" id (``null_label``, by convention
``num_classes``: one embedding row past the real classes). Sampling then combines the two
predictions (`genjax.samplers.guidance`).
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

Array = jax.Array


def drop_labels(rng: Array, labels: Array, *, rate: float, null_label: int) -> Array:
    """Each label replaced by ``null_label`` with probability ``rate``, independently `[B]`.

    Args:
      rng: PRNG key (one Bernoulli draw per label).
      labels: `[B]` integer class ids.
      rate: dropout probability in [0, 1) (a Python number; 0 returns ``labels`` unchanged).
      null_label: the "no label" id, usually ``num_classes``.
    Returns:
      `[B]` labels, same dtype.
    Raises:
      ValueError: ``rate`` outside [0, 1) (1 would leave no conditional examples to learn from).
    """
    if not 0 <= rate < 1:
        raise ValueError(f"drop_labels: rate must be in [0, 1); got {rate!r}")
    labels = jnp.asarray(labels)
    chex.assert_rank(labels, 1, custom_message="labels must be class ids [B]")
    chex.assert_type(labels, int, custom_message="labels must be integer class ids [B]")
    if rate == 0:
        return labels
    dropped = jax.random.bernoulli(rng, rate, labels.shape)
    return jnp.where(dropped, jnp.asarray(null_label, labels.dtype), labels)
