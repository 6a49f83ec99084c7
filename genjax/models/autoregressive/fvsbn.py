"""Fully visible sigmoid belief network (Frey 1998): one logistic regression per conditional.

    p(x_d = 1 | x_<d) = sigmoid(b_d + sum_{i<d} W_di x_i)

on flattened binary vectors in the natural order; D(D+1)/2 effective parameters.
Conditioned on y (features ``context`` `[B, C]`), each bias becomes
``b_d + V_d . context``: a dense map of y, which no x_d feeds, so the
conditionals stay autoregressive.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import numpy as np

Array = jax.Array


class FVSBN(nn.Module):
    """`x [B, D]` (and ``context`` `[B, C]`) `-> logits [B, D]`; logit d reads only ``x[:, :d]``."""

    @nn.compact
    def __call__(self, x: Array, context: Array | None = None) -> Array:
        num_dims = x.shape[-1]
        kernel = self.param("kernel", nn.initializers.zeros, (num_dims, num_dims))
        bias = self.param("bias", nn.initializers.zeros, (num_dims,))
        # Row d of the strictly lower-triangular mask sees inputs i < d only.
        mask = np.tril(np.ones((num_dims, num_dims), np.float32), k=-1)
        logits = x @ (kernel * mask.astype(kernel.dtype)).T + bias
        if context is not None:
            zeros = nn.initializers.zeros
            logits = logits + nn.Dense(num_dims, use_bias=False, kernel_init=zeros, name="context")(context)
        return logits
