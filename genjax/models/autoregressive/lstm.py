"""LSTM autoregressive network: a stack of LSTM cells read over the right-shifted sequence.

The input at time t is x[t - 1] (a learned start vector at t = 0), so the top
hidden state at t summarises exactly x[:, :t], and a Dense head turns it into
the parameters of p(x_t | x_<t).

The full pass runs layer by layer over the whole sequence (one ``nn.scan`` per
layer); `step` runs every layer for one time step. Both call the same cells, so
they share weights, but the order of work differs, which makes their agreement
a real check of the state handling.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from genjax.models.autoregressive.shifted_input import ShiftedInput

Array = jax.Array
Carry = tuple[Array, Array]  # (c, h) of one cell, each [B, features]


def _cell_step(cell: nn.Module, carry: Carry, inputs: Array) -> tuple[Carry, Array]:
    return cell(carry, inputs)


# Lifted scan over the time axis of `[B, T, F]` inputs; the cell's params are shared by all steps.
_scan_over_time = nn.scan(
    _cell_step, variable_broadcast="params", split_rngs={"params": False}, in_axes=1, out_axes=1
)


class LSTM(nn.Module):
    """`x [B, T] -> params [B, T, num_params]`; output t reads only ``x[:, :t]``.

    Attributes:
      num_params: distribution parameters per position (P).
      vocab_size: None for real-valued inputs (Dense of the scalar), else the
        number of token ids (nn.Embed).
      features: input embedding and hidden size of every layer.
      num_layers: stacked LSTM cells.
    """

    num_params: int
    vocab_size: int | None = None
    features: int = 64
    num_layers: int = 1

    def setup(self):
        self.inputs = ShiftedInput(self.features, self.vocab_size)
        self.cells = [nn.OptimizedLSTMCell(self.features) for _ in range(self.num_layers)]
        self.head = nn.Dense(self.num_params)

    def _zero_carry(self, batch_size: int, dtype=jnp.float32) -> Carry:
        zeros = jnp.zeros((batch_size, self.features), dtype)
        return zeros, zeros

    def __call__(self, x: Array) -> Array:
        """`x [B, T]` -> `[B, T, num_params]`."""
        batch = x.shape[0]
        h = self.inputs(x)  # [B, T, F], slot t = x[t-1]
        for cell in self.cells:
            _, h = _scan_over_time(cell, self._zero_carry(batch, h.dtype), h)
        return self.head(h)

    def initial_state(self, batch_size: int, num_steps: int) -> tuple[Carry, ...]:
        """Zero (c, h) for every layer, each `[B, features]`; ``num_steps`` is unused."""
        del num_steps
        return tuple(self._zero_carry(batch_size) for _ in range(self.num_layers))

    def step(self, state: tuple[Carry, ...], x_prev: Array, t: Array) -> tuple[tuple[Carry, ...], Array]:
        """Advance every layer by one step: `x_prev [B]` (ignored at t == 0) -> `[B, num_params]`."""
        t = jnp.asarray(t, jnp.int32)
        h = self.inputs.at(x_prev, t)  # [B, F]
        new_state = []
        for cell, carry in zip(self.cells, state, strict=True):
            carry, h = cell(carry, h)
            new_state.append(carry)
        return tuple(new_state), self.head(h)
