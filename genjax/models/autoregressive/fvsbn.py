"""Fully visible sigmoid belief network (Frey 1998): one logistic regression per conditional.

    p(x_d = 1 | x_<d) = sigmoid(b_d + sum_{i<d} W_di x_i)

on flattened binary vectors in the natural order; D(D+1)/2 effective parameters.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import numpy as np

Array = jax.Array


class FVSBN(nn.Module):
    """`x [B, D] -> logits [B, D]`; logit d reads only ``x[:, :d]``."""

    @nn.compact
    def __call__(self, x: Array) -> Array:
        num_dims = x.shape[-1]
        kernel = self.param("kernel", nn.initializers.zeros, (num_dims, num_dims))
        bias = self.param("bias", nn.initializers.zeros, (num_dims,))
        # Row d of the strictly lower-triangular mask sees inputs i < d only.
        mask = np.tril(np.ones((num_dims, num_dims), np.float32), k=-1)
        return x @ (kernel * mask.astype(kernel.dtype)).T + bias
