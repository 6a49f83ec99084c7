"""Small decoder-only Transformer (pre-LayerNorm) with a key/value cache for incremental decoding.

The sequence is shifted right behind a learned start token and given learned
positional embeddings; causal self-attention then lets output t see only
x[:, :t]. Attention is written out with einsums so that the full pass and the
cached single-position pass (`step`) provably use the same projections:

    full:   softmax(q k^T / sqrt(d_h) masked to keys <= query) v
    cached: keys/values of steps 0..t written into a [B, L, heads, d_h] buffer
            at row t (dynamic_update_slice); the query at t attends to rows <= t.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from genjax.models.autoregressive.shifted_input import ShiftedInput

Array = jax.Array
LayerCache = dict[str, Array]  # {"key", "value"}: [B, L, heads, head_dim]


def _masked_softmax(logits: Array, mask: Array) -> Array:
    """Softmax over the last axis where ``mask`` is True; every row must allow at least one entry."""
    return jax.nn.softmax(jnp.where(mask, logits, jnp.finfo(logits.dtype).min), axis=-1)


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention on `[B, T, features]` with a one-position cached variant."""

    features: int
    num_heads: int

    def setup(self):
        if self.features % self.num_heads:
            raise ValueError(f"features={self.features} is not divisible by num_heads={self.num_heads}")
        self.head_dim = self.features // self.num_heads
        self.qkv = nn.Dense(3 * self.features)
        self.out = nn.Dense(self.features)

    def _split_heads(self, h: Array) -> tuple[Array, Array, Array]:
        """`h [..., F]` -> query, key, value, each `[..., heads, head_dim]` (pre-scaled query)."""
        q, k, v = jnp.split(self.qkv(h), 3, axis=-1)
        shape = (*h.shape[:-1], self.num_heads, self.head_dim)
        return q.reshape(shape) / float(np.sqrt(self.head_dim)), k.reshape(shape), v.reshape(shape)

    def __call__(self, h: Array) -> Array:
        """`h [B, T, F]` -> `[B, T, F]`; position t attends to positions <= t."""
        q, k, v = self._split_heads(h)  # [B, T, H, Dh]
        length = h.shape[1]
        logits = jnp.einsum("bqhd,bkhd->bhqk", q, k)
        weights = _masked_softmax(logits, jnp.tril(jnp.ones((length, length), bool)))
        mixed = jnp.einsum("bhqk,bkhd->bqhd", weights, v)
        return self.out(mixed.reshape(h.shape))

    def decode(self, h_t: Array, cache: LayerCache, t: Array) -> tuple[Array, LayerCache]:
        """`h_t [B, F]` at position t -> (`[B, F]`, cache with row t filled)."""
        q, k, v = self._split_heads(h_t)  # [B, H, Dh]
        keys = jax.lax.dynamic_update_slice_in_dim(cache["key"], k[:, None], t, axis=1)
        values = jax.lax.dynamic_update_slice_in_dim(cache["value"], v[:, None], t, axis=1)
        logits = jnp.einsum("bhd,bkhd->bhk", q, keys)
        # Rows after t are still zero (or stale): mask them out.
        weights = _masked_softmax(logits, jnp.arange(keys.shape[1]) <= t)
        mixed = jnp.einsum("bhk,bkhd->bhd", weights, values)
        return self.out(mixed.reshape(h_t.shape)), {"key": keys, "value": values}


class DecoderBlock(nn.Module):
    """Pre-LayerNorm block: h + attn(LN(h)), then h + MLP(LN(h))."""

    features: int
    num_heads: int
    mlp_ratio: float = 4.0

    def setup(self):
        self.attention_norm = nn.LayerNorm()
        self.attention = CausalSelfAttention(self.features, self.num_heads)
        self.mlp_norm = nn.LayerNorm()
        self.mlp_hidden = nn.Dense(int(self.mlp_ratio * self.features))
        self.mlp_out = nn.Dense(self.features)

    def _mlp(self, h: Array) -> Array:
        return h + self.mlp_out(nn.gelu(self.mlp_hidden(self.mlp_norm(h))))

    def __call__(self, h: Array) -> Array:
        """`h [B, T, F]` -> `[B, T, F]`."""
        return self._mlp(h + self.attention(self.attention_norm(h)))

    def decode(self, h_t: Array, cache: LayerCache, t: Array) -> tuple[Array, LayerCache]:
        """`h_t [B, F]` at position t -> (`[B, F]`, updated cache)."""
        attended, cache = self.attention.decode(self.attention_norm(h_t), cache, t)
        return self._mlp(h_t + attended), cache


class Transformer(nn.Module):
    """`x [B, T] -> params [B, T, num_params]`; output t reads only ``x[:, :t]``.

    Attributes:
      num_params: distribution parameters per position (P).
      vocab_size: None for real-valued inputs (Dense of the scalar), else the
        number of token ids (nn.Embed).
      max_length: longest supported sequence (size of the positional table).
      num_layers: decoder blocks.
      num_heads: attention heads; must divide ``features``.
      features: model width.
      mlp_ratio: MLP hidden width as a multiple of ``features``.
    """

    num_params: int
    vocab_size: int | None = None
    max_length: int = 1024
    num_layers: int = 2
    num_heads: int = 4
    features: int = 64
    mlp_ratio: float = 4.0

    def setup(self):
        self.inputs = ShiftedInput(self.features, self.vocab_size)
        self.positions = self.param(
            "positions", nn.initializers.normal(0.02), (self.max_length, self.features)
        )
        self.blocks = [
            DecoderBlock(self.features, self.num_heads, self.mlp_ratio) for _ in range(self.num_layers)
        ]
        self.final_norm = nn.LayerNorm()
        self.head = nn.Dense(self.num_params)

    def _check_length(self, length: int) -> None:
        if length > self.max_length:
            raise ValueError(
                f"sequence length {length} exceeds the Transformer's max_length={self.max_length}"
            )

    def __call__(self, x: Array) -> Array:
        """`x [B, T]` -> `[B, T, num_params]`; ValueError if T > ``max_length``."""
        batch, length = x.shape
        self._check_length(length)
        h = self.inputs(x)  # [B, T, F], slot t = x[t-1]
        h = h + self.positions[:length]
        for block in self.blocks:
            h = block(h)
        return self.head(self.final_norm(h))

    def initial_state(self, batch_size: int, num_steps: int) -> tuple[LayerCache, ...]:
        """Empty key/value caches, one `[B, num_steps, heads, head_dim]` pair per layer.

        Steps t >= ``num_steps`` are not supported (the cache has no row for them).
        """
        self._check_length(num_steps)
        shape = (batch_size, num_steps, self.num_heads, self.features // self.num_heads)
        return tuple(
            {"key": jnp.zeros(shape, jnp.float32), "value": jnp.zeros(shape, jnp.float32)}
            for _ in range(self.num_layers)
        )

    def step(
        self, state: tuple[LayerCache, ...], x_prev: Array, t: Array
    ) -> tuple[tuple[LayerCache, ...], Array]:
        """Position t only: `x_prev [B]` (ignored at t == 0) -> `[B, num_params]`."""
        t = jnp.asarray(t, jnp.int32)
        h = self.inputs.at(x_prev, t)  # [B, F]
        h = h + jax.lax.dynamic_index_in_dim(self.positions, t, axis=0, keepdims=False)
        new_state = []
        for block, cache in zip(self.blocks, state, strict=True):
            h, cache = block.decode(h, cache, t)
            new_state.append(cache)
        return tuple(new_state), self.head(self.final_norm(h))
