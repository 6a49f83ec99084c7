"""How networks see y: a learned embedding, or y's plain features for concatenation.

`ConditionEmbedding` maps class labels through a table of ``num_classes + 1``
rows (the last is the "no label" row classifier-free guidance trains; see
`genjax.models.conditioning`) and a conditioning array through a dense layer.
Families add it to a time or noise embedding (DDPM, NCSN), project it onto
features (the projection discriminator), or concatenate `condition_features`
to their inputs (cVAE, coupling conditioners, MADE).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.models.conditioning import Conditioning

Array = jax.Array


class ConditionEmbedding(nn.Module):
    """y -> `[B, features]`: ``Embed(num_classes + 1, features)`` for labels `[B]`, else
    ``Dense(features)`` of the flattened conditioning array `[B, *cond_shape]`."""

    conditioning: Conditioning
    features: int

    @nn.compact
    def __call__(self, y: Array) -> Array:
        if self.conditioning.labels:
            return nn.Embed(self.conditioning.num_classes + 1, self.features, name="label_embedding")(y)
        return nn.Dense(self.features, name="cond_projection")(y.reshape(y.shape[0], -1))


def condition_features(conditioning: Conditioning, y: Array, dtype=jnp.float32) -> Array:
    """y as plain features `[B, C]`: one-hot labels (C = num_classes; the null label is all
    zeros) or the flattened conditioning array (C = prod(cond_shape))."""
    if conditioning.labels:
        return jax.nn.one_hot(y, conditioning.num_classes, dtype=dtype)
    return y.reshape(y.shape[0], -1).astype(dtype)
