"""Layers shared across families: MLPs and strided conv stacks (masked convolutions: `masked`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.errors import ConfigError
from genjax.models.networks.convolution import Conv, ConvTranspose
from genjax.models.networks.masked import MaskedConv2D, pixel_mask  # noqa: F401  (re-exported)

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": nn.relu,
    "tanh": nn.tanh,
    "gelu": nn.gelu,
    "silu": nn.silu,
    "softplus": nn.softplus,
    "leaky_relu": nn.leaky_relu,
    "elu": nn.elu,
}


def activation(name: str, *, field: str = "model.activation") -> Callable[[jax.Array], jax.Array]:
    if name not in ACTIVATIONS:
        raise ConfigError(f"{field}: got {name!r}; allowed: {', '.join(sorted(ACTIVATIONS))}")
    return ACTIVATIONS[name]


def rbg_key(rng: jax.Array) -> jax.Array:
    """An "rbg" key derived from ``rng`` (typed or raw threefry): for conv-net inits and dropout masks.

    Why: XLA:CPU compiles the threefry draws of many parameter tensors slowly under
    ``jax_threefry_partitionable`` (a small U-Net's jitted init: 8.7 s to compile, 1.3 s with
    this key). Deterministic for a given seed and backend; the values differ from a threefry init.
    """
    is_typed = jnp.issubdtype(rng.dtype, jax.dtypes.prng_key)
    data = jax.random.key_data(rng) if is_typed else rng
    return jax.random.wrap_key_data(jnp.concatenate([data, data]).astype(jnp.uint32), impl="rbg")


class MLP(nn.Module):
    """Dense layers with an activation between them; the last layer is linear.

    Flattens all but the leading axis first: `[B, ...] -> [B, out_features]`.
    """

    hidden_sizes: Sequence[int]
    out_features: int
    activation: str = "relu"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = activation(self.activation)
        h = x.reshape(x.shape[0], -1)
        for size in self.hidden_sizes:
            h = act(nn.Dense(size)(h))
        return nn.Dense(self.out_features)(h)


class ConvDownsampler(nn.Module):
    """Stride-2 3x3 convolutions, halving H and W per layer: `[B, H, W, C] -> [B, H', W', F]`."""

    features: Sequence[int]
    activation: str = "relu"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = activation(self.activation)
        for width in self.features:
            x = act(Conv(width, (3, 3), strides=(2, 2), padding="SAME")(x))
        return x


class ConvUpsampler(nn.Module):
    """Stride-2 transposed convolutions doubling H and W, then a 3x3 conv to ``out_channels``."""

    features: Sequence[int]
    out_channels: int
    activation: str = "relu"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = activation(self.activation)
        for width in self.features:
            x = act(ConvTranspose(width, (3, 3), strides=(2, 2), padding="SAME")(x))
        return Conv(self.out_channels, (3, 3), padding="SAME")(x)
