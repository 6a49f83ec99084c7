"""The input side shared by the sequence models (WaveNet, LSTM, Transformer).

Slot t of the network's input holds x_{t-1}, and slot 0 a learned start
vector, so output t can only depend on the data before t. Real values go
through a Dense layer of the scalar, token ids through an embedding.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.models.precision import compute_dtype_of

Array = jax.Array


class ShiftedInput(nn.Module):
    """`x [B, T] -> [B, T, features]`, slot t encoding x_{t-1} (the start vector at t = 0).

    Attributes:
      features: width of the encoding.
      vocab_size: None for real-valued inputs (Dense of the scalar), else the
        number of token ids (nn.Embed).
    """

    features: int
    vocab_size: int | None = None

    def setup(self):
        if self.vocab_size is None:
            self.encoder = nn.Dense(self.features)
        else:
            self.encoder = nn.Embed(self.vocab_size, self.features)
        self.start = self.param("start", nn.initializers.normal(1.0), (self.features,))

    def encode(self, x: Array) -> Array:
        """`x [...] -> [..., features]` (float scalars or integer token ids)."""
        if self.vocab_size is None:
            return self.encoder(x.astype(compute_dtype_of(x))[..., None])  # bfloat16 stays bfloat16
        return self.encoder(x.astype(jnp.int32))

    def __call__(self, x: Array) -> Array:
        start = jnp.broadcast_to(self.start, (x.shape[0], 1, self.features))
        return jnp.concatenate([start, self.encode(x[:, :-1])], axis=1)

    def at(self, x_prev: Array, t: Array) -> Array:
        """The input of step t alone: `x_prev [B]` (ignored at t == 0) -> `[B, features]`."""
        safe_prev = jnp.where(t == 0, jnp.zeros_like(x_prev), x_prev)  # keeps token ids in range
        return jnp.where(t == 0, self.start, self.encode(safe_prev))
