"""WaveNet (van den Oord et al. 2016): stacked causal dilated convolutions with gated units.

The input is shifted right by one position (a learned start vector in slot 0),
so a causal convolution that sees positions <= t of the shifted sequence sees
x[:, :t] of the data. Every convolution has kernel size 2:

    conv_d(h)[t] = A h[t - d] + B h[t] + b        (h[s] = 0 for s < 0)

Residual block with dilation d:

    z = tanh(filter) * sigmoid(gate),  [filter, gate] = conv_d(h)
    h <- h + W_res z,                  skip += W_skip z

and the head is ReLU -> 1x1 -> ReLU -> 1x1 on the summed skips.

Incremental decoding follows "fast WaveNet" (Paine et al. 2016): every
convolution keeps a rolling buffer of its last d inputs, so one step computes
a single column of every layer (O(1) work in the sequence length).
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.models.autoregressive.shifted_input import ShiftedInput

Array = jax.Array


def _delay(h: Array, shift: int) -> Array:
    """`h [B, T, C]` delayed by ``shift`` steps with zeros in front: out[:, t] = h[:, t - shift]."""
    length = h.shape[1]
    return jnp.pad(h, ((0, 0), (shift, 0), (0, 0)))[:, :length]


class WaveNet(nn.Module):
    """`x [B, T] -> params [B, T, num_params]`; output t reads only ``x[:, :t]``.

    Attributes:
      num_params: distribution parameters per position (P).
      vocab_size: None for real-valued inputs (Dense of the scalar), else the
        number of token ids (nn.Embed).
      features: residual channels.
      skip_features: channels of the skip path and of the output head.
      dilations: dilations of one stack of residual blocks.
      num_stacks: how many times the dilation stack is repeated.
    """

    num_params: int
    vocab_size: int | None = None
    features: int = 32
    skip_features: int = 32
    dilations: Sequence[int] = (1, 2, 4, 8)
    num_stacks: int = 1

    @property
    def layer_dilations(self) -> tuple[int, ...]:
        return tuple(self.dilations) * self.num_stacks

    @property
    def receptive_field(self) -> int:
        """Number of data positions output t can see (x[t - R .. t - 1])."""
        # Over the shifted sequence: 1 + (2 - 1) for the input conv + sum of (2 - 1) * d for the blocks.
        return 2 + sum(self.layer_dilations)

    def setup(self):
        self.inputs = ShiftedInput(self.features, self.vocab_size)
        # A kernel-2 convolution is a Dense layer on [h[t - d], h[t]] concatenated on channels.
        self.input_conv = nn.Dense(self.features)
        self.gated_convs = [nn.Dense(2 * self.features) for _ in self.layer_dilations]
        self.residual_projections = [nn.Dense(self.features) for _ in self.layer_dilations]
        self.skip_projections = [nn.Dense(self.skip_features) for _ in self.layer_dilations]
        self.head_hidden = nn.Dense(self.skip_features)
        self.head_out = nn.Dense(self.num_params)

    def _gated_unit(self, index: int, past: Array, current: Array) -> tuple[Array, Array]:
        """One residual block on aligned columns: `past, current [..., F]` -> (new h, skip)."""
        filter_, gate = jnp.split(self.gated_convs[index](jnp.concatenate([past, current], -1)), 2, -1)
        z = jnp.tanh(filter_) * jax.nn.sigmoid(gate)
        return current + self.residual_projections[index](z), self.skip_projections[index](z)

    def _head(self, skips: Array) -> Array:
        return self.head_out(nn.relu(self.head_hidden(nn.relu(skips))))

    def __call__(self, x: Array) -> Array:
        """`x [B, T]` -> `[B, T, num_params]`."""
        shifted = self.inputs(x)  # [B, T, F], slot t = x[t-1]
        h = self.input_conv(jnp.concatenate([_delay(shifted, 1), shifted], -1))
        skips = 0.0
        for index, dilation in enumerate(self.layer_dilations):
            h, skip = self._gated_unit(index, _delay(h, dilation), h)
            skips = skips + skip
        return self._head(skips)

    def initial_state(self, batch_size: int, num_steps: int) -> tuple[Array, ...]:
        """Zeroed rolling buffers, one `[B, d, F]` per convolution (the input conv has d = 1).

        ``num_steps`` is unused: the state does not grow with the sequence.
        """
        del num_steps
        return tuple(
            jnp.zeros((batch_size, dilation, self.features), jnp.float32)
            for dilation in (1, *self.layer_dilations)
        )

    def step(self, state: tuple[Array, ...], x_prev: Array, t: Array) -> tuple[tuple[Array, ...], Array]:
        """One column of every layer: `x_prev [B]` (ignored at t == 0) -> `[B, num_params]`.

        Buffer slot ``t mod d`` holds the layer input from step t - d (zeros
        before the sequence starts); it is read, then overwritten by step t's input.
        """
        t = jnp.asarray(t, jnp.int32)
        current = self.inputs.at(x_prev, t)  # [B, F]

        def read_and_write(buffer: Array, column: Array) -> tuple[Array, Array]:
            slot = t % buffer.shape[1]
            past = jax.lax.dynamic_index_in_dim(buffer, slot, axis=1, keepdims=False)
            return past, jax.lax.dynamic_update_index_in_dim(buffer, column, slot, axis=1)

        past, input_buffer = read_and_write(state[0], current)
        h = self.input_conv(jnp.concatenate([past, current], -1))
        new_state = [input_buffer]
        skips = 0.0
        for index, buffer in enumerate(state[1:]):
            past, buffer = read_and_write(buffer, h)
            new_state.append(buffer)
            h, skip = self._gated_unit(index, past, h)
            skips = skips + skip
        return tuple(new_state), self._head(skips)
