"""NADE (Larochelle & Murray 2011): one hidden layer shared by every conditional.

    a_d = c + W[:, :d] x_<d        (a running sum: a_{d+1} = a_d + W[:, d] x_d)
    p(x_d = 1 | x_<d) = sigmoid(b_d + V_d . sigmoid(a_d))

The running sum makes all D conditionals cost O(D H) per example instead of
the O(D^2 H) of D separate networks.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array


class NADE(nn.Module):
    """`x [B, D] -> logits [B, D]` with ``hidden_size`` H shared hidden units; D = ``num_dims``."""

    num_dims: int
    hidden_size: int = 500

    def setup(self):
        self.kernel = self.param("kernel", nn.initializers.normal(0.01), (self.hidden_size, self.num_dims))
        self.hidden_bias = self.param("hidden_bias", nn.initializers.zeros, (self.hidden_size,))
        self.output_kernel = self.param(
            "output_kernel", nn.initializers.normal(0.01), (self.num_dims, self.hidden_size)
        )
        self.output_bias = self.param("output_bias", nn.initializers.zeros, (self.num_dims,))

    def __call__(self, x: Array) -> Array:
        # contributions[b, d] = x_d W[:, d]; an exclusive cumulative sum gives a_d for every d.
        contributions = x[:, :, None] * self.kernel.T[None]  # [B, D, H]
        running = jnp.cumsum(contributions, axis=1) - contributions
        hidden = jax.nn.sigmoid(self.hidden_bias + running)  # [B, D, H]
        return jnp.einsum("bdh,dh->bd", hidden, self.output_kernel) + self.output_bias

    def sample(self, rng: Array, num_samples: int) -> Array:
        """`[N, D]` samples in one ``lax.scan`` that carries the running activation (O(D H))."""

        def step(activation, inputs):
            d, key = inputs
            logit = self.output_bias[d] + jax.nn.sigmoid(activation) @ self.output_kernel[d]
            bit = jax.random.bernoulli(key, jax.nn.sigmoid(logit)).astype(jnp.float32)
            return activation + bit[:, None] * self.kernel[:, d], bit

        start = jnp.broadcast_to(self.hidden_bias, (num_samples, self.hidden_size))
        keys = jax.random.split(rng, self.num_dims)
        _, bits = jax.lax.scan(step, start, (jnp.arange(self.num_dims), keys))
        return bits.T
