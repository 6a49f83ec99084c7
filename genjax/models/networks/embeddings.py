"""The sinusoidal embedding of a scalar, shared by the U-Net and the noise-conditional MLP.

`sinusoidal_embedding` is the Transformer's sinusoidal position code (Vaswani et al. 2017) used by
DDPM (Ho et al. 2020) for the timestep: a scalar c becomes
``[sin(c w_0), ..., sin(c w_{h-1}), cos(c w_0), ..., cos(c w_{h-1})]`` with geometric
frequencies ``w_k = max_period^(-k / h)``, h = dim // 2, so w_0 = 1 and w_{h-1} is close to
1 / max_period. Nearby conditioning values get nearby codes at the low frequencies and
distinct codes at the high ones.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array


def embedding_frequencies(dim: int, *, max_period: float = 10000.0) -> np.ndarray:
    """The `[dim // 2]` float32 frequencies ``max_period^(-k / half)`` of `sinusoidal_embedding`.

    Computed in float64 numpy and rounded once, so they are compile-time constants that another
    framework (the PyTorch benchmark twin) can share bit for bit.
    """
    half = dim // 2
    return np.exp(-math.log(max_period) * np.arange(half) / max(half, 1)).astype(np.float32)


def sinusoidal_embedding(values: Array, dim: int, *, max_period: float = 10000.0) -> Array:
    """values `[N]` float -> `[N, dim]` float32: sines in the first half, cosines in the second.

    Frequencies are ``max_period^(-k / half)`` for k = 0..half-1 (half = dim // 2); an odd
    ``dim`` gets a trailing zero column.
    """
    if dim < 1:
        raise ValueError(f"embedding dim must be positive; got {dim}")
    frequencies = embedding_frequencies(dim, max_period=max_period)
    angles = jnp.asarray(values, jnp.float32)[:, None] * frequencies[None, :]
    embedding = jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1)
    if dim % 2:
        embedding = jnp.pad(embedding, ((0, 0), (0, 1)))
    return embedding
