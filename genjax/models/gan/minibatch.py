"""Discriminator features that look across the batch, so a critic can notice a lack of variety.

A discriminator that scores each example on its own cannot see that a generator emits one good
image over and over (mode collapse). Both layers here append statistics of the other examples:

* `MinibatchStdDev` (Karras, Aila, Laine & Lehtinen 2018, "Progressive Growing of GANs", sec. 3):
  split the batch into groups of G, take the standard deviation over each group of every
  feature (and pixel), average those into one number per group and append it to every member
  as one extra feature (a constant channel for images). Parameter-free.
* `MinibatchDiscrimination` (Salimans et al. 2016, "Improved Techniques for Training GANs",
  sec. 3.2): project f(x_i) in R^A through a learned tensor T in R^{A x K x D} to rows
  M_i in R^{K x D}; kernel b compares examples by c_b(i, j) = exp(-||M_{i,b} - M_{j,b}||_1)
  and o_b(x_i) = sum_{j != i} c_b(i, j) is appended to the features.

Either makes the critic value of example i depend on the rest of its batch (group), which
per-example objectives such as the WGAN-GP gradient penalty should keep in mind.
"""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array


def group_size_for(batch: int, group_size: int) -> int:
    """G = min(group_size, batch) when it divides the batch, else the whole batch (one group)."""
    size = min(group_size, batch)
    return size if batch % size == 0 else batch


class MinibatchStdDev(nn.Module):
    """`[B, ..., C] -> [B, ..., C + 1]`: appends each example's group standard deviation statistic.

    Groups are contiguous: examples k G .. k G + G - 1 form group k, with G from
    `group_size_for`. For group k, s_k = mean over features (and spatial positions) of
    sqrt(Var_group[x] + epsilon), the variance being the biased one (mean of squared deviations
    over the G members). s_k is broadcast over spatial positions and appended as the last
    channel of every member. Identical members give s_k = sqrt(epsilon) (1e-4 by default): the
    epsilon keeps the square root's gradient finite, as in the paper's implementation.
    """

    group_size: int = 4
    epsilon: float = 1e-8

    def __call__(self, x: Array) -> Array:
        batch = x.shape[0]
        size = group_size_for(batch, self.group_size)
        groups = x.reshape(batch // size, size, *x.shape[1:])  # [B/G, G, ..., C]
        deviation = groups - groups.mean(axis=1, keepdims=True)
        std = jnp.sqrt(jnp.mean(jnp.square(deviation), axis=1) + self.epsilon)  # [B/G, ..., C]
        stat = std.reshape(std.shape[0], -1).mean(axis=1)  # [B/G]
        stat = jnp.repeat(stat, size)  # [B]: group k's value for each of its members
        extra = jnp.broadcast_to(stat.reshape(batch, *([1] * (x.ndim - 1))), (*x.shape[:-1], 1))
        return jnp.concatenate([x, extra.astype(x.dtype)], axis=-1)


class MinibatchDiscrimination(nn.Module):
    """`[B, A] -> [B, A + num_kernels]`: appends o_b(x_i) = sum_{j != i} exp(-||M_{i,b} - M_{j,b}||_1).

    Inputs with more axes are flattened to `[B, A]` first. M = x T with T `[A, num_kernels *
    kernel_dim]` (the paper's A x B x C tensor, flattened, no bias); the L1 distance runs over
    the ``kernel_dim`` entries of kernel b. Self is EXCLUDED: the paper's sum over all j
    includes c_b(i, i) = exp(0) = 1, a constant that carries no information, so it is dropped
    and a batch of one gets zeros.
    """

    num_kernels: int = 16
    kernel_dim: int = 8
    kernel_init: Callable[..., Array] = nn.initializers.normal(stddev=0.02)

    @nn.compact
    def __call__(self, x: Array) -> Array:
        h = x.reshape(x.shape[0], -1)
        shape = (h.shape[-1], self.num_kernels * self.kernel_dim)
        tensor = self.param("T", self.kernel_init, shape, jnp.float32)
        rows = (h @ tensor.astype(h.dtype)).reshape(h.shape[0], self.num_kernels, self.kernel_dim)
        distance = jnp.abs(rows[:, None] - rows[None, :]).sum(axis=-1)  # [B, B, K]: L1 over kernel_dim
        # The diagonal is exactly exp(-0) = 1; subtracting it removes j = i from the sum.
        closeness = jnp.exp(-distance).sum(axis=1) - 1.0  # [B, K]
        return jnp.concatenate([h, closeness.astype(h.dtype)], axis=-1)
