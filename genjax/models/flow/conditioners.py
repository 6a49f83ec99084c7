"""Networks that compute a coupling layer's shift and scale from the kept half.

The last layer is zero-initialised (as in Glow), so a fresh coupling is a
fixed, well-scaled map rather than a random one: the identity for the
``tanh`` and ``exp`` scales, and Glow's constant ``sigmoid(2) ~ 0.88``
contraction for ``sigmoid``. Training cannot start from a NaN-producing,
badly scaled transformation.

A conditional flow's ``context`` `[B, C]` (y's features) is concatenated to the
input: as C more features of a vector, or as C constant channels of an image.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.models.networks.convolution import Conv
from genjax.models.networks.layers import activation

Array = jax.Array


class Conditioner(nn.Module):
    """`[B, D] -> [B, out_features]` by an MLP, or `[B, H, W, C] -> [B, H, W, out_features]` by convs.

    The input's rank picks the network: vectors get dense layers of
    ``hidden_sizes``; images get 3x3 convolutions with ``hidden_sizes``
    channels, a 1x1 convolution in between as in Glow's coupling network.
    """

    hidden_sizes: Sequence[int]
    out_features: int
    activation: str = "relu"

    @nn.compact
    def __call__(self, x: Array, context: Array | None = None) -> Array:
        act = activation(self.activation)
        if context is not None:
            context = context.astype(x.dtype)
            if x.ndim == 4:  # the same y at every pixel
                context = jnp.broadcast_to(context[:, None, None, :], (*x.shape[:-1], context.shape[-1]))
            x = jnp.concatenate([x, context], axis=-1)
        if x.ndim == 2:
            h = x
            for size in self.hidden_sizes:
                h = act(nn.Dense(size)(h))
            return nn.Dense(self.out_features, kernel_init=nn.initializers.zeros)(h)
        h = x
        for index, channels in enumerate(self.hidden_sizes):
            kernel = (3, 3) if index == 0 else (1, 1)
            h = act(Conv(channels, kernel, padding="SAME")(h))
        return Conv(self.out_features, (3, 3), padding="SAME", kernel_init=nn.initializers.zeros)(h)
